import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { freePort } from '../helpers/ports.js';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/config.js';
import { memoryLogger } from '../../src/lib/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { DEMO_CONTENT, ROOT, tempDir } from '../helpers/index.js';
import { createNetns, netnsUnavailable, type Netns } from '../helpers/netns.js';
import { startSocketSupervisor, type SocketSupervisor } from '../helpers/socket-activation.js';
import { requestInFlight } from '../helpers/in-flight.js';

const CLI = path.join(ROOT, 'dist/start.cjs');
const WEBSERVICE = path.join(ROOT, 'deploy/webservice');
const HOOK = path.join(ROOT, 'deploy/post-update');

function requireBuild(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before the system tests`);
}

/** Stands in for util-linux logger (no syslog daemon in a test): "-t TAG" lines appended to a file. */
function fakeLogger(dir: string): { program: string; file: string; read(): string } {
  const file = path.join(dir, 'syslog');
  const program = path.join(dir, 'logger');
  writeFileSync(
    program,
    `#!/bin/sh\ntag=user\nwhile [ $# -gt 0 ]; do case $1 in -t) tag=$2; shift 2;; *) shift;; esac; done\n` +
      `while IFS= read -r line || [ -n "$line" ]; do printf '%s: %s\\n' "$tag" "$line"; done >> '${file}'\n`,
  );
  chmodSync(program, 0o755);
  return { program, file, read: () => (existsSync(file) ? readFileSync(file, 'utf8') : '') };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The pid that answers /healthz, on a connection of its own: a pooled keep-alive connection left
 * idle across a long step (a push that builds) may be closed by the server just as it is reused,
 * and fetch then fails with "other side closed" although the server is well.
 */
async function healthPid(url: string): Promise<number | undefined> {
  const res = await getOnce(`${url}/healthz`, false);
  return res.status === 200 ? res.pid : undefined;
}

// ---------------------------------------------------------------------------------------------
// A steady stream of requests across a restart.

interface Tally {
  ok: number;
  refused: number;
  failed: string[];
  /** Requests that met a keep-alive connection closed under them and were sent again, as HTTP clients do. */
  retried: number;
  pids: Map<number, number>;
}

function getOnce(url: string, agent: http.Agent | false): Promise<{ status: number; pid: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers: agent ? {} : { connection: 'close' }, timeout: 20_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode!, pid: (JSON.parse(body) as { pid: number }).pid });
        } catch (err) {
          reject(err);
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err: NodeJS.ErrnoException & { reused?: boolean }) => {
      err.reused = req.reusedSocket;
      reject(err);
    });
  });
}

/** Keep-alive and fresh-connection clients hitting /healthz until stop() is called. */
function steadyLoad(url: string, clients = 3): { tally: Tally; stop(): Promise<void> } {
  const tally: Tally = { ok: 0, refused: 0, failed: [], retried: 0, pids: new Map() };
  let stopping = false;
  const loop = async (keepAlive: boolean) => {
    const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false;
    while (!stopping) {
      try {
        let res;
        try {
          res = await getOnce(`${url}/healthz`, agent);
        } catch (err) {
          const e = err as NodeJS.ErrnoException & { reused?: boolean };
          // RFC 9112 9.3.1: an idempotent request that met a reused connection closing may be sent again.
          if (!e.reused || (e.code !== 'ECONNRESET' && e.message !== 'socket hang up')) throw err;
          tally.retried++;
          res = await getOnce(`${url}/healthz`, agent);
        }
        if (res.status === 200) {
          tally.ok++;
          tally.pids.set(res.pid, (tally.pids.get(res.pid) ?? 0) + 1);
        } else tally.failed.push(`HTTP ${res.status}`);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'ECONNREFUSED') tally.refused++;
        else tally.failed.push(e.code ?? e.message);
      }
    }
    if (agent) agent.destroy();
  };
  const loops = [...Array.from({ length: clients }, () => loop(true)), ...Array.from({ length: clients }, () => loop(false))];
  return {
    tally,
    async stop() {
      stopping = true;
      await Promise.all(loops);
    },
  };
}


