import { PassThrough } from 'node:stream';
import type { RouteContext } from '../../core/routes.js';
import type { Deps } from '../../plugin.js';
import { POLL_MS } from '../autotest/background.js';
import type { JobEvent } from '../autotest/pool.js';
import { visibleOf } from './policy.js';
import { statusFor } from './status.js';

/**
 * GET /courses/:course/submissions/:id/events: server-sent events, the state now, then every
 * change (the grading service's job events, and a poll for work done by other processes), until
 * the result is there.
 */
export function statusEvents(deps: Deps) {
  return async (ctx: RouteContext) => {
    const v = visibleOf(ctx);
    const grading = deps.services.grading;
    const stream = new PassThrough();
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.set('Content-Type', 'text/event-stream; charset=utf-8');
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Accel-Buffering', 'no');
    ctx.status = 200;
    ctx.body = stream;

    let last = '';
    let ended = false;
    grading.liveStreams.open++;
    const end = () => {
      if (ended) return;
      ended = true;
      grading.liveStreams.open--;
      clearInterval(poll);
      grading.events.off('job', onJob);
      unsubscribe();
      stream.end();
    };
    const push = () => {
      if (ended) return;
      let status;
      try {
        status = statusFor(deps, v);
      } catch (err) {
        // The database closed under us during shutdown; the browser reconnects.
        ctx.state.log.debug({ err }, 'status read failed in an event stream');
        end();
        return;
      }
      const html = deps.views.render('autotest/status.njk', { status, staff: v.staff, submission: v.submission });
      const payload = JSON.stringify({ state: status.state, position: status.position, html });
      if (payload !== last) {
        last = payload;
        stream.write(`event: status\ndata: ${payload}\n\n`);
      }
      if (status.state === 'done' || status.state === 'error' || status.state === 'cancelled') {
        stream.write('event: end\ndata: {}\n\n');
        end();
      }
    };
    const onJob = (e: JobEvent) => {
      if (e.submissionId === v.submission.id) push();
    };
    // During a restart the browser reconnects to the new process after a second.
    stream.write('retry: 1000\n\n');
    grading.events.on('job', onJob);
    const poll = setInterval(push, POLL_MS);
    const unsubscribe = deps.lifecycle.onClosing(end);
    ctx.req.on('close', end);
    push();
  };
}
