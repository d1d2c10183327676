import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../../config.js';
import { createLogger } from '../../../lib/logger.js';
import { createSandbox, sandboxAvailable } from '../../../lib/sandbox/index.js';
import { sweepRunStudentDirs } from '../../../lib/sandbox/sweep-sockets.js';
import type { Command } from '../../../plugin.js';
import type { WorkerMetrics } from '../../metrics/worker-metrics.js';
import { describeUrl } from './redis-common.js';

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

/**
 * `lectern worker`: grading on another machine. Needs LECTERN_QUEUE (the Redis URL) and a
 * sandbox; never the web server's database. LECTERN_DATA is only a cache here (job files, tests).
 * Runs until SIGTERM or SIGINT; then running jobs get LECTERN_DRAIN_MS to finish and are handed
 * back to Redis after that.
 */
export async function runWorker(config: Config, args: string[]): Promise<number> {
  if (args.length) {
    say('usage: lectern worker   (configured by LECTERN_QUEUE, LECTERN_WORKER_CONCURRENCY, LECTERN_WORKER_NAME, LECTERN_DATA)');
    return 2;
  }
  if (config.queue === 'sqlite') {
    say('lectern worker: set LECTERN_QUEUE to the Redis URL the web server uses, e.g. redis://:password@10.0.0.5:6379');
    return 2;
  }
  const log = createLogger(config.logLevel).child({ plugin: 'autotest', part: 'worker' });
  if (!config.unsafeSandbox && !sandboxAvailable()) {
    say('lectern worker: bubblewrap is missing or cannot create namespaces here, so student code cannot be isolated. Install bubblewrap (apt install bubblewrap), or set LECTERN_UNSAFE_SANDBOX=1 on a development machine only.');
    return 2;
  }
  const sandbox = createSandbox({ unsafe: config.unsafeSandbox, log: log.child({ lib: 'sandbox' }) });
  // Socket dirs of harness runs a killed worker (or server) on this machine left behind.
  await sweepRunStudentDirs(log);
  const cacheDir = path.join(config.dataDir, 'worker');
  mkdirSync(cacheDir, { recursive: true, mode: 0o755 });
  // BullMQ and its Redis client load only here: other commands and the web server in sqlite mode
  // never pay for them.
  const { startWorker } = await import('./worker.js');
  let metrics: WorkerMetrics | undefined;
  if (config.workerMetricsPort) {
    const { startWorkerMetrics } = await import('../../metrics/worker-metrics.js');
    metrics = await startWorkerMetrics({ host: config.host, port: config.workerMetricsPort, token: config.metricsToken, worker: config.workerName, log });
    log.info({ url: metrics.url }, 'worker metrics served');
  }
  const worker = await startWorker({ config, log, sandbox, cacheDir, ...(metrics ? { metrics } : {}) });
  log.info({ worker: worker.id, redis: describeUrl(config.queue), concurrency: config.workerConcurrency, sandbox: sandbox.describe() }, 'worker started');
  say(`Lectern worker ${worker.id}: ${config.workerConcurrency} at a time, jobs from ${describeUrl(config.queue)}`);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping: running jobs finish or go back to the queue');
      const hard = setTimeout(() => {
        log.error('stopping took too long: exiting anyway');
        log.flush();
        process.exit(1);
      }, config.drainMs + 15_000);
      hard.unref();
      void worker.stop(config.drainMs).then(
        async () => {
          await metrics?.stop();
          log.info('worker stopped');
          log.flush();
          resolve(0);
          // A Redis socket still closing must not keep the process alive.
          setTimeout(() => process.exit(0), 500).unref();
        },
        (err: unknown) => {
          log.error({ err }, 'worker did not stop cleanly');
          log.flush();
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

/** Listed by `lectern help`; the CLI runs it through runWorker() without opening the database. */
export const workerCommand: Command = {
  summary: 'grade jobs from Redis on this machine (LECTERN_QUEUE=redis://...)',
  run: (args, deps) => runWorker(deps.config, args),
};
