import cluster, { type Worker } from 'node:cluster';
import type { LecternApp } from './app.js';
import type { Config } from './config.js';
import type { Logger } from './lib/logger.js';
// The grading service's contract; the job events it emits are passed on as they are.
import type { Dispatcher } from './plugins/autotest/grading.js';
import { buildApp, startServer } from './server.js';

/**
 * LECTERN_WORKERS=N: N web worker processes (node:cluster) share the listening socket; the
 * primary serves no HTTP itself.
 *
 * The primary is the one app that runs the plugins' start(): migrations (before any worker
 * exists), the first administrator, bundle imports, blob sweeps, the restart token, and the one
 * grading pool. Workers build the same app without start(); what they would otherwise miss
 * comes from the primary over the IPC channel: the go-ahead to listen (after start() finished,
 * so a sweep never meets a worker's upload in progress), queue wake-ups (a worker's new
 * submission wakes the pool), job events (live status pages), the dispatcher's description
 * (the lecturer's dashboard), and the token, read from the file the primary wrote.
 *
 * Shutdown is one path whoever starts it: SIGTERM/SIGINT to the primary or to any worker, or
 * /restart answered by any worker, ends in the primary telling every worker to drain; when they
 * have all exited the primary stops the background work, closes the database and exits 0.
 *
 * Listening: host:port with round-robin (the primary accepts and hands connections out in turn:
 * even load), or the service manager's socket (fd 3) shared by the workers, each accepting on
 * it (SCHED_NONE): then the primary never holds an accepted connection it might have to drop at
 * a restart, and connections made while no process accepts wait in the socket's queue for the
 * next one.
 */

type ToWorker =
  | { lectern: 'hello'; listenFd: number | null }
  | { lectern: 'start' }
  | { lectern: 'drain'; reason: string }
  | { lectern: 'job'; event: unknown }
  | { lectern: 'dispatcher'; describe: ReturnType<Dispatcher['describe']> | null };

type ToPrimary = { lectern: 'ready' } | { lectern: 'listening'; url: string } | { lectern: 'shutdown'; reason: string } | { lectern: 'wake' };

function isMessage<T extends { lectern: string }>(m: unknown): m is T {
  return typeof m === 'object' && m !== null && typeof (m as { lectern?: unknown }).lectern === 'string';
}

/** A worker that crashes is replaced after this long, doubling while it keeps crashing soon after start. */
const RESPAWN_MS = 500;
const RESPAWN_MAX_MS = 30_000;
/** A worker that ran this long without crashing resets the backoff. */
const STABLE_MS = 60_000;
/** How often the primary repeats the dispatcher's description to the workers. */
const DESCRIBE_MS = 5_000;

export interface ClusterHooks {
  log: Logger;
  /** Writes the last log lines and ends the process. */
  exit(code: number): void;
  /** Prints the "serving" line once every worker listens. */
  ready(url: string, startup: Record<string, number>): void;
  /** Called once the workers have been told to stop accepting (the CLI hands over to its respawn loop here). */
  onStoppedAccepting?(reason: string): void;
}

