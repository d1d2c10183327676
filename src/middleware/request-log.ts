import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import type { Logger } from '../lib/logger.js';
import type { LineWriter } from '../lib/replay.js';
import type { AppContext, AppMiddleware, AppState, RequestObserver } from '../plugin.js';

/**
 * ctx.state of every request. Its logger is made on first use: building a pino child serialises
 * its bindings, and most requests log nothing but the closing line, which the base logger writes
 * with the same fields. The accessor lives on the prototype, so templates, which get ctx.state
 * spread into their variables, do not see it, and every request's state has the same shape.
 */
class RequestState {
  readonly #base: Logger;
  readonly #closing: Logger;
  readonly #bindings: Record<string, unknown>;
  #child: Logger | undefined;
  /** Nothing bound but the request id and the user, which the closing line carries itself. */
  #plain = true;

  constructor(
    base: Logger,
    closing: Logger,
    readonly requestId: string,
  ) {
    this.#base = base;
    this.#closing = closing;
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

  /** The closing line: through the child when one exists, else the closing logger with the same fields. */
  info(line: { user?: unknown } & Record<string, unknown>, msg: string): void {
    if (!this.#child && this.#plain) {
      line.req = this.requestId;
      this.#closing.info(line, msg);
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

/**
 * The logger of the closing lines: the same destination, level and base fields, without the
 * redaction pass. Redaction looks for passwords, tokens and cookies in what is logged and was
 * half the cost of logging a request; the closing line is made here of known fields, none of
 * them secret once sign-up links are masked (below). Every other line keeps the redaction.
 */
function closingLogger(log: Logger): Logger {
  const stream = (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as pino.DestinationStream | undefined;
  if (!stream) return log;
  return pino({ level: log.level, base: log.bindings() }, stream);
}

/** A sign-up link is a password until used: its token does not go into the log. */
function loggedUrl(url: string): string {
  return url.startsWith('/signup/') ? url.replace(/^\/signup\/[^/?#]*/, '/signup/[redacted]') : url;
}

/**
 * The route a request matched, as registered ("/courses/:course/submissions/:id"): a bounded set
 * of labels whatever URLs clients send. The router sets _matchedRoute; static files and the
 * health check are answered before it.
 */
export function routeLabel(ctx: AppContext): string {
  const matched = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute;
  if (matched !== undefined) return String(matched);
  const p = ctx.path;
  if (p.startsWith('/static/')) return '/static/*';
  if (p === '/healthz') return p;
  return '(unmatched)';
}

/**
 * Gives every request an id (sent back as X-Request-Id) and logs one line when it ends.
 * `line` writes the same line, and tells the same observers, for a request answered before Koa.
 */
export function requestLogging(log: Logger, observers: RequestObserver[] = []): { middleware: AppMiddleware; line: LineWriter } {
  const closing = closingLogger(log);
  const middleware: AppMiddleware = async (ctx, next) => {
    const started = process.hrtime.bigint();
    const requestId = randomUUID();
    const state = new RequestState(log, closing, requestId);
    ctx.state = state as unknown as AppState;
    ctx.set('X-Request-Id', requestId);
    // A response emits 'close' once, after 'finish' or when the client went away first.
    ctx.res.once('close', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (observers.length) {
        const route = routeLabel(ctx);
        for (const observe of observers) observe(ctx.method, route, ctx.status, ms / 1000);
      }
      state.info(
        { req: undefined, method: ctx.method, url: loggedUrl(ctx.originalUrl), status: ctx.status, ms: Math.round(ms * 10) / 10, peer: ctx.req.socket.remoteAddress, user: ctx.state.user?.id },
        'request',
      );
    });
    await next();
  };
  const line: LineWriter = (req, status, route, startedNs, requestId, user) => {
    const ms = Number(process.hrtime.bigint() - startedNs) / 1e6;
    const method = req.method ?? 'GET';
    for (const observe of observers) observe(method, route, status, ms / 1000);
    closing.info({ req: requestId, method, url: loggedUrl(req.url ?? '/'), status, ms: Math.round(ms * 10) / 10, peer: req.socket.remoteAddress, user }, 'request');
  };
  return { middleware, line };
}

/** Gives every request an id (sent back as X-Request-Id) and logs one line when it ends. */
export function requestLog(log: Logger, observers: RequestObserver[] = []): AppMiddleware {
  return requestLogging(log, observers).middleware;
}
