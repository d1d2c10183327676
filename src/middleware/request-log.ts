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
  readonly #closing: (f: ClosingFields) => void;
  readonly #bindings: Record<string, unknown>;
  #child: Logger | undefined;
  /** Nothing bound but the request id and the user, which the closing line carries itself. */
  #plain = true;

  constructor(
    base: Logger,
    closing: (f: ClosingFields) => void,
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

  /** The closing line: through the child when fields beyond the user were bound, else the closing writer with the same fields. */
  closingLine(line: ClosingFields): void {
    if (!this.#child && this.#plain) {
      this.#closing(line);
    } else {
      const { req: _req, ...rest } = line;
      this.log.info(rest, 'request');
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
 * Writes the closing lines: pino's line format (level, time, the base fields, then ours, msg), to
 * the logger's own destination, made here without pino's serialiser. Pino's redaction looks for
 * passwords, tokens and cookies in what is logged and was half the cost of logging a request, and
 * its generic serialiser (a loop over keys, a type test per value) most of the rest; the closing
 * line is made of known fields, none of them secret once sign-up links are masked (below), so it
 * is written as one template string. Every other line keeps pino and its redaction. A
 * destination that wants pino's per-line metadata (a multistream) gets the line through pino.
 */
export interface ClosingFields {
  req: string;
  method: string;
  url: string;
  status: number;
  ms: number;
  peer: string | undefined;
  user: number | undefined;
}

function closingWriter(log: Logger): (f: ClosingFields) => void {
  const stream = (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as (pino.DestinationStream & Record<symbol, unknown>) | undefined;
  if (!stream || stream[pino.symbols.needsMetadataGsym]) {
    const closing = stream ? pino({ level: log.level, base: log.bindings() }, stream) : log;
    return (f) => closing.info({ ...f }, 'request');
  }
  // The base fields (pid, and hostname where pino adds it), serialised once.
  const base = JSON.stringify(log.bindings()).slice(1, -1);
  const info = 30;
  const head = `{"level":${info}`;
  const tail = base ? `,${base}` : '';
  return (f) => {
    // The level is read on each line: it may be changed while the server runs.
    if ((log.levelVal ?? 0) > info) return;
    const user = f.user === undefined ? '' : `,"user":${f.user}`;
    const peer = f.peer === undefined ? '' : `,"peer":${JSON.stringify(f.peer)}`;
    stream.write(
      `${head},"time":${Date.now()}${tail},"req":"${f.req}","method":${JSON.stringify(f.method)},"url":${JSON.stringify(f.url)},"status":${f.status},"ms":${f.ms}${peer}${user},"msg":"request"}\n`,
    );
  };
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
  const closing = closingWriter(log);
  const middleware: AppMiddleware = async (ctx, next) => {
    const started = process.hrtime.bigint();
    const requestId = randomUUID();
    const state = new RequestState(log, closing, requestId);
    ctx.state = state as unknown as AppState;
    ctx.set('X-Request-Id', requestId);
    // A response emits 'close' once, after 'finish' or when the client went away first.
    ctx.res.on('close', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (observers.length) {
        const route = routeLabel(ctx);
        for (const observe of observers) observe(ctx.method, route, ctx.status, ms / 1000);
      }
      state.closingLine({ req: requestId, method: ctx.method, url: loggedUrl(ctx.originalUrl), status: ctx.status, ms: Math.round(ms * 10) / 10, peer: ctx.req.socket.remoteAddress, user: ctx.state.user?.id });
    });
    await next();
  };
  const line: LineWriter = (req, status, route, startedNs, requestId, user) => {
    const ms = Number(process.hrtime.bigint() - startedNs) / 1e6;
    const method = req.method ?? 'GET';
    for (const observe of observers) observe(method, route, status, ms / 1000);
    closing({ req: requestId, method, url: loggedUrl(req.url ?? '/'), status, ms: Math.round(ms * 10) / 10, peer: req.socket.remoteAddress, user });
  };
  return { middleware, line };
}

/** Gives every request an id (sent back as X-Request-Id) and logs one line when it ends. */
export function requestLog(log: Logger, observers: RequestObserver[] = []): AppMiddleware {
  return requestLogging(log, observers).middleware;
}
