import { statSync } from 'node:fs';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../../db/open.js';
import { databasePath } from '../../db/open.js';
import type { Deps, RequestObserver } from '../../plugin.js';
import { currentPlan } from '../autotest/forecast.js';
import { requestMetrics } from './requests.js';

/**
 * One Prometheus registry per app (tests build many apps in one process), in the plugin's instance. Request figures are
 * counted as requests end; everything else is read when Prometheus scrapes: queue figures from
 * the jobs table, grading outcomes from the results rows recorded since the last scrape (so the
 * local pool, Redis workers and other processes on the same data directory are all counted, by
 * the one place that records a result), the database's size from the file system.
 */
export interface Metrics {
  registry: Registry;
  observe: RequestObserver;
}

const JOB_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900];
const TURNAROUND_BUCKETS = [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];
/** Results read per statement while catching up after a long pause between scrapes. */
const RESULTS_PAGE = 5_000;

interface ResultRow {
  id: number;
  status: string;
  gradable: number;
  duration_ms: number;
  created_at: number;
  enqueued_at: number;
  course: string;
  slug: string;
}

function statements(db: Db) {
  return {
    lastResult: db.prepare<[], { id: number | null }>('SELECT max(id) AS id FROM results'),
    results: db.prepare<{ after: number; limit: number }, ResultRow>(
      `SELECT r.id, r.status, r.gradable, r.duration_ms, r.created_at, j.enqueued_at, a.course, a.slug
         FROM results r
         JOIN jobs j ON j.id = r.job_id
         JOIN submissions s ON s.id = r.submission_id
         JOIN assignments a ON a.id = s.assignment_id
        WHERE r.id > :after ORDER BY r.id LIMIT :limit`,
    ),
  };
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** This app's metrics, made once by the plugin's create() and kept in its instance. */
export function createMetrics(deps: Pick<Deps, 'db' | 'clock' | 'config' | 'services'>): Metrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  const http = requestMetrics();
  // Custom metrics (see requests.ts) satisfy what the registry reads, not prom-client's class types.
  registry.registerMetric(http.counter as unknown as Parameters<Registry['registerMetric']>[0]);
  registry.registerMetric(http.histogram as unknown as Parameters<Registry['registerMetric']>[0]);
  const observe = http.observe;

  const sql = statements(deps.db);
  // Read at scrape time, never here: the autotest plugin, which provides it, is created after this one.
  const grading = () => deps.services.grading;
  let after = sql.lastResult.get()?.id ?? 0;
  const verdicts = new Counter({ name: 'lectern_sandbox_verdicts_total', help: 'Grading runs by the verdict of the sandboxed run (passed, failed, timeout, memory, output_limit, crashed, error).', labelNames: ['status'] as const, registers: [] });
  const jobDuration = new Histogram({ name: 'lectern_grading_job_duration_seconds', help: 'Wall time of a grading run in the sandbox, by course and assignment.', labelNames: ['course', 'assignment'] as const, buckets: JOB_BUCKETS, registers: [] });
  const turnaround = new Histogram({ name: 'lectern_grading_turnaround_seconds', help: 'Time from a job entering the queue to its result, by course and assignment.', labelNames: ['course', 'assignment'] as const, buckets: TURNAROUND_BUCKETS, registers: [] });
  const catchUp = () => {
    for (;;) {
      const rows = sql.results.all({ after, limit: RESULTS_PAGE });
      for (const r of rows) {
        jobs.labels(r.course, r.slug, r.gradable ? 'graded' : 'ungradable').inc();
        verdicts.labels(r.status).inc();
        jobDuration.labels(r.course, r.slug).observe(r.duration_ms / 1000);
        turnaround.labels(r.course, r.slug).observe(Math.max(0, r.created_at - r.enqueued_at) / 1000);
        after = r.id;
      }
      if (rows.length < RESULTS_PAGE) return;
    }
  };
  // Registered after catchUp and before the other grading metrics: a scrape reads metrics in
  // registration order, and this one's collect() brings them all up to date first.
  const jobs = new Counter({
    name: 'lectern_grading_jobs_total',
    help: 'Grading runs recorded since this process started, by course, assignment and outcome (graded or ungradable).',
    labelNames: ['course', 'assignment', 'outcome'] as const,
    registers: [],
    collect: () => catchUp(),
  });
  registry.registerMetric(jobs);
  registry.registerMetric(verdicts);
  registry.registerMetric(jobDuration);
  registry.registerMetric(turnaround);
  new Gauge({
    name: 'lectern_queue_jobs',
    help: 'Grading jobs waiting (queued) and being run (running), all courses.',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const s = grading().queue.stats();
      this.set({ state: 'queued' }, s.queued);
      this.set({ state: 'running' }, s.running);
    },
  });
  new Gauge({
    name: 'lectern_queue_oldest_age_seconds',
    help: 'How long the oldest queued job has waited (0 when none waits).',
    registers,
    collect() {
      const s = grading().queue.stats();
      this.set(s.oldestQueuedAt === null ? 0 : Math.max(0, deps.clock.now() - s.oldestQueuedAt) / 1000);
    },
  });
  new Gauge({
    name: 'lectern_queue_drain_forecast_seconds',
    help: 'Forecast time until every queued and running job is done, from recorded run times and the graders available (NaN without any run history).',
    registers,
    collect() {
      const s = grading().queue.stats();
      const drainAt = s.queued + s.running === 0 ? deps.clock.now() : currentPlan(deps).drainAt;
      // NaN, not 0, without history: "unknown" must not read as "empty".
      this.set(drainAt === null ? Number.NaN : Math.max(0, drainAt - deps.clock.now()) / 1000);
    },
  });
  new Gauge({
    name: 'lectern_live_streams',
    help: 'Open live-status streams (server-sent events) in this process.',
    registers,
    collect() {
      this.set(grading().liveStreams.open);
    },
  });
  const dbFile = databasePath(deps.config.dataDir);
  new Gauge({
    name: 'lectern_database_bytes',
    help: 'Size of the SQLite database: the main file and its write-ahead log.',
    labelNames: ['file'] as const,
    registers,
    collect() {
      this.set({ file: 'main' }, fileSize(dbFile));
      this.set({ file: 'wal' }, fileSize(`${dbFile}-wal`));
    },
  });

  return { registry, observe };
}
