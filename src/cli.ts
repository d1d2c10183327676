#!/usr/bin/env node
import Database from 'better-sqlite3';
import cluster from 'node:cluster';
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { ConfigError, loadConfig, takeListenFd, type Config } from './config.js';
import { DatabaseAheadError, loadMigrations, migrate, schemaVersion } from './db/migrate.js';
import { databasePath, openDatabase } from './db/open.js';
import { ContentError } from './lib/content.js';
import { handOver } from './lib/lifecycle.js';
import { createLogger } from './lib/logger.js';
import type { Deps } from './plugin.js';
import { plugins } from './plugins/index.js';
import { runWorker } from './plugins/autotest/run/worker-command.js';
import { RESTART_REASON } from './plugins/restart/index.js';
import { runPrimary, runWorker as runWebWorker } from './cluster.js';
import { buildApp, buildDeps, startServer } from './server.js';
import { warmCache } from './warm-cache.js';
import { assemblePlugins } from './core/assemble.js';
import { formatRoutes } from './core/route-list.js';

// Every static import above has been evaluated by now: the time since the process began is module loading.
const modulesLoadedMs = performance.now();
// Set by dist/start.cjs: whether V8's code cache spared compiling the bundle (see start.cts).
const codeCache = (globalThis as Record<symbol, unknown>)[Symbol.for('lectern.codeCache')] ?? 'unbundled';

const USAGE = `Usage: lectern [command]

  serve                 run the web server (default)
  migrate [--check]     apply database migrations (--check: only report, fail if the db is ahead)
  warm-cache            save V8's code cache for faster starts (npm run build does it)
  routes [--json]       every route: plugin, method, path, who may call it, its input, its audit name, its file
  help                  this text
`;

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function serve(config: Config): Promise<number> {
  // A cluster's web worker: the primary already took the service manager's variables.
  const listenFd = cluster.isWorker ? null : takeListenFd();
  const log = createLogger(config.logLevel);
  let exitCode = 0;
  let exiting = false;
  const exit = (code: number) => {
    if (exiting) return;
    exiting = true;
    log.flush();
    // Give pino's async destination a moment to write the last lines.
    setImmediate(() => process.exit(code));
  };
  // Armed on every shutdown path (signals and /restart): a stuck plugin must not keep a restart waiting for ever.
  const armHardExit = (reason: string) => {
    setTimeout(() => {
      log.error({ reason }, 'shutdown took too long: exiting anyway');
      exitCode = 1;
      exit(1);
    }, config.drainMs + 15_000).unref();
  };
  const round = (x: number) => Math.round(x * 10) / 10;
  const forever = new Promise<number>(() => {
    // Runs until shutdown exits the process.
  });
  if (cluster.isWorker) {
    await runWebWorker(config, { log, exit });
    return forever;
  }
  // Only a restart: on SIGTERM the loop itself is stopping and starts nothing.
  const onStoppedAccepting = (reason: string) => {
    if (reason === RESTART_REASON && handOver(config.handoffPid)) log.info({ loop: config.handoffPid }, 'stopped accepting: the respawn loop starts the next server while this one drains');
  };
  if (config.workers > 1) {
    await runPrimary(config, listenFd, {
      log,
      exit,
      onStoppedAccepting,
      ready(url, timings) {
        log.info({ url, listenFd, pid: process.pid, workers: config.workers, startup: { modulesMs: round(modulesLoadedMs), codeCache, ...timings } }, 'listening');
        say(`Lectern is serving ${url} with ${config.workers} workers${listenFd != null ? ' (socket from the service manager)' : ''}`);
      },
    });
    return forever;
  }
  const running = await startServer(config, {
    log,
    listenFd,
    onShutdownStart: armHardExit,
    onShutdown: () => exit(exitCode),
    onStoppedAccepting,
  });
  const { app, url } = running;
  process.on('SIGTERM', () => app.deps.shutdown('SIGTERM'));
  process.on('SIGINT', () => app.deps.shutdown('SIGINT'));
  const startup = { modulesMs: round(modulesLoadedMs), codeCache, ...running.timings, readyMs: round(performance.now()) };
  log.info({ url, listenFd, pid: process.pid, startup }, 'listening');
  say(`Lectern is serving ${url}${listenFd != null ? ' (socket from the service manager)' : ''}`);
  return forever;
}

