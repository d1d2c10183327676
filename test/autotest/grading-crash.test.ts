import http from 'node:http';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { Agent } from '../helpers/index.js';
import { contentWithSlowAssignment, prepareData, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { upload, waitForResult, type StatusJson } from '../helpers/submit.js';

const student = { email: 'crash@example.org', name: 'Crash Test', password: 'correct horse battery staple' };
const running: ServerProcess[] = [];

afterEach(() => {
  for (const p of running.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
});

async function start(dataDir: string, contentDir: string, extra: Record<string, string> = {}): Promise<ServerProcess> {
  const p = await startServerProcess({ LECTERN_DATA: dataDir, LECTERN_CONTENT: contentDir, LECTERN_GRADERS: '1', ...extra });
  running.push(p);
  return p;
}

async function login(url: string): Promise<Agent> {
  const agent = new Agent(url);
  await agent.get('/login');
  const res = await agent.post('/login', { email: student.email, password: student.password });
  expect(res.status).toBe(302);
  await agent.get('/account');
  return agent;
}

async function waitForState(agent: Agent, id: number, state: string): Promise<StatusJson> {
  for (let i = 0; i < 300; i++) {
    const s = (await (await agent.fetch(`/courses/prog1/submissions/${id}/status`)).json()) as StatusJson;
    if (s.state === state) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`submission ${id} never reached ${state}`);
}

function inspect(dataDir: string) {
  const db = openDatabase(databasePath(dataDir));
  try {
    return {
      integrity: db.pragma('integrity_check', { simple: true }),
      submissions: (db.prepare('SELECT count(*) AS n FROM submissions').get() as { n: number }).n,
      jobs: db.prepare('SELECT id, state, attempts FROM jobs ORDER BY id').all() as Array<{ id: number; state: string; attempts: number }>,
      results: db.prepare('SELECT job_id, submission_id, status FROM results ORDER BY id').all() as Array<{ job_id: number; submission_id: number; status: string }>,
      files: (db.prepare('SELECT count(*) AS n FROM submission_files').get() as { n: number }).n,
    };
  } finally {
    db.close();
  }
}

describe('nothing is lost across restarts and crashes (real processes)', () => {
  it('a restart during grading hands the job back; the next process completes it, one result', async () => {
    const { dataDir } = prepareData(student);
    const content = contentWithSlowAssignment(4);
    const a = await start(dataDir, content, { LECTERN_DRAIN_MS: '500' });
    const agentA = await login(a.url);
    const res = await upload(agentA, 'prog1', 'slow', [{ name: 'answer.txt', content: 'hello' }]);
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: number };
    await waitForState(agentA, id, 'running');
    a.child.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    const mid = inspect(dataDir);
    expect(mid.jobs).toEqual([{ id: 1, state: 'queued', attempts: 0 }]);
    expect(mid.results).toEqual([]);

    const b = await start(dataDir, content);
    const agentB = await login(b.url);
    const s = await waitForResult(agentB, 'prog1', id, 30_000);
    expect(s.result).toMatchObject({ status: 'passed', gradable: true });
    b.child.kill('SIGTERM');
    await b.exited;
    const end = inspect(dataDir);
    expect(end.integrity).toBe('ok');
    expect(end.jobs).toEqual([{ id: 1, state: 'done', attempts: 1 }]);
    expect(end.results).toEqual([{ job_id: 1, submission_id: id, status: 'passed' }]);
  });

  it('a restart does not wait for the running job, however long the drain may be: handed back at once', async () => {
    const { dataDir } = prepareData(student);
    const content = contentWithSlowAssignment(30);
    const a = await start(dataDir, content, { LECTERN_DRAIN_MS: '60000' });
    const agent = await login(a.url);
    const { id } = (await (await upload(agent, 'prog1', 'slow', [{ name: 'answer.txt', content: 'x' }])).json()) as { id: number };
    await waitForState(agent, id, 'running');
    a.child.kill('SIGTERM');
    // The 30 s test run and the 60 s drain allowance do not hold the exit.
    expect((await a.exited).code).toBe(0);
    const end = inspect(dataDir);
    expect(end.jobs).toEqual([{ id: 1, state: 'queued', attempts: 0 }]);
    expect(end.results).toHaveLength(0);
  });

  it('kill -9 during a run: the next start puts the job back at once and grades it once', async () => {
    const { dataDir } = prepareData(student);
    const content = contentWithSlowAssignment(3);
    const a = await start(dataDir, content);
    const agentA = await login(a.url);
    const { id } = (await (await upload(agentA, 'prog1', 'slow', [{ name: 'answer.txt', content: 'x' }])).json()) as { id: number };
    await waitForState(agentA, id, 'running');
    a.child.kill('SIGKILL');
    await a.exited;
    expect(inspect(dataDir).jobs[0]!.state).toBe('running');

    const b = await start(dataDir, content);
    const agentB = await login(b.url);
    const s = await waitForResult(agentB, 'prog1', id, 30_000);
    expect(s.result).toMatchObject({ status: 'passed' });
    b.child.kill('SIGTERM');
    await b.exited;
    const end = inspect(dataDir);
    expect(end.integrity).toBe('ok');
    expect(end.results).toHaveLength(1);
    // The crash was the server's, not the job's: it costs no attempt.
    expect(end.jobs).toEqual([{ id: 1, state: 'done', attempts: 1 }]);
  });

  it('kill -9 during an upload: no submission, no job, and the partial file is swept at the next start', async () => {
    const { dataDir } = prepareData(student);
    const content = contentWithSlowAssignment(1);
    const a = await start(dataDir, content);
    const agent = await login(a.url);
    const boundary = 'lecternboundary';
    const total = 32 * 1024 * 1024;
    const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="answer.txt"\r\nContent-Type: text/plain\r\n\r\n`);
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const u = new URL(`${a.url}/courses/prog1/assignments/slow/submissions?_csrf=${encodeURIComponent(agent.csrf)}`);
    const req = http.request(u, {
      method: 'POST',
      headers: {
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(head.length + total + tail.length),
        cookie: [...agent.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
        accept: 'application/json',
      },
    });
    req.on('error', () => undefined);
    req.write(head);
    const chunk = Buffer.alloc(1024 * 1024, 'a');
    for (let i = 0; i < 8; i++) req.write(chunk);
    const tmp = path.join(dataDir, 'blobs', 'tmp');
    for (let i = 0; i < 100 && readdirSync(tmp).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(readdirSync(tmp).length).toBeGreaterThan(0);
    a.child.kill('SIGKILL');
    await a.exited;
    req.destroy();

    const b = await start(dataDir, content);
    expect(readdirSync(tmp)).toEqual([]);
    b.child.kill('SIGTERM');
    await b.exited;
    const end = inspect(dataDir);
    expect(end.integrity).toBe('ok');
    expect(end).toMatchObject({ submissions: 0, jobs: [], results: [], files: 0 });
  });
});