async function restartUnderLoad(url: string, dataDir: string) {
  const pid1 = await waitFor('the first server', () => healthPid(url));
  const load = steadyLoad(url);
  await waitFor('load on the first server', async () => ((load.tally.pids.get(pid1) ?? 0) > 20 ? true : undefined));
  const inFlight = requestInFlight(url);
  expect(await inFlight.ready).toBe(pid1);
  const token = readFileSync(path.join(dataDir, 'restart.token'), 'utf8').trim();
  const restart = await fetch(`${url}/restart`, { method: 'POST', headers: { 'x-restart-token': token } });
  expect(restart.status).toBe(202);
  // The drain has begun; the request in flight holds the old process until it is answered.
  await new Promise((r) => setTimeout(r, 200));
  const answer = await inFlight.finish();
  const pid2 = await waitFor('a response from a new process', async () => [...load.tally.pids.keys()].find((p) => p !== pid1));
  await waitFor('load on the new server', async () => ((load.tally.pids.get(pid2) ?? 0) > 20 ? true : undefined));
  await load.stop();
  return { pid1, pid2, answer, tally: load.tally };
}

function expectCleanRestart(result: Awaited<ReturnType<typeof restartUnderLoad>>, output: () => string) {
  const { pid1, pid2, answer, tally } = result;
  const context = `tally ${JSON.stringify({ ...tally, pids: [...tally.pids] })}\n${output()}`;
  expect(answer, context).toMatch(/^HTTP\/1\.1 200 /);
  expect(answer).toMatch(/\r\nconnection: close\r\n/i);
  expect(answer).toContain(`"pid":${pid1}`);
  expect(tally.refused, context).toBe(0);
  expect(tally.failed, context).toEqual([]);
  expect(pid2).not.toBe(pid1);
  expect([...tally.pids.keys()].sort()).toEqual([pid1, pid2].sort());
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('socket activation: the listening socket outlives the process', () => {
  // Bounds for a busy machine: each test starts servers, some several times.
  it('a manager holding the socket (systemd stand-in) restarts the server: none refused, the request in flight answered', { timeout: 180_000 }, async () => {
    requireBuild();
    const dataDir = tempDir('lectern-sa-');
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const sup: SocketSupervisor = await startSocketSupervisor({
      command: process.execPath,
      args: [CLI, 'serve'],
      cwd: ROOT,
      env: { NODE_ENV: 'production', LECTERN_DATA: dataDir, LECTERN_CONTENT: DEMO_CONTENT, LECTERN_DRAIN_MS: '5000', LECTERN_GRADERS: '1' },
    });
    cleanups.push(() => sup.stop());
    const result = await restartUnderLoad(sup.url, dataDir);
    expectCleanRestart(result, sup.output);
    expect(await sup.exited(result.pid1)).toMatchObject({ code: 0, signal: null });
    expect(sup.events.filter((e) => e.event === 'started').map((e) => e.pid)).toEqual([result.pid1, result.pid2]);
    expect(sup.output()).toContain('(socket from the service manager)');
    await sup.stop();
    expect(await sup.exited(result.pid2)).toMatchObject({ code: 0 });
  });

  it('deploy/webservice given the socket hands it to each server run', { timeout: 180_000 }, async () => {
    requireBuild();
    const dir = tempDir('lectern-ws-');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const dataDir = path.join(dir, 'data');
    const logger = fakeLogger(dir);
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
        LECTERN_CONTENT: DEMO_CONTENT,
        LECTERN_DRAIN_MS: '5000',
        LECTERN_GRADERS: '1',
      },
    });
    cleanups.push(() => sup.stop());
    const result = await restartUnderLoad(sup.url, dataDir);
    expectCleanRestart(result, () => sup.output() + logger.read());
    await waitFor('the old server to exit', async () => (isRunning(result.pid1) ? undefined : true));
    const webservice = await sup.started(1);
    // The loop itself never restarts: only the servers it runs do. Every start and exit of the
    // loop, and all it wrote, go with a failure.
    expect(sup.events.filter((e) => e.event === 'started'), `${JSON.stringify(sup.events)}\n${sup.output()}\n${logger.read()}`).toHaveLength(1);
    expect(logger.read()).toContain('with the socket from the service manager');
    expect(logger.read()).toMatch(/server handed over after \d+ ms \(restart\): starting the next while it drains/);
    await sup.stop();
    expect(await sup.exited(webservice)).toMatchObject({ code: 0 });
    expect(isRunning(result.pid2)).toBe(false);
    expect(logger.read()).toContain('webservice: stopped (server exit status 0)');
  });
});

