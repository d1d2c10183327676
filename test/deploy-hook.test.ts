import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from './helpers/index.js';
import { prepareData, startServerProcess, type ServerProcess } from './helpers/server-process.js';

/**
 * The old site's hook line, `curl -s http://localhost/restart`, and the shipped hook: a server
 * told to listen on "localhost" answers on both loopback families, and the hook exits non-zero
 * with its reason in syslog whenever the restart did not happen.
 */

const HOOK = path.join(ROOT, 'deploy/post-update');
const student = { email: 'hook@example.org', name: 'Hook Student', password: 'correct horse battery staple' };
const running: ServerProcess[] = [];
afterEach(() => {
  for (const p of running.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

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
});