export async function runPrimary(config: Config, listenFd: number | null, hooks: ClusterHooks): Promise<void> {
  const { log } = hooks;
  const began = performance.now();
  let shuttingDown: Promise<void> | undefined;
  const app: LecternApp = buildApp(config, { log, onShutdownStart: (reason) => void shutdown(reason) });
  const built = performance.now();
  const grading = app.deps.services.grading;

  // The socket from the service manager is shared; anything else is handed out in turn.
  cluster.schedulingPolicy = listenFd != null ? cluster.SCHED_NONE : cluster.SCHED_RR;
  cluster.setupPrimary({ serialization: 'json' });

  const workers = new Map<number, { worker: Worker; listening: boolean; forkedAt: number }>();
  let started = false;
  let servingUrl: string | null = null;
  let announced = false;
  let backoff = RESPAWN_MS;

  const send = (worker: Worker, m: ToWorker) => {
    if (worker.isConnected()) worker.send(m);
  };
  const broadcast = (m: ToWorker) => {
    for (const { worker } of workers.values()) send(worker, m);
  };
  const describe = () => grading.dispatcher()?.describe() ?? null;

  const fork = () => {
    const worker = cluster.fork();
    workers.set(worker.id, { worker, listening: false, forkedAt: Date.now() });
    worker.on('message', (m: unknown) => {
      if (!isMessage<ToPrimary>(m)) return;
      const entry = workers.get(worker.id);
      if (m.lectern === 'ready') {
        send(worker, { lectern: 'hello', listenFd });
        if (started) send(worker, { lectern: 'start' });
      } else if (m.lectern === 'listening') {
        if (entry) entry.listening = true;
        servingUrl ??= m.url;
        send(worker, { lectern: 'dispatcher', describe: describe() });
        if (!announced && [...workers.values()].filter((w) => w.listening).length >= config.workers) {
          announced = true;
          const round = (x: number) => Math.round(x * 10) / 10;
          hooks.ready(servingUrl, { buildMs: round(built - began), readyMs: round(performance.now()) });
        }
      } else if (m.lectern === 'shutdown') {
        void shutdown(m.reason);
      } else if (m.lectern === 'wake') {
        grading.notify();
      }
    });
    worker.on('exit', (code, signal) => {
      const entry = workers.get(worker.id);
      workers.delete(worker.id);
      if (shuttingDown) return;
      if (!entry?.listening) {
        // A worker that cannot even start (the port is taken, the config is wrong) will not do
        // better the next time: stop, with its exit code.
        log.error({ pid: worker.process.pid, code, signal }, 'a web worker failed to start');
        void shutdown('a web worker failed to start', code || 1);
        return;
      }
      if (Date.now() - entry.forkedAt > STABLE_MS) backoff = RESPAWN_MS;
      log.error({ pid: worker.process.pid, code, signal, respawnInMs: backoff }, 'a web worker died: starting another');
      setTimeout(() => {
        if (!shuttingDown) fork();
      }, backoff).unref();
      backoff = Math.min(backoff * 2, RESPAWN_MAX_MS);
    });
  };

  async function shutdown(reason: string, code = 0): Promise<void> {
    shuttingDown ??= (async () => {
      log.info({ reason, workers: workers.size }, 'cluster shutting down: draining every worker');
      const hardExit = setTimeout(() => {
        log.error({ reason, left: [...workers.values()].map((w) => w.worker.process.pid) }, 'cluster shutdown took too long: exiting anyway');
        for (const { worker } of workers.values()) worker.process.kill('SIGKILL');
        hooks.exit(1);
      }, config.drainMs + 15_000);
      hardExit.unref();
      const left = [...workers.values()].map(
        ({ worker }) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve();
            worker.once('exit', () => resolve());
            send(worker, { lectern: 'drain', reason });
          }),
      );
      // The grading pool hands its running jobs back now, not after the workers' drain (an upload
      // still arriving may hold that for LECTERN_DRAIN_MS): the next server grades them, and
      // nothing of grading delays this process's exit. close() below finds it already closing.
      app.deps.lifecycle.beginClosing();
      // A worker stops accepting as soon as it reads 'drain', well before the next server can
      // have started: so a respawn loop may start that one now.
      hooks.onStoppedAccepting?.(reason);
      await Promise.all(left);
      // Workers have stopped serving: now the background work (grading pool) and the database.
      await app.close(reason);
      clearTimeout(hardExit);
      hooks.exit(code);
    })();
    return shuttingDown;
  }

  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  // Workers load their modules and build their apps while the primary's start() runs; they
  // listen only once it is done.
  for (let i = 0; i < config.workers; i++) fork();
  try {
    await app.start();
  } catch (err) {
    log.error({ err }, 'start-up failed');
    await shutdown('start-up failed', 1);
    return;
  }
  if (shuttingDown) return;
  started = true;
  broadcast({ lectern: 'start' });

  grading.events.on('job', (event: unknown) => broadcast({ lectern: 'job', event }));
  const describer = setInterval(() => broadcast({ lectern: 'dispatcher', describe: describe() }), DESCRIBE_MS);
  describer.unref();
}

export async function runWorker(config: Config, hooks: Omit<ClusterHooks, 'ready'>): Promise<void> {
  const { log } = hooks;
  let fromPrimary = false;
  let exitCode = 0;
  const toPrimary = (m: ToPrimary) => {
    if (process.connected) process.send!(m);
  };
  const armHardExit = (reason: string) => {
    // Told by the primary or not, this worker starts draining at once, and tells the primary so
    // that every other worker drains too.
    if (!fromPrimary) toPrimary({ lectern: 'shutdown', reason });
    setTimeout(() => {
      log.error({ reason }, 'shutdown took too long: exiting anyway');
      exitCode = 1;
      hooks.exit(1);
    }, config.drainMs + 10_000).unref();
  };

  let hello: (listenFd: number | null) => void;
  const helloed = new Promise<number | null>((resolve) => (hello = resolve));
  let go: () => void;
  const goAhead = new Promise<void>((resolve) => (go = resolve));
  let app: LecternApp | undefined;
  let dispatcherInfo: ReturnType<Dispatcher['describe']> | null = null;
  process.on('message', (m: unknown) => {
    if (!isMessage<ToWorker>(m)) return;
    if (m.lectern === 'hello') hello(m.listenFd);
    else if (m.lectern === 'start') go();
    else if (m.lectern === 'drain') {
      fromPrimary = true;
      if (app) app.deps.shutdown(m.reason);
      else hooks.exit(0);
    } else if (m.lectern === 'job') {
      if (app) app.deps.services.grading.events.emit('job', m.event);
    } else if (m.lectern === 'dispatcher') {
      dispatcherInfo = m.describe;
      if (app) setDispatcher(app);
    }
  });
  const setDispatcher = (a: LecternApp) => {
    const info = dispatcherInfo;
    a.deps.services.grading.setDispatcher(info ? { notify: () => toPrimary({ lectern: 'wake' }), describe: () => dispatcherInfo ?? info } : null);
  };

  toPrimary({ lectern: 'ready' });
  const listenFd = await helloed;
  const running = await startServer(config, {
    log,
    listenFd,
    onShutdownStart: armHardExit,
    onShutdown: () => hooks.exit(exitCode),
    async start(a) {
      app = a;
      await goAhead;
      await a.deps.services.restart.adoptWrittenToken();
      setDispatcher(a);
      // Only the plugins whose start() fills per-process state (PluginInstance.startsInEveryWorker).
      await a.start({ inWorker: true });
    },
  });
  process.on('SIGTERM', () => running.app.deps.shutdown('SIGTERM'));
  process.on('SIGINT', () => running.app.deps.shutdown('SIGINT'));
  log.info({ url: running.url, pid: process.pid, listenFd }, 'web worker listening');
  toPrimary({ lectern: 'listening', url: running.url });
}
