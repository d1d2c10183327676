import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { systemClock } from '../../src/lib/clock.js';
import { createUser } from '../../src/plugins/accounts/users.js';
import { ROOT, tempDir } from '../helpers/index.js';
import { contentWithSlowAssignment, prepareData, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { startSocketSupervisor } from '../helpers/socket-activation.js';
import { requestInFlight } from '../helpers/in-flight.js';

/**
 * LECTERN_WORKERS=2 with real processes (dist/, `npm run build` first): web workers share the
 * socket and answer requests; the primary serves nothing, runs the one grading pool, and takes
 * every shutdown path (signal to it or to a worker, /restart answered by any worker) through a
 * drain of all workers to exit 0.
 */

const CLI = path.join(ROOT, 'dist/start.cjs');
const PASSWORD = 'cluster password 123';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function requireBuild(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before the system tests`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const task of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean)) out.push(Number(task));
  return out;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await Promise.resolve()
      .then(probe)
      .catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** GET /healthz on a fresh connection (each may go to another worker): the answering pid. */
function healthPid(url: string, agent: http.Agent | false = false, timeout = 20_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}/healthz`, { agent, headers: agent ? {} : { connection: 'close' }, timeout }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
        try {
          resolve((JSON.parse(body) as { pid: number }).pid);
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err: NodeJS.ErrnoException & { reused?: boolean }) => {
      err.reused = req.reusedSocket;
      reject(err);
    });
  });
}

async function pidsServing(url: string, n = 24, timeout = 20_000): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0; i < n; i++) pids.add(await healthPid(url, false, timeout));
  return pids;
}

