import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { ReadCache } from '../db/read-cache.js';
import type { AppContext } from './context.js';

/**
 * Answers a repeated GET with the very response the app gave to the same request, without going
 * through Koa, the session and CSRF middleware, the router and the handler.
 *
 * Only responses a handler marked replayable are kept (markReplayable): a static file, and a
 * course page the page render cache kept or answered (src/plugins/pages/render-cache.ts, which
 * explains why such a page is a function of its URL, its reader and the database alone). A kept
 * response is used again only
 * - for a GET with the same URL, Host and the whole Cookie header (so the same session, and no
 *   other reader: a personal page is never answered to another cookie), without Authorization;
 * - for a personal page, while the database is at the version the rendering request started at
 *   (any commit by any process, a sign-out, a removed enrolment, a renamed user, ends it) and
 *   the course folders are as they were (a changed page or course.yaml, read without a restart), and
 *   before the next moment the clock would change it: the page's own limit, the session's expiry,
 *   and the session's next sliding-expiry write (which the full path must make);
 * - when the response set no cookie, and the server is not draining (a drain answers
 *   Connection: close through the full path).
 * The reply carries the kept headers (security headers included), a new X-Request-Id, and the
 * request gets its log line and metrics as on the full path. A matching If-None-Match is answered
 * 304 here and on the full path (ETag of the body).
 *
 * Off in development, where pages and static files are re-read on change.
 */

interface Mark {
  /** Shared by every reader (static files): keyed by URL only, not tied to the database. */
  shared: boolean;
  /** Database version the response was made at (personal pages). */
  version?: string;
  /** The clock time from which the response may differ (Infinity: never by the clock). */
  validUntil: number;
}

interface Entry {
  /** Status 200, with these headers (without X-Request-Id) and this body. */
  headers: OutgoingHttpHeaders;
  /**
   * The same headers as one flat [name, value, ...] list for writeHead: handed over whole, before
   * any setHeader, Node writes them without building its header map (half the cost of a reply).
   */
  flat: Array<string | number | string[]>;
  /** The headers of a 304: the same without the body's length and type. */
  flat304: Array<string | number | string[]>;
  body: Buffer;
  etag: string;
  version: string | undefined;
  /** The course folders' generation it was made at (personal pages). */
  content: number;
  validUntil: number;
  route: string;
  user: number | undefined;
}

/**
 * The closing log line of a request answered here, outside Koa, with the fields the request log
 * writes for the others (src/middleware/request-log.ts makes one).
 */
export type LineWriter = (req: IncomingMessage, status: number, route: string, startedNs: bigint, requestId: string, user: number | undefined) => void;

const marks = new WeakMap<IncomingMessage, Mark>();

/** Responses answered from kept responses in this process, by kind (tests read it). */
export const replayCounters = { pages: 0, statics: 0 };

/** Lets the response to this request be replayed (see above); only a 200 with a Buffer body is kept. */
export function markReplayable(ctx: AppContext, mark: Mark): void {
  marks.set(ctx.req, mark);
}

const etags = new WeakMap<Buffer, string>();
/** A strong validator of the bytes (kept per body: the render cache hands out the same Buffer). */
export function etagOf(body: Buffer): string {
  let tag = etags.get(body);
  if (tag === undefined) {
    tag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    etags.set(body, tag);
  }
  return tag;
}

/** If-None-Match against one ETag (weak comparison, as for GET). */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  for (const raw of ifNoneMatch.split(',')) {
    const t = raw.trim();
    if (t === '*' || t === etag || (t.startsWith('W/') && t.slice(2) === etag)) return true;
  }
  return false;
}

const NOT_KEPT = new Set(['x-request-id', 'connection', 'date', 'keep-alive', 'transfer-encoding']);

export interface ReplayCache {
  /** Koa middleware (just inside the request log): keeps marked responses, answers 304s. */
  record(ctx: AppContext, next: () => Promise<unknown>): Promise<void>;
  /** The request listener's first look: true when the request was answered here. */
  answer(req: IncomingMessage, res: ServerResponse): boolean;
  readonly size: number;
  clear(): void;
}

