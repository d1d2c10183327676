import { randomUUID } from 'node:crypto';
import type { Logger } from '../lib/logger.js';
import type { AppMiddleware } from '../plugin.js';

/** Gives every request an id (sent back as X-Request-Id) and logs one line when it ends. */
export function requestLog(log: Logger): AppMiddleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const requestId = randomUUID();
    ctx.state.requestId = requestId;
    ctx.state.log = log.child({ req: requestId });
    ctx.set('X-Request-Id', requestId);
    const done = () => {
      ctx.res.off('finish', done);
      ctx.res.off('close', done);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      ctx.state.log.info(
        { method: ctx.method, url: ctx.originalUrl, status: ctx.status, ms: Math.round(ms * 10) / 10, peer: ctx.req.socket.remoteAddress, user: ctx.state.user?.id },
        'request',
      );
    };
    ctx.res.once('finish', done);
    ctx.res.once('close', done);
    await next();
  };
}