async function startCluster(env: Record<string, string>): Promise<ServerProcess & { dataDir: string }> {
  requireBuild();
  const { dataDir } = prepareData({ email: 'student@example.org', name: 'Cluster Student', password: PASSWORD });
  const server = await startServerProcess({ LECTERN_DATA: dataDir, LECTERN_WORKERS: '2', LECTERN_GRADERS: '0', LECTERN_DRAIN_MS: '5000', ...env });
  cleanups.push(async () => {
    for (const pid of [server.pid, ...(alive(server.pid) ? childrenOf(server.pid) : [])]) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { ...server, dataDir };
}

/** Signs in through the real form; returns a cookie header and the session's CSRF token. */
async function signIn(url: string, email = 'student@example.org'): Promise<{ cookie: string; csrf: string }> {
  const jar = new Map<string, string>();
  const keep = (res: Response) => {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
  let res = await fetch(`${url}/login`);
  keep(res);
  res = await fetch(`${url}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrfOf(await res.text()), email, password: PASSWORD }),
  });
  keep(res);
  expect(res.status).toBe(302);
  res = await fetch(`${url}/account`, { headers: { cookie: cookie() } });
  keep(res);
  return { cookie: cookie(), csrf: csrfOf(await res.text()) };
}


describe('LECTERN_WORKERS=2 on host:port', () => {
  it('both workers answer, the primary answers nothing and runs the one grading pool; SIGTERM drains all, exit 0', async () => {
    const server = await startCluster({ LECTERN_CONTENT: contentWithSlowAssignment(0), LECTERN_GRADERS: '2' });
    expect(server.stderr()).toContain('with 2 workers');
    const pids = await pidsServing(server.url);
    expect(pids.size).toBe(2);
    expect(pids.has(server.pid)).toBe(false);
    for (const pid of pids) expect(parentOf(pid)).toBe(server.pid);

    // Submissions arrive through both workers; every one is graded, each once, by the primary's pool.
    const client = await signIn(server.url);
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) {
      const form = new FormData();
      form.append('files', new Blob([`answer ${i}\n`]), 'answer.txt');
      const res = await fetch(`${server.url}/courses/prog1/assignments/slow/submissions?_csrf=${encodeURIComponent(client.csrf)}`, {
        method: 'POST',
        body: form,
        headers: { cookie: client.cookie, accept: 'application/json', connection: 'close' },
      });
      expect(res.status, await res.clone().text()).toBe(201);
      ids.push(((await res.json()) as { id: number }).id);
    }
    for (const id of ids) {
      await waitFor(`a result for submission ${id}`, async () => {
        const res = await fetch(`${server.url}/courses/prog1/submissions/${id}/status`, { headers: { cookie: client.cookie, accept: 'application/json' } });
        const s = (await res.json()) as { state: string; result: unknown };
        return s.state === 'done' && s.result ? true : undefined;
      }, 60_000);
    }
    const db = new Database(path.join(server.dataDir, 'lectern.db'), { readonly: true });
    const graders = db.prepare('SELECT worker, count(*) AS n, count(DISTINCT job_id) AS jobs FROM results GROUP BY worker').all();
    db.close();
    expect(graders).toEqual([{ worker: `${os.hostname()}:${server.pid}:web`, n: 4, jobs: 4 }]);

    process.kill(server.pid, 'SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  it('/restart answered by a worker drains every worker: the request in flight is answered, exit 0', async () => {
    const server = await startCluster({});
    const pids = await pidsServing(server.url);
    expect(pids.size).toBe(2);
    const inFlight = requestInFlight(server.url);
    const holder = await inFlight.ready;
    expect(pids.has(holder)).toBe(true);
    const token = readFileSync(path.join(server.dataDir, 'restart.token'), 'utf8').trim();
    const res = await fetch(`${server.url}/restart`, { method: 'POST', headers: { 'x-restart-token': token, connection: 'close' } });
    expect(res.status).toBe(202);
    await new Promise((r) => setTimeout(r, 200));
    const answer = await inFlight.finish();
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    expect(answer).toContain(`"pid":${holder}`);
    expect(await server.exited).toEqual({ code: 0, signal: null });
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  it('every worker shows the lecturer the problems of a broken bundle folder', async () => {
    const content = contentWithSlowAssignment(0);
    mkdirSync(path.join(content, 'assignments', 'Bad_Name'));
    const server = await startCluster({ LECTERN_CONTENT: content });
    const db = openDatabase(databasePath(server.dataDir));
    createUser(db, { email: 'lecturer@example.org', name: 'Cluster Lecturer', password: PASSWORD }, systemClock);
    db.close();
    const lecturer = await signIn(server.url, 'lecturer@example.org');
    const pids = new Set<number>();
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${server.url}/courses/prog1/assignments/`, { headers: { cookie: lecturer.cookie, connection: 'close' } });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('Bad_Name: the folder name is the assignment id');
      pids.add(await healthPid(server.url));
    }
    expect(pids.size).toBe(2);
  });

  it('a wrong restart token is refused by every worker', async () => {
    const server = await startCluster({});
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${server.url}/restart`, { method: 'POST', headers: { 'x-restart-token': 'wrong', connection: 'close' } });
      expect(res.status).toBe(403);
    }
    expect(alive(server.pid)).toBe(true);
  });

  it('SIGTERM to one worker drains the whole cluster, exit 0', async () => {
    const server = await startCluster({});
    const pids = [...(await pidsServing(server.url))];
    expect(pids).toHaveLength(2);
    process.kill(pids[0]!, 'SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  it('a worker that dies is replaced, and the cluster keeps serving', async () => {
    const server = await startCluster({});
    const before = await pidsServing(server.url);
    expect(before.size).toBe(2);
    const [victim] = [...before];
    process.kill(victim!, 'SIGKILL');
    // A connection the primary handed to the worker as it died is lost with it: short timeouts.
    const after = await waitFor('a replacement worker', async () => {
      const now = await pidsServing(server.url, 12, 2_000);
      return now.size === 2 && !now.has(victim!) ? now : undefined;
    });
    for (const pid of after) expect(parentOf(pid)).toBe(server.pid);
    expect(server.stderr()).not.toMatch(/failed to start/);
    process.kill(server.pid, 'SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });
});

describe('LECTERN_WORKERS=2 on the service manager socket (fd 3)', () => {
  it('the workers accept on the shared socket; across a /restart none is refused or fails', async () => {
    requireBuild();
    const dataDir = tempDir('lectern-cluster-sa-');
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const sup = await startSocketSupervisor({
      command: process.execPath,
      args: [CLI, 'serve'],
      cwd: ROOT,
      // The primary's children are counted as its workers: no background bundle self-check (its
      // sandboxes are children of the primary too) in a test of sockets.
      env: { NODE_ENV: 'production', LECTERN_DATA: dataDir, LECTERN_CONTENT: path.join(ROOT, 'examples/course'), LECTERN_DRAIN_MS: '5000', LECTERN_GRADERS: '0', LECTERN_WORKERS: '2', LECTERN_SELF_CHECK: 'off' },
    });
    cleanups.push(() => sup.stop());
    const primary1 = await sup.started(1);
    await waitFor('the first cluster', () => (sup.output().includes('with 2 workers (socket from the service manager)') ? true : undefined));
    const workers1 = childrenOf(primary1);
    expect(workers1).toHaveLength(2);

    let stopping = false;
    const tally = { ok: 0, refused: 0, retried: 0, failed: [] as string[], pids: new Map<number, number>() };
    const loop = async (keepAlive: boolean) => {
      const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false;
      while (!stopping) {
        try {
          let pid: number;
          try {
            pid = await healthPid(sup.url, agent);
          } catch (err) {
            const e = err as NodeJS.ErrnoException & { reused?: boolean };
            // RFC 9112 9.3.1: an idempotent request that met a reused connection closing may be sent again.
            if (!e.reused || (e.code !== 'ECONNRESET' && e.message !== 'socket hang up')) throw err;
            tally.retried++;
            pid = await healthPid(sup.url, agent);
          }
          tally.ok++;
          tally.pids.set(pid, (tally.pids.get(pid) ?? 0) + 1);
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          if (e.code === 'ECONNREFUSED') tally.refused++;
          else tally.failed.push(e.code ?? e.message);
        }
      }
      if (agent) agent.destroy();
    };
    const loops = [loop(true), loop(true), loop(false), loop(false)];
    const served = (pids: number[]) => pids.reduce((n, p) => n + (tally.pids.get(p) ?? 0), 0);
    await waitFor('load on the first cluster', () => (served(workers1) > 40 ? true : undefined));

    const token = readFileSync(path.join(dataDir, 'restart.token'), 'utf8').trim();
    const res = await fetch(`${sup.url}/restart`, { method: 'POST', headers: { 'x-restart-token': token, connection: 'close' } });
    expect(res.status).toBe(202);
    expect(await sup.exited(primary1)).toMatchObject({ code: 0, signal: null });
    const primary2 = await sup.started(2);
    const workers2 = await waitFor('the second cluster', () => {
      const kids = alive(primary2) ? childrenOf(primary2) : [];
      return kids.length === 2 && served(kids) > 40 ? kids : undefined;
    });
    stopping = true;
    await Promise.all(loops);

    const context = JSON.stringify({ ...tally, pids: [...tally.pids] });
    expect(tally.refused, context).toBe(0);
    expect(tally.failed, context).toEqual([]);
    // Only workers answered, first of the old cluster, then of the new one.
    for (const pid of tally.pids.keys()) expect([...workers1, ...workers2], context).toContain(pid);
    await sup.stop();
    expect(await sup.exited(primary2)).toMatchObject({ code: 0 });
  });
});
