import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { Agent, ROOT } from '../helpers/index.js';
import { contentWithSlowAssignment, prepareData } from '../helpers/server-process.js';
import { startSocketSupervisor, type SocketSupervisor } from '../helpers/socket-activation.js';
import { upload, waitForResult } from '../helpers/submit.js';

/**
 * /restart while a long test run is going, under socket activation (the production setup): the
 * old process hands the job back at once instead of waiting for it, so serving resumes as soon
 * as the new process is up; the next process grades the job. An upload still arriving when the
 * drain ends is answered 503 "restarting: not stored", never a reset.
 */

const CLI = path.join(ROOT, 'dist/start.cjs');
const WEBSERVICE = path.join(ROOT, 'deploy/webservice');
const student = { email: 'restart@example.org', name: 'Restart Student', password: 'correct horse battery staple' };
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function supervised(dataDir: string, content: string, env: Record<string, string> = {}): Promise<SocketSupervisor> {
  const sup = await startSocketSupervisor({
    command: process.execPath,
    args: [CLI, 'serve'],
    cwd: ROOT,
    env: { NODE_ENV: 'production', LECTERN_DATA: dataDir, LECTERN_CONTENT: content, LECTERN_GRADERS: '1', LECTERN_SELF_CHECK: 'no', LECTERN_LOG_LEVEL: 'warn', ...env },
  });
  cleanups.push(() => sup.stop());
  return sup;
}

async function signedIn(url: string): Promise<Agent> {
  const agent = new Agent(url);
  await agent.get('/login');
  expect((await agent.post('/login', { email: student.email, password: student.password })).status).toBe(302);
  await agent.get('/courses/prog1/assignments/slow/');
  await agent.get('/account');
  return agent;
}

function jobRow(dataDir: string): { state: string; attempts: number; crashes: number } {
  const db = openDatabase(databasePath(dataDir));
  try {
    return db.prepare('SELECT state, attempts, crashes FROM jobs ORDER BY id DESC LIMIT 1').get() as { state: string; attempts: number; crashes: number };
  } finally {
    db.close();
  }
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Stands in for util-linux logger (no syslog daemon in a test): "-t TAG" lines appended to a file. */
function fakeLogger(dir: string): { program: string; read(): string } {
  const file = path.join(dir, 'syslog');
  const program = path.join(dir, 'logger');
  writeFileSync(
    program,
    `#!/bin/sh\ntag=user\nwhile [ $# -gt 0 ]; do case $1 in -t) tag=$2; shift 2;; *) shift;; esac; done\n` +
      `while IFS= read -r line || [ -n "$line" ]; do printf '%s: %s\\n' "$tag" "$line"; done >> '${file}'\n`,
  );
  chmodSync(program, 0o755);
  return { program, read: () => (existsSync(file) ? readFileSync(file, 'utf8') : '') };
}

/** The parent of a process (a cluster worker's primary); null once it is gone. */
function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

function jobWorker(dataDir: string): string | undefined {
  const db = openDatabase(databasePath(dataDir));
  try {
    return db.prepare('SELECT worker FROM results ORDER BY id DESC LIMIT 1').pluck().get() as string | undefined;
  } finally {
    db.close();
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A GET on a connection of its own (no pooled keep-alive connection to an older server). */
function freshGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: 'close' }, timeout: 60_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 60 s')));
    req.on('error', reject);
  });
}

