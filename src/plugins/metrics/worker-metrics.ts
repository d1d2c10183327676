import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from '../../lib/logger.js';
import { metricsRefusal } from './access.js';

/**
 * A `lectern worker`'s own /metrics (LECTERN_WORKER_METRICS_PORT): it has no web server and no
 * database, so it serves its process figures and the runs it did itself. Same access rule as the
 * web server's: loopback, or the bearer token from anywhere.
 */
export interface WorkerMetrics {
  url: string;
  jobStarted(): void;
  jobFinished(status: string, seconds: number): void;
  stop(): Promise<void>;
}

export async function startWorkerMetrics(options: { host: string; port: number; token: string; worker: string; log: Logger }): Promise<WorkerMetrics> {
  const registry = new Registry();
  registry.setDefaultLabels({ worker: options.worker });
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  const running = new Gauge({ name: 'lectern_worker_jobs_running', help: 'Grading runs in progress on this worker.', registers });
  const finished = new Counter({ name: 'lectern_worker_jobs_total', help: 'Grading runs finished on this worker, by sandbox verdict.', labelNames: ['status'] as const, registers });
  const duration = new Histogram({ name: 'lectern_worker_job_duration_seconds', help: 'Wall time of grading runs on this worker.', buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900], registers });

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://worker');
      if (url.pathname !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Only GET /metrics is served here.\n');
        return;
      }
      const refusal = metricsRefusal(req, { token: options.token, proxy: false });
      if (refusal) {
        res.writeHead(refusal.status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${refusal.message}\n`);
        return;
      }
      const text = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : text);
    })().catch((err: unknown) => {
      options.log.error({ err }, 'metrics request failed');
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/metrics`,
    jobStarted: () => running.inc(),
    jobFinished(status, seconds) {
      running.dec();
      finished.labels(status).inc();
      duration.observe(seconds);
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
