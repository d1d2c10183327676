import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, rmSync, statfsSync, truncateSync, writeSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { systemClock } from '../../src/lib/clock.js';
import { createUser, enrol } from '../../src/plugins/accounts/users.js';
import { Agent, tempDir } from '../helpers/index.js';
import { contentWithSlowAssignment, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { upload, waitForResult } from '../helpers/submit.js';

/**
 * The data dir on a small real tmpfs, filled up under a running server: uploads are refused
 * early with 503 + Retry-After, an upload that meets ENOSPC mid-way is answered and leaves no
 * temp file, sign-in and pages never answer 500, the dashboard says so, and everything works
 * again once space is freed.
 */

const student = { email: 'disk@example.org', name: 'Disk Student', password: 'correct horse battery staple' };
const admin = { email: 'diskadmin@example.org', password: 'another long password here' };
const MB = 1024 * 1024;
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function mountTmpfs(sizeMb: number): string | null {
  const dir = tempDir('lectern-full-');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  cleanups.push(() => {
    spawnSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

const free = (dir: string) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

/** Fills the file system holding `dir` until writes fail, leaving `leaveBytes` free. */
function fill(dir: string, leaveBytes = 0): string {
  const file = path.join(dir, 'filler');
  const fd = openSync(file, 'a');
  const chunk = Buffer.alloc(256 * 1024, 1);
  try {
    for (;;) {
      const room = free(dir) - leaveBytes;
      if (room <= 0) break;
      writeSync(fd, chunk, 0, Math.min(chunk.length, room));
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return file;
}

async function login(url: string, who: { email: string; password: string }): Promise<{ agent: Agent; status: number }> {
  const agent = new Agent(url);
  await agent.get('/login');
  const res = await agent.post('/login', { email: who.email, password: who.password });
  return { agent, status: res.status };
}

/** An upload sent in chunks without a length (as a stream), so no early check can know its size. */
function chunkedUpload(url: string, agent: Agent, bytes: number): Promise<{ status: number; retryAfter: string | undefined; body: string }> {
  const boundary = 'lecternfullboundary';
  const u = new URL(`${url}/courses/prog1/assignments/slow/submissions?_csrf=${encodeURIComponent(agent.csrf)}`);
  return new Promise((resolve, reject) => {
    const req = http.request(u, {
      method: 'POST',
      headers: {
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'transfer-encoding': 'chunked',
        cookie: [...agent.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
        accept: 'application/json',
      },
      timeout: 30_000,
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined, body }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', reject);
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="answer.txt"\r\nContent-Type: text/plain\r\n\r\n`);
    const chunk = Buffer.alloc(MB, 'a');
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end(`\r\n--${boundary}--\r\n`);
    };
    pump();
  });
}

describe('a full disk under the data dir (real tmpfs, real server process)', () => {
  it('uploads get 503 + Retry-After early or mid-way, no temp file stays, sign-in and pages never 500; freeing space brings everything back', { timeout: 120_000 }, async (ctx) => {
    const dataDir = mountTmpfs(40);
    ctx.skip(dataDir === null, 'cannot mount a tmpfs here (needs root)');
    const db = openDatabase(databasePath(dataDir!));
    migrate(db);
    const userId = createUser(db, student, systemClock);
    enrol(db, { userId, course: 'prog1', role: 'student' }, systemClock);
    createUser(db, { email: admin.email, name: 'Disk Admin', password: admin.password, isAdmin: true }, systemClock);
    db.close();
    const content = contentWithSlowAssignment(0);
    const server: ServerProcess = await startServerProcess({ LECTERN_DATA: dataDir!, LECTERN_CONTENT: content, LECTERN_GRADERS: '1', LECTERN_DISK_RESERVE_MB: '4' });
    cleanups.push(() => {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    });
    const { agent: me } = await login(server.url, student);
    await me.get('/account');
    const { agent: staff } = await login(server.url, admin);
    const first = await upload(me, 'prog1', 'slow', [{ name: 'answer.txt', content: 'before' }]);
    expect(first.status).toBe(201);
    expect((await waitForResult(me, 'prog1', ((await first.json()) as { id: number }).id, 30_000)).result).toMatchObject({ status: 'passed' });

    // Below the reserve: refused before the body is read.
    const filler = fill(dataDir!, 2 * MB);
    const early = await upload(me, 'prog1', 'slow', [{ name: 'answer.txt', content: 'during' }]);
    expect(early.status).toBe(503);
    expect(Number(early.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await early.json()) as { error: string }).error).toMatch(/disk is nearly full.*not stored/);
    const dash = await staff.get('/courses/prog1/dashboard');
    expect(dash.res.status).toBe(200);
    expect(dash.text).toMatch(/id="disk-space">Data disk: [\d.]+ MB free, below the reserve of 4\.0 MB: <strong>uploads are refused/);

    // Completely full: the disk check passes a stream of unknown length, which meets ENOSPC.
    truncateSync(filler, 0);
    fill(dataDir!, 6 * MB);
    const mid = await chunkedUpload(server.url, me, 12 * MB);
    expect(mid.status).toBe(503);
    expect(Number(mid.retryAfter)).toBeGreaterThan(0);
    expect(mid.body).toMatch(/disk is full: nothing was stored/);
    expect(readdirSync(path.join(dataDir!, 'blobs', 'tmp'))).toEqual([]);
    fill(dataDir!, 0);

    // Sign-in and pages: never a 500 (sign-in may be refused with 503 when the session cannot be written).
    for (let i = 0; i < 3; i++) {
      const { status } = await login(server.url, student);
      expect([302, 503]).toContain(status);
    }
    for (const page of ['/', '/courses/prog1', '/courses/prog1/assignments/slow', '/healthz', '/login']) {
      const res = await me.fetch(page, { redirect: 'follow' });
      expect(res.status, page).toBe(200);
    }
    const refused = await upload(me, 'prog1', 'slow', [{ name: 'answer.txt', content: 'full' }]);
    expect(refused.status).toBe(503);

    // Space freed: everything works again, on the same process.
    rmSync(filler);
    expect(free(dataDir!)).toBeGreaterThan(30 * MB);
    const again = await login(server.url, student);
    expect(again.status).toBe(302);
    await again.agent.get('/account');
    const after = await upload(again.agent, 'prog1', 'slow', [{ name: 'answer.txt', content: 'after' }]);
    expect(after.status).toBe(201);
    const { id } = (await after.json()) as { id: number };
    expect((await waitForResult(again.agent, 'prog1', id, 30_000)).result).toMatchObject({ status: 'passed' });
    const db2 = openDatabase(databasePath(dataDir!));
    const counts = db2.prepare('SELECT (SELECT count(*) FROM submissions) AS s, (SELECT count(*) FROM results) AS r').get();
    db2.close();
    expect(counts).toEqual({ s: 2, r: 2 });
    expect(existsSync(path.join(dataDir!, 'blobs', 'tmp'))).toBe(true);
    expect(readdirSync(path.join(dataDir!, 'blobs', 'tmp'))).toEqual([]);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });
  it('grading through a full disk: a test run finishing on a full disk is kept and recorded once space returns, queued jobs wait without spinning, uploads meanwhile get 503 + Retry-After, nothing is lost', { timeout: 180_000 }, async (ctx) => {
    const dataDir = mountTmpfs(40);
    ctx.skip(dataDir === null, 'cannot mount a tmpfs here (needs root)');
    const db = openDatabase(databasePath(dataDir!));
    migrate(db);
    const userId = createUser(db, student, systemClock);
    enrol(db, { userId, course: 'prog1', role: 'student' }, systemClock);
    db.close();
    const content = contentWithSlowAssignment(3);
    cleanups.push(() => rmSync(content, { recursive: true, force: true }));
    const server: ServerProcess = await startServerProcess({ LECTERN_DATA: dataDir!, LECTERN_CONTENT: content, LECTERN_GRADERS: '1', LECTERN_DISK_RESERVE_MB: '4' });
    cleanups.push(() => {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    });
    const { agent: me } = await login(server.url, student);
    await me.get('/courses/prog1/assignments/slow/');
    await me.get('/account');
    const jobs = () => {
      const d = openDatabase(databasePath(dataDir!));
      try {
        return d.prepare('SELECT j.id, j.state, j.attempts, j.crashes, (SELECT count(*) FROM results r WHERE r.job_id = j.id) AS results FROM jobs j ORDER BY j.id').all() as Array<{ id: number; state: string; attempts: number; crashes: number; results: number }>;
      } finally {
        d.close();
      }
    };
    const until = async <T>(what: string, probe: () => T | undefined, timeoutMs = 60_000): Promise<T> => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const v = probe();
        if (v !== undefined) return v;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(jobs())}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    // Two submissions: the first runs (3 s), the second waits in the queue behind it.
    const ids: number[] = [];
    for (const text of ['first', 'second']) {
      const res = await upload(me, 'prog1', 'slow', [{ name: 'answer.txt', content: text }]);
      expect(res.status).toBe(201);
      ids.push(((await res.json()) as { id: number }).id);
    }
    await until('the first job to run', () => (jobs()[0]?.state === 'running' ? true : undefined));

    // The disk fills up while it runs, and stays full well past its end.
    const filler = fill(dataDir!, 0);
    const refused = await upload(me, 'prog1', 'slow', [{ name: 'answer.txt', content: 'while full' }]);
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // Long enough for the 3 s run to end and a spinning grader to have re-run it many times.
    const fullUntil = Date.now() + 8_000;
    while (Date.now() < fullUntil) {
      for (const j of jobs()) {
        // No run twice: a job is taken once (attempts 1 at most), never set aside, never failed.
        expect(j.attempts, JSON.stringify(jobs())).toBeLessThanOrEqual(1);
        expect(j.crashes).toBe(0);
        expect(['queued', 'running', 'done']).toContain(j.state);
      }
      expect((await me.fetch('/healthz')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 250));
    }

    // Space returns: the finished run's result is recorded (or was, if SQLite had room in its
    // log), the queued job runs, each once, on the same process.
    rmSync(filler);
    for (const id of ids) expect((await waitForResult(me, 'prog1', id, 60_000)).result).toMatchObject({ status: 'passed' });
    expect(jobs()).toEqual([
      { id: expect.any(Number), state: 'done', attempts: 1, crashes: 0, results: 1 },
      { id: expect.any(Number), state: 'done', attempts: 1, crashes: 0, results: 1 },
    ]);
    const after = await upload(me, 'prog1', 'slow', [{ name: 'answer.txt', content: 'after' }]);
    expect(after.status).toBe(201);
    const afterId = ((await after.json()) as { id: number }).id;
    expect((await waitForResult(me, 'prog1', afterId, 60_000)).result).toMatchObject({ status: 'passed' });
    const d = openDatabase(databasePath(dataDir!));
    const counts = d.prepare('SELECT (SELECT count(*) FROM submissions) AS s, (SELECT count(*) FROM results) AS r').get();
    d.close();
    expect(counts).toEqual({ s: 3, r: 3 });
    expect(readdirSync(path.join(dataDir!, 'blobs', 'tmp'))).toEqual([]);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });
});