/** An upload that sends its first megabyte of 8 announced and then stalls, holding a drain open. */
function stalledUpload(url: string, me: Agent): { answer: Promise<{ status: number; retryAfter: string | undefined; body: string }>; cut(): void } {
  const boundary = 'lecterndrainboundary';
  const u = new URL(`${url}/courses/prog1/assignments/slow/submissions?_csrf=${encodeURIComponent(me.csrf)}`);
  const req = http.request(u, {
    method: 'POST',
    headers: {
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(8 * 1024 * 1024),
      cookie: [...me.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
      accept: 'application/json',
    },
  });
  const answer = new Promise<{ status: number; retryAfter: string | undefined; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined, body }));
    });
    req.on('error', reject);
  });
  // Handled here too: a test that fails early cuts the upload in its clean-up.
  answer.catch(() => undefined);
  req.write(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="answer.txt"\r\nContent-Type: text/plain\r\n\r\n`);
  req.write(Buffer.alloc(1024 * 1024, 'a'));
  cleanups.push(() => void req.destroy());
  return { answer, cut: () => void req.destroy() };
}

describe('a restart during a long test run (socket activation, real processes)', () => {
  it('the old process exits at once whatever the test run, the page loads never fail; the job is handed back and graded by the next process', { timeout: 120_000 }, async () => {
    const { dataDir } = prepareData(student);
    const content = contentWithSlowAssignment(8);
    const sup = await supervised(dataDir, content);
    const pid1 = await sup.started(1);
    const me = await signedIn(sup.url);
    const res = await upload(me, 'prog1', 'slow', [{ name: 'answer.txt', content: 'long' }]);
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: number };
    await until('the job to run', () => (jobRow(dataDir).state === 'running' ? true : undefined));

    // A page load every 50 ms, as a class reloading would, through the restart.
    const loads: Array<{ at: number; status: number; pid: number | null }> = [];
    let stop = false;
    const loader = (async () => {
      while (!stop) {
        try {
          // A GET on a kept-alive connection the draining server closes as idle at that moment
          // is reset; browsers send it again on a new connection, and so does this loader.
          const get = () => fetch(`${sup.url}/healthz`, { signal: AbortSignal.timeout(20_000) });
          const r = await get().catch((err: { cause?: { code?: string } }) => {
            if (['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes(err.cause?.code ?? '')) return get();
            throw err;
          });
          const body = (await r.json()) as { pid: number };
          loads.push({ at: Date.now(), status: r.status, pid: body.pid });
        } catch {
          loads.push({ at: Date.now(), status: 0, pid: null });
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const token = readFileSync(path.join(dataDir, 'restart.token'), 'utf8').trim();
    const called = Date.now();
    expect((await fetch(`${sup.url}/restart`, { method: 'POST', headers: { 'x-restart-token': token } })).status).toBe(202);
    const firstNew = await until('a page from the new process', () => loads.find((l) => l.pid !== null && l.pid !== pid1 && l.status === 200));
    await until('a few more pages', () => (loads.filter((l) => l.at > firstNew.at).length >= 5 ? true : undefined));
    stop = true;
    await loader;
    expect(loads.filter((l) => l.status !== 200)).toEqual([]);
    // What the old process owes the restart is its own exit: it no longer waits for the 8 s test
    // run. Shown by behaviour, not by a clock: it exited without finishing the job, which the
    // next process (started only after that exit, here) then graded.
    const exit = await sup.exited(pid1);
    expect(exit).toMatchObject({ code: 0 });
    expect(exit.at).toBeGreaterThan(called);
    expect(firstNew.at).toBeGreaterThan(exit.at);
    expect(jobRow(dataDir)).toMatchObject({ crashes: 0 });

    const status = await waitForResult(me, 'prog1', id, 90_000);
    expect(status.result).toMatchObject({ status: 'passed', gradable: true });
    expect(jobRow(dataDir)).toEqual({ state: 'done', attempts: 1, crashes: 0 });
    const db = openDatabase(databasePath(dataDir));
    const workers = db.prepare('SELECT worker FROM results').pluck().all() as string[];
    db.close();
    expect(workers).toEqual([expect.stringContaining(`:${firstNew.pid}:`)]);
  });

  it('an upload still arriving when the drain ends gets 503 "restarting: not stored"; sent again it is stored once', { timeout: 120_000 }, async () => {
    const { dataDir } = prepareData(student);
    const content = contentWithSlowAssignment(0);
    const sup = await supervised(dataDir, content, { LECTERN_DRAIN_MS: '300' });
    const pid1 = await sup.started(1);
    const me = await signedIn(sup.url);
    const { answer } = stalledUpload(sup.url, me);
    const tmp = path.join(dataDir, 'blobs', 'tmp');
    await until('the upload to reach the disk', () => (readdirSync(tmp).length > 0 ? true : undefined));
    const token = readFileSync(path.join(dataDir, 'restart.token'), 'utf8').trim();
    expect((await fetch(`${sup.url}/restart`, { method: 'POST', headers: { 'x-restart-token': token } })).status).toBe(202);
    const got = await answer;
    expect(got.status).toBe(503);
    expect(Number(got.retryAfter)).toBeGreaterThan(0);
    expect(JSON.parse(got.body)).toMatchObject({ restarting: true, error: expect.stringMatching(/restarting.*nothing was stored.*send it again/) });
    expect(await sup.exited(pid1)).toMatchObject({ code: 0 });

    // Nothing of it was kept; sent again to the new process, it is stored once.
    await sup.started(2);
    const again = await upload(me, 'prog1', 'slow', [{ name: 'answer.txt', content: 'again' }]);
    expect(again.status).toBe(201);
    const db = openDatabase(databasePath(dataDir));
    const n = (db.prepare('SELECT count(*) AS n FROM submissions').get() as { n: number }).n;
    db.close();
    expect(n).toBe(1);
    expect(readdirSync(tmp)).toEqual([]);
    rmSync(content, { recursive: true, force: true });
  });
  for (const workers of [1, 2]) {
    it(`deploy/webservice${workers > 1 ? ', a cluster of 2 web workers,' : ''} starts the next server as soon as the old one stops accepting: a request sent right after /restart is answered by the new process while the old one still drains; the job is graded once, by the new one`, { timeout: 180_000 }, async () => {
      const { dataDir } = prepareData(student);
      const content = contentWithSlowAssignment(8);
      const dir = path.dirname(dataDir);
      const logger = fakeLogger(dataDir);
      cleanups.push(() => rmSync(content, { recursive: true, force: true }));
      // The drain may last 60 s: only the handover, not the drain's end, can let the new server in.
      const sup = await startSocketSupervisor({
        command: WEBSERVICE,
        args: [],
        cwd: dir,
        env: {
          NODE_ENV: 'production',
          LECTERN_ENV_FILE: '/dev/null',
          LECTERN_SITE: ROOT,
          LECTERN_LOGGER: logger.program,
          LECTERN_DATA: dataDir,
          LECTERN_CONTENT: content,
          LECTERN_GRADERS: '1',
          LECTERN_WORKERS: String(workers),
          LECTERN_SELF_CHECK: 'no',
          LECTERN_DRAIN_MS: '60000',
          LECTERN_LOG_LEVEL: 'info',
        },
      });
      cleanups.push(() => sup.stop());
      // The server a restart replaces: the process that answers, or a cluster worker's primary.
      const serverOf = (pid: number) => (workers > 1 ? (parentOf(pid) ?? undefined) : pid);
      const healthz = async (): Promise<number | undefined> => {
        try {
          const r = await fetch(`${sup.url}/healthz`, { signal: AbortSignal.timeout(30_000) });
          return r.status === 200 ? serverOf(((await r.json()) as { pid: number }).pid) : undefined;
        } catch {
          return undefined;
        }
      };
      const pid1 = await until('the first server', healthz, 60_000);
      const me = await signedIn(sup.url);
      const res = await upload(me, 'prog1', 'slow', [{ name: 'answer.txt', content: 'long' }]);
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as { id: number };
      await until('the job to run', () => (jobRow(dataDir).state === 'running' ? true : undefined));
      // An upload that never finishes keeps the old server's drain open for up to a minute.
      const stalled = stalledUpload(sup.url, me);
      await until('the upload to reach the disk', () => (readdirSync(path.join(dataDir, 'blobs', 'tmp')).length > 0 ? true : undefined));

      const token = readFileSync(path.join(dataDir, 'restart.token'), 'utf8').trim();
      expect((await fetch(`${sup.url}/restart`, { method: 'POST', headers: { 'x-restart-token': token } })).status).toBe(202);
      // Sent on a new connection right after the restart call: answered by the next server,
      // never refused (keep-alive connections to the old one may still get an answer from it).
      const first = await freshGet(`${sup.url}/healthz`);
      expect(first.status).toBe(200);
      const pid2 = serverOf((JSON.parse(first.body) as { pid: number }).pid);
      const context = () => `${JSON.stringify(sup.events)}\n${sup.output()}\n${logger.read()}`;
      expect(pid2, context()).not.toBe(pid1);
      // ... while the old one is still draining (the stalled upload holds it).
      expect(isRunning(pid1), context()).toBe(true);
      expect(logger.read()).toMatch(/server handed over after \d+ ms \(restart\): starting the next while it drains/);
      // A page and a sign-in on the new process while the old one drains.
      expect((await me.get('/courses/prog1/assignments/slow/')).res.status).toBe(200);

      // The upload cut off by its client ends the old server's drain; the loop reaps it.
      stalled.cut();
      await stalled.answer.catch(() => undefined);
      await until('the old server to exit', () => (isRunning(pid1) ? undefined : true), 60_000);
      expect(await healthz()).toBe(pid2);

      // The job was handed back at the drain's start and graded once, by the new server.
      const status = await waitForResult(me, 'prog1', id, 90_000);
      expect(status.result).toMatchObject({ status: 'passed', gradable: true });
      expect(jobRow(dataDir)).toEqual({ state: 'done', attempts: 1, crashes: 0 });
      const db = openDatabase(databasePath(dataDir));
      const results = db.prepare('SELECT count(*) AS n FROM results WHERE job_id = (SELECT id FROM jobs ORDER BY id DESC LIMIT 1)').get() as { n: number };
      db.close();
      expect(results.n).toBe(1);
      // By the new server: the old one handed it back as its drain began, although that drain went on.
      expect(jobWorker(dataDir)).toContain(`:${pid2}:`);
      // The loop itself ran on: one start of it, every server a child of it.
      expect(sup.events.filter((e) => e.event === 'started')).toHaveLength(1);
    });
  }
});