/**
 * The schema version, read without writing anything: the deploy hook runs `migrate --check` as the
 * git user, who may only read the data folder. With no server running there are no WAL files, and
 * SQLite cannot create them in a folder it may not write; the file is then complete (the last
 * close checkpointed it), so the user_version in its header (bytes 60-63) is the version.
 */
function readSchemaVersion(file: string): number {
  if (!existsSync(file)) return 0;
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      return schemaVersion(db);
    } finally {
      db.close();
    }
  } catch (err) {
    const code = (err as { code?: string }).code;
    if ((code !== 'SQLITE_READONLY_DIRECTORY' && code !== 'SQLITE_CANTOPEN') || existsSync(`${file}-wal`)) throw err;
    const header = Buffer.alloc(100);
    const fd = openSync(file, 'r');
    try {
      readSync(fd, header, 0, 100, 0);
    } finally {
      closeSync(fd);
    }
    return header.readUInt32BE(60);
  }
}

function runMigrate(config: Config, args: string[]): number {
  if (args.includes('--check')) {
    const current = readSchemaVersion(databasePath(config.dataDir));
    const migrations = loadMigrations();
    const latest = migrations.at(-1)?.version ?? 0;
    if (current > latest) throw new DatabaseAheadError(current, latest);
    const pending = migrations.filter((m) => m.version > current).map((m) => m.name);
    say(`database at version ${current}, code at ${latest}; ${pending.length ? `pending: ${pending.join(', ')}` : 'nothing pending'}`);
    return 0;
  }
  const db = openDatabase(databasePath(config.dataDir));
  try {
    const applied = migrate(db);
    say(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    return 0;
  } finally {
    db.close();
  }
}

/** `lectern routes`: the app is built as for serving (same config, same plugins) but never listens or starts. */
function printRoutes(config: Config, args: string[]): number {
  const app = buildApp(config, { log: createLogger('silent') });
  try {
    process.stdout.write(formatRoutes(app.routeTable(), { json: args.includes('--json') }));
    return 0;
  } finally {
    app.deps.db.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command = 'serve', ...args] = argv;
  if (command === 'help' || command === '--help' || command === '-h') {
    const extra = plugins.flatMap((p) => Object.entries(p.commands ?? {}).map(([name, c]) => `  ${name.padEnd(22)}${c.summary}`));
    process.stdout.write(USAGE + (extra.length ? `${extra.join('\n')}\n` : ''));
    return 0;
  }
  if (command === 'warm-cache') return warmCache();
  const config = loadConfig();
  if (command === 'serve') return serve(config);
  if (command === 'migrate') return runMigrate(config, args);
  if (command === 'routes') return printRoutes(config, args);
  // A grading worker runs on machines without the web server's database: config, log, sandbox only.
  if (command === 'worker') return runWorker(config, args);
  for (const plugin of plugins) {
    const cmd = plugin.commands?.[command];
    if (!cmd) continue;
    const base = buildDeps(config);
    const deps: Deps = { ...base, shutdown: () => undefined };
    try {
      // Commands use other plugins' services as the server does: the plugins are created, not started.
      assemblePlugins(deps, plugins);
      return await cmd.run(args, deps);
    } finally {
      base.db.close();
    }
  }
  say(`lectern: unknown command "${command}"\n`);
  process.stderr.write(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError || err instanceof DatabaseAheadError || err instanceof ContentError) {
      say(`lectern: ${err.message}`);
      process.exit(2);
    }
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') {
      say(`lectern: the address is already in use (${e.message}). Set LECTERN_PORT to another port or stop the other server.`);
      process.exit(2);
    }
    if (e.code === 'EACCES') {
      say(`lectern: not allowed to listen there (${e.message}). Ports below 1024 need socket activation, authbind or CAP_NET_BIND_SERVICE (see README).`);
      process.exit(2);
    }
    say(`lectern: ${e.stack ?? String(err)}`);
    process.exit(1);
  },
);