// ---------------------------------------------------------------------------------------------

describe('a peer on another interface', () => {
  let ns: Netns | undefined;
  let running: RunningServer | undefined;
  let dataDir: string | undefined;
  afterAll(async () => {
    await running?.app.close();
    await ns?.cleanup();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('gets 403 whatever its headers claim, even with the right token, and is logged with its address', async (ctx) => {
    const unavailable = netnsUnavailable();
    ctx.skip(unavailable !== null, `network namespace test skipped: ${unavailable}`);
    ns = await createNetns();
    dataDir = tempDir('lectern-ns-');
    const { log, lines } = memoryLogger('debug');
    running = await startServer(makeConfig({ host: ns.hostAddress, port: 0, dataDir, contentDir: DEMO_CONTENT, graders: 1 }), { log });
    const url = running.url;
    expect(url).toContain(ns.hostAddress);
    const token = readFileSync(path.join(dataDir, 'restart.token'), 'utf8').trim();
    const curl = async (...args: string[]) => {
      const r = await ns!.exec('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', ...args]);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout;
    };
    // The path works: refusals below are the server's decision, not the network's.
    expect(await curl(`${url}/healthz`)).toBe('200');
    const attempts: string[][] = [
      [`${url}/restart`],
      ['-H', 'X-Forwarded-For: 127.0.0.1', `${url}/restart`],
      ['-X', 'POST', '-H', 'X-Forwarded-For: 127.0.0.1', '-H', 'X-Real-IP: 127.0.0.1', '-H', 'Forwarded: for=127.0.0.1', '-H', 'Host: localhost', `${url}/restart`],
      ['-X', 'POST', '-H', `X-Restart-Token: ${token}`, '-H', 'X-Forwarded-For: ::1', `${url}/restart`],
    ];
    for (const args of attempts) expect(await curl(...args)).toBe('403');
    const refused = lines.filter((l) => l.msg === 'restart refused');
    expect(refused).toHaveLength(attempts.length);
    for (const l of refused) expect(l).toMatchObject({ peer: ns.nsAddress, reason: 'not loopback' });
    expect(running.app.closing).toBe(false);
    expect(await curl(`${url}/healthz`)).toBe('200');
  });
});

// ---------------------------------------------------------------------------------------------

describe('git push deploys', () => {
  // The push builds the project (tsc, bundle, warm-up): minutes on a loaded machine.
  it('a push that changes a page is served by a new process within seconds; the old one is gone', { timeout: 900_000 }, async () => {
    requireBuild();
    const dir = tempDir('lectern-push-');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const repo = path.join(dir, 'site.git');
    const site = path.join(dir, 'site');
    const work = path.join(dir, 'work');
    const dataDir = path.join(dir, 'data');
    const port = await freePort();
    const logger = fakeLogger(dir);
    mkdirSync(site);
    mkdirSync(work);
    writeFileSync(path.join(dir, 'lectern.env'), `NODE_ENV=production\nLECTERN_DATA=${dataDir}\nLECTERN_PORT=${port}\nLECTERN_GRADERS=1\n`);
    writeFileSync(
      path.join(dir, 'deploy.env'),
      `LECTERN_SITE=${site}\nLECTERN_ENV_FILE=${path.join(dir, 'lectern.env')}\nLECTERN_LOGGER=${logger.program}\nLECTERN_RESTART_WAIT=20\n`,
    );
    const env = { ...process.env, LECTERN_DEPLOY_ENV: path.join(dir, 'deploy.env'), GIT_CONFIG_NOSYSTEM: '1', HOME: dir };
    const git = (cwd: string, ...args: string[]) => {
      const r = spawnSync('git', ['-c', 'user.name=Lecturer', '-c', 'user.email=lecturer@example.org', ...args], { cwd, env, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
      return `${r.stdout}${r.stderr}`;
    };

    // The server's repository, with the hook, as the README installs it.
    git(dir, 'init', '-q', '--bare', '-b', 'main', repo);
    cpSync(HOOK, path.join(repo, 'hooks/post-update'));
    // Dependencies come from this checkout; the hook installs only when the lock file changes.
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(site, 'node_modules'));

    // This project's tree as committed, pushed by the lecturer.
    const archive = spawnSync('git', ['archive', '--format=tar', 'HEAD'], { cwd: ROOT, maxBuffer: 512 * 1024 * 1024 });
    expect(archive.status, String(archive.stderr)).toBe(0);
    const untar = spawnSync('tar', ['-x', '-C', work], { input: archive.stdout });
    expect(untar.status, String(untar.stderr)).toBe(0);
    git(work, 'init', '-q', '-b', 'main');
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', 'Lectern');
    const first = git(work, 'push', '-q', repo, 'main');
    expect(first).toContain('dependencies unchanged: no install');
    expect(first).toMatch(/lectern deploy: build\s/);
    expect(first).toContain('no server answers');
    expect(existsSync(path.join(site, 'dist/start.cjs'))).toBe(true);

    // The respawn loop, as the service user would run it.
    const webservice: ChildProcess = spawn(WEBSERVICE, [], {
      cwd: dir,
      env: { ...process.env, LECTERN_ENV_FILE: path.join(dir, 'lectern.env'), LECTERN_SITE: site, LECTERN_LOGGER: logger.program },
      stdio: 'ignore',
    });
    const webserviceExit = once(webservice, 'exit');
    cleanups.push(async () => {
      if (webservice.exitCode === null && webservice.signalCode === null) {
        webservice.kill('SIGTERM');
        await webserviceExit;
      }
    });
    const url = `http://127.0.0.1:${port}`;
    const pid1 = await waitFor('the server under webservice', () => healthPid(url));
    const before = await (await fetch(`${url}/`)).text();
    expect(before).toContain('This course teaches you');

    // The lecturer edits the demo page and pushes.
    const page = path.join(work, 'examples/course/pages/index.md');
    writeFileSync(page, readFileSync(page, 'utf8').replace('This course teaches you', 'This course, as deployed by a push, teaches you'));
    git(work, 'commit', '-q', '-am', 'Reword the welcome');
    const second = git(work, 'push', '-q', repo, 'main');
    expect(second, second).toContain('sources unchanged: no build');
    expect(second).toContain('dependencies unchanged: no install');
    expect(second).toContain(`restarting pid ${pid1}`);
    const served = await waitFor('the new page from a new process', async () => {
      const pid = await healthPid(url);
      if (pid === undefined || pid === pid1) return undefined;
      const html = await (await fetch(`${url}/`)).text();
      return html.includes('as deployed by a push') ? pid : undefined;
    });
    expect(second).toContain(`pid ${served} serves it`);
    // The old server finishes its drain beside the new one, then the loop reaps it.
    await waitFor('the old server to exit', async () => (isRunning(pid1) ? undefined : true));
    const syslog = logger.read();
    expect(syslog).toContain('lectern: deploy: check migrations');
    expect(syslog).toMatch(/lectern: webservice: server handed over after \d+ ms \(restart\)/);

    // A step that fails stops the deploy and leaves the running server alone.
    const db = new Database(path.join(dataDir, 'lectern.db'));
    const version = db.pragma('user_version', { simple: true }) as number;
    db.pragma('user_version = 9999');
    writeFileSync(page, `${readFileSync(page, 'utf8')}\nOne more line.\n`);
    git(work, 'commit', '-q', '-am', 'Another edit');
    const refused = spawnSync('git', ['push', '-q', repo, 'main'], { cwd: work, env, encoding: 'utf8' });
    db.pragma(`user_version = ${version}`);
    db.close();
    expect(refused.stderr).toContain('FAILED: check migrations');
    expect(refused.stderr).toContain('schema version 9999');
    expect(refused.stderr).not.toContain('restarting pid');
    expect(await healthPid(url)).toBe(served);

    webservice.kill('SIGTERM');
    const [code] = await webserviceExit;
    expect(code).toBe(0);
    expect(isRunning(served)).toBe(false);
    expect(logger.read()).toContain('webservice: stopped (server exit status 0)');
  });
});
