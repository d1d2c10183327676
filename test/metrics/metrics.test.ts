import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPool, type JobEvent, type Pool } from '../../src/plugins/autotest/pool.js';
import { startWorkerMetrics } from '../../src/plugins/metrics/worker-metrics.js';
import { createTestApp, type TestApp } from '../helpers/index.js';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { copyDemoContent, writeShellAssignment } from '../helpers/content.js';
import { upload, waitForResult } from '../helpers/submit.js';

const TOKEN = 'metrics-token-0123456789abcdef';
const BURST = 4;

/** The value of one sample line, e.g. sample(text, 'lectern_queue_jobs{state="queued"}'). */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    if (line.slice(0, space) === series) return Number(line.slice(space + 1));
  }
  return undefined;
}

let t: TestApp;
let student: SignedInAgent;
let pool: Pool | undefined;

beforeAll(async () => {
  const content = copyDemoContent();
  // Two seconds a run: a scrape made once a run has started sees it running.
  writeShellAssignment(content, 'burst', { title: 'Burst', opens: '2026-09-01T08:00:00+02:00', deadline: '2026-10-15T23:59:00+02:00', wall: '30s', script: 'sleep 2; cat answer.txt\n' });
  // No graders at first: the burst waits in the queue until the test starts a pool.
  t = await createTestApp({ config: { graders: 0, contentDir: content, metricsToken: TOKEN } });
  student = await signIn(t);
});
afterAll(async () => {
  await pool?.stop(5_000);
  await t.close();
});

