import { classifyClientError, type ClientErrorCounter } from '../lib/client-errors.js';
import { isUserFacing } from '../lib/errors.js';
import { unavailableFor } from '../lib/unavailable.js';
import { wantsJson } from '../core/http.js';
import type { AppContext, AppMiddleware } from '../plugin.js';

const TITLES: Record<number, string> = {
  400: 'Bad request',
  401: 'Please sign in',
  403: 'Not allowed',
  404: 'Page not found',
  405: 'Method not allowed',
  409: 'Conflict',
  413: 'Too large',
  415: 'Unsupported format',
  422: 'Please check the form',
  429: 'Too many requests',
  503: 'Unavailable',
};


/**
 * The one error path: user-caused errors (4xx) show their message; anything else is logged with
 * the request id and shown as a generic message, never a stack trace. HTML for browsers, JSON for
 * API clients.
 */
/**
 * Where an error page leads: back to the form that was sent (a rejected upload without
 * JavaScript must be one click from trying again), the course the address belongs to when the
 * reader is a member, and the start page. The form's address comes from the Referer, which the
 * site's Referrer-Policy (same-origin) sends only between its own pages; another host's is ignored.
 */
export function wayBack(ctx: AppContext): Array<{ href: string; label: string }> {
  const links: Array<{ href: string; label: string }> = [];
  const referer = ctx.get('Referer');
  if (referer) {
    try {
      const u = new URL(referer);
      const here = u.pathname + u.search;
      if ((u.protocol === 'http:' || u.protocol === 'https:') && u.host === ctx.host && (ctx.method !== 'GET' || here !== ctx.url)) {
        links.push({ href: here, label: ctx.method === 'GET' ? 'Back to the page you came from' : 'Back to the form, to try again' });
      }
    } catch {
      // An unparsable Referer is only a missing convenience.
    }
  }
  const course = /^\/courses\/([a-z0-9][a-z0-9-]{0,63})\//.exec(ctx.path)?.[1];
  if (course && ctx.state.roleIn?.(course) && !links.some((l) => l.href === `/courses/${course}/`)) links.push({ href: `/courses/${course}/`, label: 'The course page' });
  links.push({ href: '/', label: 'The start page' });
  return links;
}

export function errorHandler(clientErrors: ClientErrorCounter): AppMiddleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) ctx.throw(404, 'There is nothing at this address.');
      // The router answers a known path with the wrong method by setting Allow and the status alone.
      if ((ctx.status === 405 || ctx.status === 501) && (ctx.body === undefined || ctx.body === null)) {
        const allow = ctx.response.get('Allow');
        ctx.throw(ctx.status, ctx.status === 405 ? `This address does not take ${ctx.method} requests${allow ? `; use ${allow}` : ''}.` : `The method ${ctx.method.slice(0, 16)} is not supported.`);
      }
    } catch (err) {
      const e = err as { status?: number; message?: string; details?: unknown; headers?: Record<string, string> };
      if (typeof e.status === 'number' && e.status >= 300 && e.status < 400) {
        // requireUser() redirects by throwing; the redirect is already set on ctx.
        return;
      }
      const clientKind = isUserFacing(err) ? null : classifyClientError(err);
      if (clientKind) {
        // The client hung up or sent a broken body (bad chunked encoding): its doing, not ours.
        clientErrors.add(clientKind);
        ctx.state.log.debug({ code: (err as { code?: string }).code, kind: clientKind }, 'request cut off by the client');
        if (ctx.headerSent || !ctx.writable) return;
        ctx.status = clientKind === 'timeout' ? 408 : 400;
        ctx.type = 'text/plain';
        ctx.body = 'The request was cut off or malformed.';
        ctx.set('Connection', 'close');
        return;
      }
      let status = 500;
      let message = `Something went wrong on our side. If it keeps happening, quote request id ${ctx.state.requestId}.`;
      // A full disk, a lock held elsewhere, a restart: a 503 saying so, with when to try again.
      const unavailable = unavailableFor(err);
      if (unavailable) {
        ctx.state.log.warn({ err }, 'request could not be carried out now');
        if (ctx.headerSent || !ctx.writable) return;
        ctx.status = 503;
        ctx.set('Retry-After', String(unavailable.retryAfterSeconds));
        ctx.remove('Content-Disposition');
        if (wantsJson(ctx)) ctx.body = { error: unavailable.message, status: 503, retryAfter: unavailable.retryAfterSeconds, requestId: ctx.state.requestId };
        else {
          try {
            ctx.render('error.njk', { status: 503, title: TITLES[503], message: unavailable.message });
          } catch {
            ctx.type = 'text/plain';
            ctx.body = unavailable.message;
          }
          ctx.status = 503;
        }
        return;
      }
      if (isUserFacing(err)) {
        status = e.status!;
        message = e.message ?? TITLES[status] ?? 'Error';
      } else if (typeof e.status === 'number' && e.status >= 500 && e.status < 600) {
        status = e.status;
      }
      if (status >= 500) ctx.state.log.error({ err }, 'request failed');
      if (ctx.headerSent || !ctx.writable) return;
      ctx.status = status;
      if (isUserFacing(err) && e.headers) ctx.set(e.headers);
      ctx.remove('Content-Disposition');
      if (wantsJson(ctx)) {
        ctx.body = { error: message, status, ...(e.details !== undefined && status < 500 ? { details: e.details } : {}), requestId: ctx.state.requestId };
      } else {
        try {
          ctx.render('error.njk', { status, title: TITLES[status] ?? (status >= 500 ? 'Server error' : 'Error'), message, details: status < 500 ? e.details : undefined, wayBack: wayBack(ctx) });
        } catch (renderErr) {
          ctx.state.log.error({ err: renderErr }, 'error page failed to render');
          ctx.type = 'text/plain';
          ctx.body = message;
        }
        ctx.status = status;
      }
    }
  };
}

/**
 * A request body must keep moving: once handlers start reading it, a pause longer than `idleMs`
 * ends the connection (the socket's inactivity timer, disarmed when the body has arrived). There
 * is no limit on the total time, so a large upload on a slow link works.
 */
export function bodyIdleGuard(idleMs: number, clientErrors: ClientErrorCounter): AppMiddleware {
  return async (ctx, next) => {
    const req = ctx.req;
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (!hasBody || req.complete) return next();
    const socket = req.socket;
    const onTimeout = () => {
      clientErrors.add('timeout');
      ctx.state.log.debug({ idleMs }, 'request body stalled: connection closed');
    };
    const disarm = () => {
      socket.setTimeout(0);
      socket.off('timeout', onTimeout);
    };
    socket.setTimeout(idleMs);
    socket.once('timeout', onTimeout);
    req.once('end', disarm);
    req.once('close', disarm);
    return next();
  };
}
