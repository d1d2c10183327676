import { mkdirSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createApp, type LecternApp } from './app.js';
import type { Config } from './config.js';
import { migrate } from './db/migrate.js';
import { databasePath, openDatabase } from './db/open.js';
import { createBlobStore } from './lib/blobs.js';
import { createHttpServer } from './lib/http-server.js';
import { systemClock, type Clock } from './lib/clock.js';
import { liveContent } from './lib/content.js';
import { listWebCourses } from './plugins/courses/store.js';
import { Lifecycle } from './lib/lifecycle.js';
import { createLogger, type Logger } from './lib/logger.js';
import { createSandbox } from './lib/sandbox/index.js';
import type { Sandbox } from './lib/sandbox/types.js';
import { createViews } from './lib/views.js';
import type { Deps, Plugin } from './plugin.js';
import { emptyServices } from './core/assemble.js';
import { plugins as defaultPlugins } from './plugins/index.js';

/** How long one statement of the web process waits inside SQLite for another process's write lock. */
export const WEB_BUSY_TIMEOUT_MS = 50;

export interface BuildOptions {
  log?: Logger;
  clock?: Clock;
  sandbox?: Sandbox;
  plugins?: Plugin[];
  /** Called when deps.shutdown() begins (signal or /restart alike); the CLI arms its hard exit timer here. */
  onShutdownStart?: (reason: string) => void;
  /** Called once the app has closed after deps.shutdown(); the server process exits here. */
  onShutdown?: (reason: string) => void;
  /** Called as soon as a shutdown has stopped accepting connections, before the drain. */
  onStoppedAccepting?: (reason: string) => void;
}

/** config -> data dir -> db (migrated) -> content -> deps. Shared by the server, the CLI and tests. */
export function buildDeps(config: Config, options: BuildOptions = {}): Omit<Deps, 'shutdown'> {
  const log = options.log ?? createLogger(config.logLevel);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o750 });
  const content = liveContent(config.contentDir, log);
  const db = openDatabase(databasePath(config.dataDir));
  try {
    const started = performance.now();
    const applied = migrate(db);
    if (applied.length) log.info({ applied, ms: Math.round(performance.now() - started) }, 'database migrated');
  } catch (err) {
    db.close();
    throw err;
  }
  content.useWebCourses(() => listWebCourses(db));
  const timezone = content.courses[0]?.timezone ?? 'UTC';
  return {
    db,
    config,
    log,
    clock: options.clock ?? systemClock,
    views: createViews({ watch: config.env === 'development', timezone }),
    blobs: createBlobStore(path.join(config.dataDir, 'blobs')),
    sandbox: options.sandbox ?? createSandbox({ unsafe: config.unsafeSandbox, log: log.child({ lib: 'sandbox' }) }),
    content,
    lifecycle: new Lifecycle(),
    services: emptyServices(),
  };
}

export function buildApp(config: Config, options: BuildOptions = {}): LecternApp {
  const base = buildDeps(config, options);
  let app: LecternApp | undefined;
  const deps: Deps = {
    ...base,
    shutdown(reason) {
      if (!app || app.closing) return;
      options.onShutdownStart?.(reason);
      // close() stops accepting before it first waits, so the listening sockets are shut here.
      const closing = app.close(reason);
      options.onStoppedAccepting?.(reason);
      void closing.then(() => options.onShutdown?.(reason));
    },
  };
  try {
    app = createApp(deps, options.plugins ?? defaultPlugins);
  } catch (err) {
    base.db.close();
    throw err;
  }
  return app;
}

export interface RunningServer {
  app: LecternApp;
  server: http.Server;
  url: string;
  /** Milliseconds spent building the app (content, database, migrations), starting plugins, and binding. */
  timings: { buildMs: number; startMs: number; listenMs: number };
}

export interface ServeOptions extends BuildOptions {
  listenFd?: number | null;
  /** Replaces app.start() before listening (a cluster's web workers leave background work to the primary). */
  start?: (app: LecternApp) => Promise<void>;
}

/** Builds, starts plugins, listens on fd (socket activation) or host:port. */
export async function startServer(config: Config, options: ServeOptions = {}): Promise<RunningServer> {
  const t0 = performance.now();
  const app = buildApp(config, options);
  const t1 = performance.now();
  let t2: number;
  // The web process waits for a lock held elsewhere only briefly inside SQLite (which blocks the
  // event loop); the writes that matter wait longer without blocking it (retryBusy), the rest
  // answer 503. The CLI keeps the patient default of openDatabase.
  app.deps.db.pragma(`busy_timeout = ${WEB_BUSY_TIMEOUT_MS}`);
  const server = createHttpServer(app);
  try {
    await (options.start ? options.start(app) : app.start());
    t2 = performance.now();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (options.listenFd != null) server.listen({ fd: options.listenFd }, resolve);
      else server.listen(config.port, config.host === 'localhost' ? '127.0.0.1' : config.host, resolve);
    });
    if (options.listenFd == null && config.host === 'localhost') {
      // "localhost" resolves to ::1 first on many hosts: a hook calling http://localhost/restart
      // must find this server on both loopback families, on the same port.
      const port = (server.address() as AddressInfo).port;
      const v6 = createHttpServer(app);
      await new Promise<void>((resolve, reject) => {
        v6.once('error', (err: NodeJS.ErrnoException) => {
          // A host without IPv6 has no ::1 to answer on; 127.0.0.1 is enough there.
          if (err.code === 'EADDRNOTAVAIL' || err.code === 'EAFNOSUPPORT') {
            app.deps.log.warn({ err }, 'no IPv6 loopback: serving localhost on 127.0.0.1 only');
            resolve();
          } else reject(err);
        });
        v6.listen({ port, host: '::1', ipv6Only: true }, resolve);
      });
    }
  } catch (err) {
    await app.close('start-up failed');
    throw err;
  }
  const addr = server.address() as AddressInfo | string | null;
  let url = config.publicUrl;
  if (addr && typeof addr === 'object') {
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${addr.port}`;
  }
  const ms = (x: number) => Math.round(x * 10) / 10;
  return { app, server, url, timings: { buildMs: ms(t1 - t0), startMs: ms(t2 - t1), listenMs: ms(performance.now() - t2) } };
}
