import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { freePort } from '../helpers/ports.js';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers/index.js';
import { prepareData, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/**
 * The old site's hook line, `curl -s http://localhost/restart`, and the shipped hook: a server
 * told to listen on "localhost" answers on both loopback families, and the hook exits non-zero
 * with its reason in syslog whenever the restart did not happen.
 */

const HOOK = path.join(ROOT, 'deploy/post-update');
const WEBSERVICE = path.join(ROOT, 'deploy/webservice');
const student = { email: 'hook@example.org', name: 'Hook Student', password: 'correct horse battery staple' };
const running: ServerProcess[] = [];
afterEach(() => {
  for (const p of running.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
});

function curlCode(url: string): string {
  const r = spawnSync('curl', ['--noproxy', '*', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', url], { encoding: 'utf8' });
  return r.stdout;
}

/** Stands in for util-linux logger: "-t TAG" lines appended to a file. */
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

/** A bare repository with one commit on main and the shipped hook installed as the README says (a copy). */
function makeRepo(dir: string): void {
  const repo = path.join(dir, 'site.git');
  const work = path.join(dir, 'work');
  const site = path.join(dir, 'site');
  const genv = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: dir };
  const git = (cwd: string, ...args: string[]) => {
    const r = spawnSync('git', ['-c', 'user.name=L', '-c', 'user.email=l@example.org', ...args], { cwd, env: genv, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  };
  if (!existsSync(repo)) {
    mkdirSync(work, { recursive: true });
    mkdirSync(path.join(site, 'node_modules'), { recursive: true });
    mkdirSync(path.join(site, 'dist'), { recursive: true });
    git(dir, 'init', '-q', '--bare', '-b', 'main', repo);
    git(work, 'init', '-q', '-b', 'main');
    // A tree whose "build" is already there and whose migrate --check passes: this is about the restart step.
    writeFileSync(path.join(work, 'package.json'), '{"name":"x","version":"1.0.0","scripts":{"build":"true"}}\n');
    mkdirSync(path.join(work, 'dist'));
    writeFileSync(path.join(work, 'dist/start.cjs'), 'process.exit(0);\n');
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', 'site');
    git(work, 'push', '-q', repo, 'main');
  }
  writeFileSync(path.join(repo, 'hooks', 'post-update'), readFileSync(HOOK));
  chmodSync(path.join(repo, 'hooks', 'post-update'), 0o755);
}

/** The hook run by hand in the repository, as after a push. */
function hookRun(dir: string, env: Record<string, string>): { status: number | null; stderr: string } {
  const repo = path.join(dir, 'site.git');
  const site = path.join(dir, 'site');
  const genv = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: dir };
  const r = spawnSync('bash', [path.join(repo, 'hooks/post-update')], {
    cwd: repo,
    env: { ...genv, GIT_DIR: repo, LECTERN_DEPLOY_ENV: '/dev/null', LECTERN_ENV_FILE: '/dev/null', LECTERN_SITE: site, ...env },
    encoding: 'utf8',
  });
  return { status: r.status, stderr: r.stderr };
}

describe('the seed hook line and the shipped hook', () => {
  it('LECTERN_HOST=localhost answers on 127.0.0.1 and ::1 on one port; `curl -s http://localhost:PORT/restart` restarts it', { timeout: 60_000 }, async () => {
    const { dataDir } = prepareData(student);
    const port = await freePort();
    const server = await startServerProcess({ LECTERN_DATA: dataDir, LECTERN_HOST: 'localhost', LECTERN_PORT: String(port) });
    running.push(server);
    expect(curlCode(`http://127.0.0.1:${port}/healthz`)).toBe('200');
    expect(curlCode(`http://[::1]:${port}/healthz`)).toBe('200');
    // The old site's hook line, whichever family "localhost" resolves to first.
    const r = spawnSync('sh', ['-c', `curl -s http://localhost:${port}/restart`], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('restarting\n');
    expect(await server.exited).toMatchObject({ code: 0 });
  });

  it('the shipped hook exits non-zero, with the reason in syslog, when no server answers or the server refuses', { timeout: 60_000 }, async () => {
    const dir = tempDir('lectern-hook-');
    const logger = fakeLogger(dir);
    const port = await freePort();
    makeRepo(dir);
    const base = { LECTERN_LOGGER: logger.program, LECTERN_RESTART_URL: `http://127.0.0.1:${port}/restart`, LECTERN_RESTART_WAIT: '5' };

    // Nobody listens: not restarted, so not a success.
    const none = hookRun(dir, base);
    expect(none.status, none.stderr).not.toBe(0);
    expect(none.stderr).toContain('FAILED: no server answers');
    expect(logger.read()).toMatch(/lectern: deploy: FAILED: no server answers at http:\/\/127\.0\.0\.1:\d+\/healthz, so nothing was restarted/);

    // Behind a proxy the token is required; a hook that cannot read it is refused: loud, not 0.
    const { dataDir } = prepareData(student);
    const server = await startServerProcess({ LECTERN_DATA: dataDir, LECTERN_PORT: String(port), LECTERN_PROXY: 'yes' });
    running.push(server);
    const refused = hookRun(dir, { ...base, LECTERN_TOKEN_FILE: path.join(dir, 'no-such-token') });
    expect(refused.status, refused.stderr).not.toBe(0);
    expect(refused.stderr).toContain('FAILED: the server answered 403 to the restart request');
    expect(logger.read()).toContain('lectern: deploy: FAILED: the server answered 403 to the restart request');
    expect(curlCode(`http://127.0.0.1:${port}/healthz`)).toBe('200');

    // With the token it restarts (no service manager here to start the next one: the hook says so).
    const restarted = hookRun(dir, { ...base, LECTERN_TOKEN_FILE: path.join(dataDir, 'restart.token') });
    expect(await server.exited).toMatchObject({ code: 0 });
    expect(restarted.status).not.toBe(0);
    expect(restarted.stderr).toContain('FAILED: no new server process answered within 5 s');
  });

  it('npm ci accepts the committed package-lock.json in a fresh folder (every platform recorded)', { timeout: 120_000 }, () => {
    const dir = tempDir('lectern-lock-');
    writeFileSync(path.join(dir, 'package.json'), readFileSync(path.join(ROOT, 'package.json')));
    writeFileSync(path.join(dir, 'package-lock.json'), readFileSync(path.join(ROOT, 'package-lock.json')));
    const r = spawnSync('npm', ['ci', '--dry-run', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir, encoding: 'utf8' });
    expect(r.status, `${r.stdout}\n${r.stderr}\nrun scripts/complete-lockfile and commit package-lock.json`).toBe(0);
  });

  it('a push that changes dependencies installs them with the real npm ci and restarts; a broken one leaves the old server serving', { timeout: 300_000 }, async () => {
    const dir = tempDir('lectern-npm-');
    const repo = path.join(dir, 'site.git');
    const work = path.join(dir, 'work');
    const site = path.join(dir, 'site');
    const logger = fakeLogger(dir);
    const port = await freePort();
    mkdirSync(work);
    mkdirSync(site);
    writeFileSync(path.join(dir, 'lectern.env'), `LECTERN_PORT=${port}\nLECTERN_DATA=${path.join(dir, 'data')}\n`);
    writeFileSync(path.join(dir, 'deploy.env'), `LECTERN_SITE=${site}\nLECTERN_ENV_FILE=${path.join(dir, 'lectern.env')}\nLECTERN_LOGGER=${logger.program}\nLECTERN_RESTART_WAIT=30\n`);
    // npm uses the machine's cache; git sees no user or system configuration.
    const env = { ...process.env, LECTERN_DEPLOY_ENV: path.join(dir, 'deploy.env'), GIT_CONFIG_NOSYSTEM: '1', HOME: dir, npm_config_cache: path.join(os.homedir(), '.npm') };
    const run = (cwd: string, cmd: string, ...args: string[]) => {
      const r = spawnSync(cmd, cmd === 'git' ? ['-c', 'user.name=L', '-c', 'user.email=l@example.org', ...args] : args, { cwd, env, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
      return `${r.stdout}${r.stderr}`;
    };
    run(dir, 'git', 'init', '-q', '--bare', '-b', 'main', repo);
    writeFileSync(path.join(repo, 'hooks', 'post-update'), readFileSync(HOOK));
    chmodSync(path.join(repo, 'hooks', 'post-update'), 0o755);

    // A small site in the shape the hook expects: dist/start.cjs serves /healthz (with its pid and
    // whether the dependency loads) and /restart, and passes `migrate --check`.
    mkdirSync(path.join(work, 'dist'));
    writeFileSync(
      path.join(work, 'dist/start.cjs'),
      `const http = require('node:http');
if (process.argv[2] === 'migrate') process.exit(0);
let ms = null;
try { ms = require('ms')('2 days'); } catch {}
const server = http.createServer((req, res) => {
  if (req.url === '/healthz') { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ pid: process.pid, ms })); return; }
  if (req.url === '/restart') { res.statusCode = 202; res.setHeader('connection', 'close'); res.end('restarting\\n', () => server.close(() => process.exit(0))); return; }
  res.statusCode = 404; res.end();
});
server.listen(Number(process.env.LECTERN_PORT), '127.0.0.1');
`,
    );
    writeFileSync(path.join(work, 'package.json'), `${JSON.stringify({ name: 'site', version: '1.0.0', private: true, scripts: { build: 'true' } }, null, 2)}\n`);
    run(work, 'npm', 'install', '--package-lock-only', '--no-audit', '--no-fund');
    run(work, 'git', 'init', '-q', '-b', 'main');
    run(work, 'git', 'add', '-A');
    run(work, 'git', 'commit', '-q', '-m', 'site');
    const first = run(work, 'git', 'push', '-q', repo, 'main');
    expect(first).toContain('install dependencies (npm ci)');
    expect(first).toContain('FAILED: no server answers');

    const webservice: ChildProcess = spawn(WEBSERVICE, [], { cwd: dir, env: { ...env, LECTERN_ENV_FILE: path.join(dir, 'lectern.env'), LECTERN_SITE: site, LECTERN_LOGGER: logger.program }, stdio: 'ignore' });
    const exited = once(webservice, 'exit');
    const health = async (): Promise<{ pid: number; ms: number | null } | undefined> => {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5_000) });
        return (await res.json()) as { pid: number; ms: number | null };
      } catch {
        return undefined;
      }
    };
    const until = async <T,>(probe: () => Promise<T | undefined>): Promise<T> => {
      for (let i = 0; i < 600; i++) {
        const v = await probe();
        if (v !== undefined) return v;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('timed out');
    };
    try {
      const before = await until(health);
      expect(before.ms).toBeNull();

      // A dependency is added (package.json and the lock, as `npm install NAME` writes them).
      run(work, 'npm', 'install', '--package-lock-only', '--no-audit', '--no-fund', 'ms@2.1.3');
      run(work, 'git', 'commit', '-q', '-am', 'Add ms');
      const second = run(work, 'git', 'push', '-q', repo, 'main');
      expect(second, second).toContain('install dependencies (npm ci)');
      expect(second).toMatch(/deployed [0-9a-f]{12}: pid \d+ serves it/);
      const after = await until(async () => {
        const h = await health();
        return h && h.pid !== before.pid ? h : undefined;
      });
      expect(after.ms).toBe(172_800_000);

      // A change whose lock does not match package.json: npm ci refuses, nothing restarts.
      const pkg = JSON.parse(readFileSync(path.join(work, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
      pkg.dependencies.ms = '99.0.0';
      writeFileSync(path.join(work, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
      run(work, 'git', 'commit', '-q', '-am', 'A dependency that cannot be installed');
      const broken = spawnSync('git', ['push', '-q', repo, 'main'], { cwd: work, env, encoding: 'utf8' });
      expect(broken.stderr).toContain('FAILED: install dependencies (npm ci)');
      expect(broken.stderr).not.toContain('restarting pid');
      expect(logger.read()).toContain('lectern: deploy: FAILED: install dependencies (npm ci)');
      expect(await health()).toEqual(after);
    } finally {
      webservice.kill('SIGTERM');
      await exited;
    }
  });
});
