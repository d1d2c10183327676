import { randomUUID } from 'node:crypto';
import type { Logger } from '../lib/logger.js';
import type { AppContext, AppMiddleware, AppState } from '../plugin.js';

/**
 * ctx.state of every request. Its logger is made on first use: building a pino child serialises
 * its bindings, and most requests log nothing but the closing line, which the base logger writes
 * with the same fields. The accessor lives on the prototype, so templates, which get ctx.state
 * spread into their variables, do not see it, and every request's state has the same shape.
 */
class RequestState {
  readonly #base: Logger;
  readonly #bindings: Record<string, unknown>;
  #child: Logger | undefined;
  /** Nothing bound but the request id and the user, which the closing line carries itself. */
  #plain = true;

  constructor(
    base: Logger,
    readonly requestId: string,
  ) {
    this.#base = base;
    this.#bindings = { req: requestId };
  }

  get log(): Logger {
    return (this.#child ??= this.#base.child(this.#bindings));
  }

  set log(value: Logger) {
    this.#child = value;
  }

  bind(fields: Record<string, unknown>): void {
    Object.assign(this.#bindings, fields);
    if (Object.keys(fields).some((k) => k !== 'user')) this.#plain = false;
    if (this.#child) this.#child = this.#child.child(fields);
  }

  /** The closing line: through the child when one exists, else the base logger with the same fields. */
  info(line: { user?: unknown } & Record<string, unknown>, msg: string): void {
    if (!this.#child && this.#plain) {
      line.req = this.requestId;
      this.#base.info(line, msg);
    } else {
      this.log.info(line, msg);
    }
  }
}

/** Adds fields (the session adds the user) to every later log line of this request. */
export function bindLog(ctx: AppContext, fields: Record<string, unknown>): void {
  const state: unknown = ctx.state;
  if (state instanceof RequestState) state.bind(fields);
  else ctx.state.log = ctx.state.log.child(fields);
}

/** Gives every request an id (sent back as X-Request-Id) and logs one line when it ends. */
export function requestLog(log: Logger): AppMiddleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const requestId = randomUUID();
    const state = new RequestState(log, requestId);
    ctx.state = state as unknown as AppState;
    ctx.set('X-Request-Id', requestId);
    const done = () => {
      ctx.res.off('finish', done);
      ctx.res.off('close', done);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      state.info({ req: undefined, method: ctx.method, url: ctx.originalUrl, status: ctx.status, ms: Math.round(ms * 10) / 10, peer: ctx.req.socket.remoteAddress, user: ctx.state.user?.id }, 'request');
    };
    ctx.res.once('finish', done);
    ctx.res.once('close', done);
    await next();
  };
}
