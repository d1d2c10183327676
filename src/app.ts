import { Router } from '@koa/router';
import Koa from 'koa';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import path from 'node:path';
import { PUBLIC_DIR } from './paths.js';
import { isStaffRole } from './lib/auth.js';
import { ClientErrorCounter, classifyClientError } from './lib/client-errors.js';
import { isCommitted } from './lib/lifecycle.js';
import { bodyIdleGuard, errorHandler } from './middleware/errors.js';
import { requestLogging, routeLabel } from './middleware/request-log.js';
import { createReplayCache } from './lib/replay.js';
import { readCache } from './db/read-cache.js';
import { SESSION_TOUCH_MS, type SessionRecord } from './plugins/accounts/sessions.js';
import { securityHeaders } from './middleware/security.js';
import { staticFiles } from './middleware/static.js';
import type { AppContextExtras, AppState, Deps, Plugin } from './plugin.js';
import { assemblePlugins, registerRoutes } from './core/assemble.js';
import type { RouteInfo } from './core/routes.js';
import { courseOr404 } from './lib/content.js';
import { navigation } from './lib/nav.js';

/** How long idle keep-alive connections may still send one more request once a drain begins. */
const IDLE_GRACE_MS = 100;


export interface LecternApp {
  koa: Koa<AppState, AppContextExtras>;
  deps: Deps;
  /** The request listener for node:http (tests use it without a socket). */
  callback(): ReturnType<Koa['callback']>;
  /** Every route the plugins registered (method list and path pattern), for tools and tests. */
  routes(): Array<{ methods: string[]; path: string }>;
  /** Every route with its plugin, access rule, input and audit name, as declared (`lectern routes`). */
  routeTable(): readonly RouteInfo[];
  /**
   * Runs every plugin's start(), in order; in a cluster's web worker (`inWorker`), only those whose
   * instance says it starts in every worker (PluginInstance.startsInEveryWorker).
   */
  start(options?: { inWorker?: boolean }): Promise<void>;
  /** Lets close() drain this server's connections. */
  attach(server: Server): void;
  /** Client hang-ups, malformed requests, slow and refused connections, counted (src/lib/client-errors.ts). */
  readonly clientErrors: ClientErrorCounter;
  /** The one shutdown path: stop accepting, drain, stop plugins in reverse, close the db. Idempotent. */
  close(reason?: string): Promise<void>;
  readonly closing: boolean;
}