async function scrape(): Promise<string> {
  const res = await t.fetch('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

describe('the Prometheus endpoint during a grading burst', () => {
  it('shows the queue, the open live stream, the runs by assignment and the requests by route pattern', async () => {
    const ids: number[] = [];
    for (let i = 0; i < BURST; i++) {
      const res = await upload(student, 'prog1', 'burst', [{ name: 'answer.txt', content: `answer ${i}\n` }]);
      expect(res.status).toBe(201);
      ids.push(((await res.json()) as { id: number }).id);
    }
    t.clock.advance(90_000);
    let text = await scrape();
    expect(sample(text, 'lectern_queue_jobs{state="queued"}')).toBe(BURST);
    expect(sample(text, 'lectern_queue_jobs{state="running"}')).toBe(0);
    expect(sample(text, 'lectern_queue_oldest_age_seconds')).toBe(90);
    // No run recorded yet: no forecast rather than a made-up one.
    expect(sample(text, 'lectern_queue_drain_forecast_seconds')).toBeNaN();

    // A student watching the last submission live.
    const stream = await student.fetch(`/courses/prog1/submissions/${ids.at(-1)}/events`);
    const reader = stream.body!.getReader();
    await reader.read();
    text = await scrape();
    expect(sample(text, 'lectern_live_streams')).toBe(1);

    // Grading starts; the scrape is made once the first run has begun.
    const grading = t.app.deps.services.grading;
    const started = new Promise<void>((resolve) => {
      const onJob = (e: JobEvent) => {
        if (e.state !== 'running') return;
        grading.events.off('job', onJob);
        resolve();
      };
      grading.events.on('job', onJob);
    });
    pool = startPool(t.app.deps, grading.queue, grading.events, { concurrency: 1, owner: 'metrics-test', leaseMs: 60_000, pollMs: 100 });
    await started;
    text = await scrape();
    expect(sample(text, 'lectern_queue_jobs{state="running"}')).toBe(1);
    expect(sample(text, 'lectern_queue_jobs{state="queued"}')).toBe(BURST - 1);

    for (const id of ids) expect((await waitForResult(student, 'prog1', id)).result?.status).toBe('passed');
    // The stream ends itself once the result is there.
    for (;;) if ((await reader.read()).done) break;

    text = await scrape();
    expect(sample(text, 'lectern_queue_jobs{state="queued"}')).toBe(0);
    expect(sample(text, 'lectern_live_streams')).toBe(0);
    expect(sample(text, 'lectern_queue_drain_forecast_seconds')).toBe(0);
    expect(sample(text, 'lectern_grading_jobs_total{course="prog1",assignment="burst",outcome="graded"}')).toBe(BURST);
    expect(sample(text, 'lectern_sandbox_verdicts_total{status="passed"}')).toBe(BURST);
    expect(sample(text, 'lectern_grading_job_duration_seconds_count{course="prog1",assignment="burst"}')).toBe(BURST);
    // Each run sleeps 2 s in the sandbox.
    expect(sample(text, 'lectern_grading_job_duration_seconds_bucket{le="1",course="prog1",assignment="burst"}')).toBe(0);
    // The fixed clock moved 90 s between the queueing and the results.
    expect(sample(text, 'lectern_grading_turnaround_seconds_bucket{le="60",course="prog1",assignment="burst"}')).toBe(0);
    expect(sample(text, 'lectern_grading_turnaround_seconds_bucket{le="120",course="prog1",assignment="burst"}')).toBe(BURST);

    // Requests by the route pattern that matched, never by the URL.
    expect(sample(text, 'lectern_http_requests_total{method="POST",route="/courses/:course/assignments/:slug/submissions",status="201"}')).toBe(BURST);
    expect(sample(text, 'lectern_http_requests_total{method="GET",route="/courses/:course/submissions/:id/events",status="200"}')).toBe(1);
    expect(sample(text, 'lectern_http_request_duration_seconds_count{method="GET",route="/courses/:course/submissions/:id/status"}')).toBeGreaterThanOrEqual(BURST);
    expect(text).not.toMatch(/route="[^"]*\/submissions\/\d/);
    await t.fetch('/no/such/page/12345');
    await t.fetch('/static/css/lectern.css');
    text = await scrape();
    expect(sample(text, 'lectern_http_requests_total{method="GET",route="(unmatched)",status="404"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'lectern_http_requests_total{method="GET",route="/static/*",status="200"}')).toBe(1);
    // In no label (a float sum such as 1.1234594 may hold the digits by chance).
    expect(text).not.toMatch(/="[^"]*12345/);

    // The database and the process.
    expect(sample(text, 'lectern_database_bytes{file="main"}')).toBeGreaterThan(0);
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(sample(text, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  }, 120_000);
});

describe('who may scrape', () => {
  it('with the token from anywhere; a wrong or missing token is refused', async () => {
    expect((await t.fetch('/metrics', { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    const wrong = await t.fetch('/metrics', { headers: { authorization: 'Bearer not-the-token-at-all-000000', accept: 'application/json' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await wrong.json()) as { error: string }).error).toMatch(/token is wrong/);
  });

  it('behind a proxy every peer is loopback: only the token opens it, whatever the forwarding headers say', async () => {
    const behind = await createTestApp({ config: { graders: 0, proxy: true, metricsToken: TOKEN } });
    try {
      const refused = await behind.fetch('/metrics', { headers: { 'x-forwarded-for': '127.0.0.1', accept: 'application/json' } });
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { error: string }).error).toMatch(/need the token/);
      expect((await behind.fetch('/metrics', { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    } finally {
      await behind.close();
    }
  });

  it('without a configured token a bearer header opens nothing', async () => {
    const plain = await createTestApp({ config: { graders: 0 } });
    try {
      expect((await plain.fetch('/metrics')).status).toBe(200);
      expect((await plain.fetch('/metrics', { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(403);
    } finally {
      await plain.close();
    }
  });
});

describe("a Redis worker's own metrics", () => {
  it('serves its runs and process figures on its own port', async () => {
    const m = await startWorkerMetrics({ host: '127.0.0.1', port: 0, token: TOKEN, worker: 'grader-7', log: t.app.deps.log });
    try {
      m.jobStarted();
      let text = await (await fetch(m.url)).text();
      expect(sample(text, 'lectern_worker_jobs_running{worker="grader-7"}')).toBe(1);
      m.jobFinished('timeout', 3.5);
      text = await (await fetch(m.url)).text();
      expect(sample(text, 'lectern_worker_jobs_running{worker="grader-7"}')).toBe(0);
      expect(sample(text, 'lectern_worker_jobs_total{status="timeout",worker="grader-7"}')).toBe(1);
      expect(sample(text, 'process_resident_memory_bytes{worker="grader-7"}')).toBeGreaterThan(0);
      expect((await fetch(m.url, { headers: { authorization: 'Bearer wrong-wrong-wrong-wrong-wrong' } })).status).toBe(401);
      expect((await fetch(m.url.replace('/metrics', '/other'))).status).toBe(404);
    } finally {
      await m.stop();
    }
  });
});