export function createReplayCache(opts: {
  reads: ReadCache;
  now: () => number;
  line: LineWriter;
  enabled: boolean;
  maxBytes: number;
  draining: () => boolean;
  routeOf: (ctx: AppContext) => string;
  /** The time from which this request's response may differ for reasons outside the handler (its session). */
  limitOf: (ctx: AppContext) => number;
  /** Grows when the course folders change on disk (a page's text, a course.yaml), which no database version shows. */
  contentGeneration: () => number;
}): ReplayCache {
  const personal = new Map<string, Entry>();
  const shared = new Map<string, Entry>();
  let bytes = 0;
  let version: string | undefined;
  const maxEntries = 20_000;

  const keyOf = (req: IncomingMessage, cookie: string) => `${req.headers.host ?? ''}\n${req.url ?? ''}\n${cookie}`;

  function forgetPersonal(): void {
    personal.clear();
    bytes = 0;
  }

  function keep(map: Map<string, Entry>, key: string, entry: Entry): void {
    const old = map.get(key);
    if (old && map === personal) bytes -= old.body.length;
    map.delete(key);
    if (map === personal) {
      if (entry.body.length > opts.maxBytes / 16) return;
      bytes += entry.body.length;
      for (const k of map.keys()) {
        if (bytes <= opts.maxBytes && map.size < maxEntries) break;
        bytes -= map.get(k)!.body.length;
        map.delete(k);
      }
    } else if (map.size >= maxEntries) {
      map.clear();
    }
    map.set(key, entry);
  }

  async function record(ctx: AppContext, next: () => Promise<unknown>): Promise<void> {
    await next();
    const mark = marks.get(ctx.req);
    if (!mark || ctx.method !== 'GET' || ctx.status !== 200 || !Buffer.isBuffer(ctx.body)) return;
    const body = ctx.body;
    const given = ctx.res.getHeader('etag');
    let etag = typeof given === 'string' ? given : '';
    if (!etag) {
      etag = etagOf(body);
      ctx.set('ETag', etag);
      // A personal page: the browser may keep it, but asks each time (a 304 costs no body).
      ctx.set('Cache-Control', 'private, no-cache');
    }
    const kept = opts.enabled && !opts.draining() && !ctx.res.hasHeader('set-cookie') && ctx.req.headers.authorization === undefined;
    if (kept) {
      const headers: OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(ctx.res.getHeaders())) if (!NOT_KEPT.has(k) && v !== undefined) headers[k] = v;
      const flat = Object.entries(headers).flatMap(([k, v]) => [k, v!]);
      const flat304 = Object.entries(headers).flatMap(([k, v]) => (k === 'content-length' || k === 'content-type' ? [] : [k, v!]));
      const entry: Entry = { headers, flat, flat304, body, etag, version: mark.version, content: opts.contentGeneration(), validUntil: mark.shared ? mark.validUntil : Math.min(mark.validUntil, opts.limitOf(ctx)), route: opts.routeOf(ctx), user: ctx.state.user?.id };
      if (mark.shared) {
        keep(shared, `${ctx.req.url ?? ''}`, entry);
      } else {
        const cookie = ctx.req.headers.cookie;
        if (mark.version !== undefined && cookie !== undefined && opts.reads.isCurrent(mark.version)) {
          if (version !== mark.version) {
            forgetPersonal();
            version = mark.version;
          }
          keep(personal, keyOf(ctx.req, cookie), entry);
        }
      }
    }
    if (etagMatches(ctx.get('If-None-Match'), etag)) ctx.status = 304;
  }

  function answer(req: IncomingMessage, res: ServerResponse): boolean {
    if (!opts.enabled || req.method !== 'GET' || req.headers.authorization !== undefined) return false;
    const url = req.url ?? '';
    let entry: Entry | undefined;
    if (url.startsWith('/static/')) {
      entry = shared.get(url);
      // If-Modified-Since alone: the full path compares dates.
      if (entry && req.headers['if-modified-since'] !== undefined && req.headers['if-none-match'] === undefined) return false;
    } else {
      const cookie = req.headers.cookie;
      if (cookie === undefined || personal.size === 0) return false;
      const key = keyOf(req, cookie);
      entry = personal.get(key);
      if (!entry) return false;
      let current: string;
      try {
        current = opts.reads.check();
      } catch {
        // The database could not be asked: the full path answers (and says why).
        return false;
      }
      if (current !== entry.version || opts.contentGeneration() !== entry.content) {
        forgetPersonal();
        return false;
      }
      if (opts.now() >= entry.validUntil) {
        bytes -= entry.body.length;
        personal.delete(key);
        return false;
      }
    }
    if (!entry || opts.draining()) return false;
    const started = process.hrtime.bigint();
    const requestId = randomUUID();
    let status = 200;
    if (etagMatches(req.headers['if-none-match'], entry.etag)) {
      status = 304;
      res.writeHead(304, [...entry.flat304, 'x-request-id', requestId] as unknown as OutgoingHttpHeaders);
      res.end();
    } else {
      res.writeHead(200, [...entry.flat, 'x-request-id', requestId] as unknown as OutgoingHttpHeaders);
      res.end(entry.body);
    }
    if (entry.version === undefined) replayCounters.statics += 1;
    else replayCounters.pages += 1;
    opts.line(req, status, entry.route, started, requestId, entry.user);
    return true;
  }

  return {
    record,
    answer,
    get size() {
      return personal.size + shared.size;
    },
    clear() {
      forgetPersonal();
      shared.clear();
    },
  };
}