export function createApp(deps: Deps, plugins: Plugin[]): LecternApp {
  const { log, views, config } = deps;
  // Each plugin is created for this app here; a service needed and not provided stops start-up.
  const assembled = assemblePlugins(deps, plugins);
  // Behind proxies, exactly the configured number of X-Forwarded-For entries (from the right, the
  // ones our own proxies appended) are believed; whatever the client sent before them is not.
  const koa = new Koa<AppState, AppContextExtras>({ proxy: config.proxy, maxIpsCount: config.proxy ? Math.max(1, config.proxyHops) : 0 });
  let closingPromise: Promise<void> | undefined;
  const assets = staticFiles(path.resolve(PUBLIC_DIR), { reload: config.env === 'development' });
  views.env.addGlobal('asset', assets.url);
  views.env.addGlobal('site', {
    unsafeSandbox: deps.sandbox.unsafe,
    // Read on each use: courses come and go without a restart (src/lib/content.ts).
    get courses() {
      return deps.content.courses;
    },
  });

  koa.context.render = function render(this: Koa.ParameterizedContext<AppState, AppContextExtras>, template: string, vars: Record<string, unknown> = {}) {
    // In unsafe sandbox mode every page a course's staff sees carries the warning, not only theirs.
    let isStaffView = vars.isStaffView;
    if (deps.sandbox.unsafe && isStaffView === undefined) {
      const course = /^\/courses\/([^/]+)/.exec(this.path)?.[1];
      isStaffView = course !== undefined && isStaffRole(this.state.roleIn?.(decodeURIComponent(course)) ?? null);
    }
    const nav = navigation(this.path, deps.content.courses, this.state.user, this.state.roleIn);
    // Sign-up lands on the course page, which says the password is set.
    const welcome = this.query.welcome === '1' && this.state.user && vars.flash === undefined ? { flash: { kind: 'ok', message: 'Your password is set. Welcome!' } } : {};
    const html = views.render(template, { ...this.state, path: this.path, siteNav: nav, ...vars, ...welcome, isStaffView });
    this.type = 'html';
    this.body = html;
  };

  const clientErrors = new ClientErrorCounter();
  // A client that hangs up or sends garbage is not a server error: debug and a count, no stack.
  koa.on('error', (err: NodeJS.ErrnoException) => {
    const kind = classifyClientError(err);
    if (kind) {
      clientErrors.add(kind);
      log.debug({ code: err.code, kind }, 'client went away');
      return;
    }
    log.error({ err }, 'unhandled koa error');
  });
  koa.silent = true;

  const observers = assembled.flatMap((a) => (a.instance.observeRequests ? [a.instance.observeRequests] : []));
  const logging = requestLogging(log, observers);
  koa.use(logging.middleware);
  // During a drain, keep-alive connections are told to close so they cannot hold the drain open.
  koa.use(async (ctx, next) => {
    await next();
    if (closingPromise) ctx.set('Connection', 'close');
  });
  // Repeated requests for static files and kept course pages are answered before Koa (replay.ts).
  const replay = createReplayCache({
    reads: readCache(deps.db),
    now: () => deps.clock.now(),
    line: logging.line,
    enabled: config.env !== 'development',
    maxBytes: config.pageCacheMb * 1024 * 1024,
    draining: () => closingPromise !== undefined,
    routeOf: routeLabel,
    // The full path must run again when the session expires or its sliding expiry is due.
    contentGeneration: () => deps.content.generation ?? 0,
    limitOf: (ctx) => {
      const s = ctx.state.session as SessionRecord | null | undefined;
      return s ? Math.min(s.expiresAt, s.lastSeenAt + SESSION_TOUCH_MS) : Infinity;
    },
  });
  koa.use((ctx, next) => replay.record(ctx, next));
  koa.use(errorHandler(clientErrors));
  koa.use(bodyIdleGuard(config.bodyIdleMs, clientErrors));
  koa.use(securityHeaders());
  koa.use(assets.middleware);
  let probe: { get(): unknown } | undefined;
  koa.use(async (ctx, next) => {
    if (ctx.path !== '/healthz') return next();
    try {
      // Prepared on first use, then kept: load balancers ask often.
      probe ??= deps.db.prepare('SELECT 1');
      probe.get();
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { ok: true, db: 'ok', pid: process.pid, closing: app.closing };
    } catch (err) {
      ctx.state.log.error({ err }, 'health check failed');
      ctx.status = 503;
      ctx.body = { ok: false, db: 'unavailable' };
    }
  });
  for (const { instance } of assembled) for (const mw of instance.middleware ?? []) koa.use(mw);

  const router = new Router<AppState, AppContextExtras>();
  // Every route under /courses/:course answers 404 for a course that does not exist, here, once.
  router.param('course', (slug, ctx, next) => {
    ctx.state.course = courseOr404(deps.content, slug);
    return next();
  });
  const routeTable = registerRoutes(router, assembled);
  // What the core answers before any plugin, listed with the routes for `lectern routes`.
  routeTable.unshift(
    { plugin: 'core', method: 'GET', path: '/healthz', access: 'anyone', input: null, audit: null, source: 'src/app.ts' },
    { plugin: 'core', method: 'GET', path: '/static/*', access: 'anyone', input: null, audit: null, source: 'src/middleware/static.ts' },
  );
  koa.use(router.routes());
  koa.use(router.allowedMethods());

  const servers = new Set<Server>();
  const sockets = new Set<Socket>();
  const inFlight = new Set<{ req: IncomingMessage; res: ServerResponse }>();
  const stops: Array<{ name: string; stop: () => Promise<void> }> = [];

  /**
   * Requests still in flight when the drain is over (an upload still arriving, say) get a clear
   * 503 instead of a reset. Nothing they asked for was stored: a write commits in one synchronous
   * transaction, and a request that has committed is marked (markCommitted) and given a moment
   * more to send its own answer.
   */
  async function answerUnfinished(): Promise<void> {
    const committed = [...inFlight].filter((e) => isCommitted(e.req));
    if (committed.length) {
      await Promise.race([
        Promise.all(committed.map((e) => (e.res.writableFinished ? null : new Promise((r) => e.res.once('close', r))))),
        new Promise((r) => setTimeout(r, 2_000)),
      ]);
    }
    const answered: Array<Promise<unknown>> = [];
    for (const { req, res } of inFlight) {
      if (res.headersSent || isCommitted(req)) continue;
      const write = req.method !== 'GET' && req.method !== 'HEAD';
      const message = write
        ? 'The server is restarting: your request was not carried out and nothing was stored. Please send it again.'
        : 'The server is restarting: please load the page again.';
      const json = (req.headers.accept ?? '').includes('application/json') || (req.url ?? '').startsWith('/api/');
      const body = json ? JSON.stringify({ error: message, status: 503, restarting: true, retryAfter: 2 }) : `${message}\n`;
      res.writeHead(503, { 'Content-Type': json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8', 'Retry-After': '2', Connection: 'close', 'Cache-Control': 'no-store' });
      // The rest of the body is read and dropped: closing a socket with unread data makes the
      // kernel send a reset, which can overtake the answer on its way to the client.
      req.resume();
      answered.push(new Promise((r) => res.end(body, () => r(null))));
      log.info({ method: req.method, url: req.url?.split('?')[0] }, 'request in flight at the end of the drain answered 503');
    }
    await Promise.race([Promise.all(answered), new Promise((r) => setTimeout(r, 500))]);
    if (answered.length) {
      // A moment for the clients to read the answer and hang up themselves before the cut.
      const open = [...sockets].filter((s) => !s.destroyed);
      for (const socket of open) socket.end();
      await Promise.race([Promise.all(open.map((s) => new Promise((r) => s.once('close', r)))), new Promise((r) => setTimeout(r, 1_000))]);
    }
  }

  const app: LecternApp = {
    koa,
    deps,
    clientErrors,
    callback: () => {
      const handle = koa.callback();
      return (req, res) => {
        // Tracked here rather than by a second 'request' listener: with two, Node copies the
        // listener list on every request.
        const entry = { req: req as IncomingMessage, res: res as ServerResponse };
        inFlight.add(entry);
        entry.res.on('close', () => inFlight.delete(entry));
        return replay.answer(entry.req, entry.res) ? Promise.resolve() : handle(req, res);
      };
    },
    routes: () => router.stack.map((layer) => ({ methods: layer.methods.filter((m) => m !== 'HEAD'), path: String(layer.path) })),
    routeTable: () => routeTable,
    async start(options = {}) {
      for (const { plugin, instance } of assembled) {
        if (!instance.start || (options.inWorker && !instance.startsInEveryWorker)) continue;
        const stop = await instance.start();
        stops.push({ name: plugin.name, stop });
      }
    },
    attach(server) {
      servers.add(server);
      server.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
    },
    get closing() {
      return closingPromise !== undefined;
    },
    close(reason = 'close') {
      closingPromise ??= (async () => {
        log.info({ reason }, 'shutting down: draining requests');
        deps.lifecycle.beginClosing();
        // http.Server.close() would also cut idle keep-alive connections at once, and a client
        // sending its next request on one at that moment sees a reset. So: stop accepting only
        // (a socket from the service manager stays open in the manager, its queue waits for the
        // next process); a request arriving during a short grace is answered with Connection:
        // close; then the connections still idle are closed.
        const graceMs = Math.min(IDLE_GRACE_MS, config.drainMs);
        const drained = Promise.all(
          [...servers].map(
            (server) =>
              new Promise<void>((resolve) => {
                net.Server.prototype.close.call(server, () => resolve());
                const sweep = setTimeout(() => server.close(), graceMs);
                server.once('close', () => clearTimeout(sweep));
              }),
          ),
        );
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          drained.then(() => false),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(true), config.drainMs);
          }),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          log.warn({ open: sockets.size, requests: inFlight.size }, 'drain timed out: closing remaining connections');
          await answerUnfinished();
          for (const server of servers) server.closeAllConnections();
          for (const socket of sockets) socket.destroy();
        }
        for (const { name, stop } of stops.reverse()) {
          try {
            // Which plugin a stuck shutdown waits for, when the hard exit timer has to end it.
            log.debug({ plugin: name }, 'stopping');
            await stop();
          } catch (err) {
            log.error({ err, plugin: name }, 'plugin failed to stop cleanly');
          }
        }
        try {
          deps.db.close();
        } catch (err) {
          log.error({ err }, 'database close failed');
        }
        log.info({ reason }, 'shut down');
      })();
      return closingPromise;
    },
  };
  return app;
}
