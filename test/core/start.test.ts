import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { OAuth2Server } from 'oauth2-mock-server';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers/index.js';
import { prepareData } from '../helpers/server-process.js';

/**
 * dist/start.cjs, the shipped executable: the bundle run from V8's code cache (src/start.cts).
 * Real processes on the built tree (`npm test` builds first), and on copies of it whose bundle or
 * cache is changed, to see that a cache is used only for its own bundle and that a start never
 * depends on one.
 */
const DIST = path.join(ROOT, 'dist');
const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function requireBuild(): void {
  if (!existsSync(path.join(DIST, 'lectern.cjs'))) throw new Error('dist/lectern.cjs is missing: run `npm run build` before this test');
}

interface Started {
  url: string;
  /** The server's "listening" log line. */
  listening: Record<string, unknown>;
  stderr: () => string;
  stop(): Promise<number | null>;
}

async function serve(entry: string, env: Record<string, string> = {}): Promise<Started> {
  const { dataDir } = prepareData({ email: 'student@example.org', name: 'Start Student', password: 'start password 123' });
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const child = spawn(process.execPath, [entry, 'serve'], {
    env: { ...process.env, NODE_ENV: 'production', LECTERN_PORT: '0', LECTERN_LOG_LEVEL: 'info', LECTERN_DATA: dataDir, LECTERN_CONTENT: path.join(ROOT, 'examples/course'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  cleanups.push(async () => void (await stop()));
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const deadline = Date.now() + 30_000;
  let listening: Record<string, unknown> | undefined;
  let url: string | undefined;
  while (!(listening && url)) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${err}`);
    if (Date.now() > deadline) throw new Error(`server did not start: ${err}`);
    url = /serving (http:\/\/\S+)/.exec(err)?.[1];
    listening = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'listening');
    await new Promise((r) => setTimeout(r, 20));
  }
  return { url, listening, stderr: () => err, stop };
}

/** A copy of the built tree (dist/ copied, everything else linked) whose dist/ a test may change. */
function copyOfBuild(): string {
  const site = tempDir('lectern-start-');
  cleanups.push(() => rmSync(site, { recursive: true, force: true }));
  cpSync(DIST, path.join(site, 'dist'), { recursive: true });
  for (const name of ['node_modules', 'views', 'public', 'migrations', 'examples']) symlinkSync(path.join(ROOT, name), path.join(site, name));
  return site;
}

const codeCacheOf = (s: Started) => (s.listening.startup as { codeCache?: string }).codeCache;

describe('dist/start.cjs', () => {
  it('the build leaves a code cache for exactly its bundle, and a start uses it', async () => {
    requireBuild();
    const bundle = readFileSync(path.join(DIST, 'lectern.cjs'));
    const cache = readFileSync(path.join(DIST, 'lectern.cjs.cache'));
    expect(cache.subarray(0, 32).equals(createHash('sha256').update(bundle).digest())).toBe(true);
    expect(cache.length).toBeGreaterThan(100_000);
    const s = await serve(path.join(DIST, 'start.cjs'));
    expect(codeCacheOf(s)).toBe('used');
    const res = await fetch(`${s.url}/courses/prog1/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Programming');
    expect(await s.stop()).toBe(0);
    expect(s.stderr()).not.toMatch(/Warning/);
  });

  it('a cache made for another bundle of the same length is not used; a damaged one is refused; both still serve', async () => {
    requireBuild();
    const site = copyOfBuild();
    const bundlePath = path.join(site, 'dist', 'lectern.cjs');
    const source = readFileSync(bundlePath, 'utf8');
    // V8 itself would accept the old cache for a same-length source: the hash in front is what stops it.
    const i = source.indexOf('// dist/');
    expect(i).toBeGreaterThan(0);
    writeFileSync(bundlePath, `${source.slice(0, i)}// Dist/${source.slice(i + 8)}`);
    const other = await serve(path.join(site, 'dist', 'start.cjs'));
    expect(codeCacheOf(other)).toBe('absent');
    expect((await fetch(`${other.url}/`)).status).toBe(200);
    await other.stop();

    // The right hash in front of bytes V8 cannot use.
    const hash = createHash('sha256').update(readFileSync(bundlePath)).digest();
    writeFileSync(`${bundlePath}.cache`, Buffer.concat([hash, Buffer.alloc(4096, 7)]));
    const damaged = await serve(path.join(site, 'dist', 'start.cjs'));
    expect(codeCacheOf(damaged)).toBe('rejected');
    expect((await fetch(`${damaged.url}/courses/prog1/`)).status).toBe(200);
    await damaged.stop();

    // `lectern warm-cache` makes a new one, which the next start uses.
    const warm = spawnSync(process.execPath, [path.join(site, 'dist', 'start.cjs'), 'warm-cache'], { encoding: 'utf8', timeout: 60_000 });
    expect(warm.status, warm.stderr).toBe(0);
    const remade = await serve(path.join(site, 'dist', 'start.cjs'));
    expect(codeCacheOf(remade)).toBe('used');
    await remade.stop();
  });

  it('a warm-up that cannot run leaves a smaller cache and does not fail the build', async () => {
    requireBuild();
    const site = copyOfBuild();
    rmSync(path.join(site, 'examples'));
    mkdirSync(path.join(site, 'examples'));
    rmSync(path.join(site, 'dist', 'lectern.cjs.cache'));
    const warm = spawnSync(process.execPath, [path.join(site, 'dist', 'start.cjs'), 'warm-cache'], { encoding: 'utf8', timeout: 60_000 });
    expect(warm.status).toBe(0);
    expect(warm.stderr).toContain('the warm-up stopped early');
    expect(existsSync(path.join(site, 'dist', 'lectern.cjs.cache'))).toBe(true);
    const s = await serve(path.join(site, 'dist', 'start.cjs'));
    expect(codeCacheOf(s)).toBe('used');
    expect((await fetch(`${s.url}/`)).status).toBe(200);
    await s.stop();
  });

  it('LECTERN_CODE_CACHE=off compiles from source; without a bundle the unbundled dist/cli.js runs', async () => {
    requireBuild();
    const off = await serve(path.join(DIST, 'start.cjs'), { LECTERN_CODE_CACHE: 'off' });
    expect(codeCacheOf(off)).toBe('off');
    expect((await fetch(`${off.url}/`)).status).toBe(200);
    await off.stop();

    const site = copyOfBuild();
    rmSync(path.join(site, 'dist', 'lectern.cjs'));
    const unbundled = await serve(path.join(site, 'dist', 'start.cjs'));
    expect(codeCacheOf(unbundled)).toBe('unbundled');
    expect((await fetch(`${unbundled.url}/courses/prog1/`)).status).toBe(200);
    expect(await unbundled.stop()).toBe(0);
  });

  it('packages loaded on first use load from the cached bundle: the ES-only OpenID client reaches the provider', async () => {
    requireBuild();
    const provider = new OAuth2Server();
    await provider.issuer.keys.generate('RS256');
    await provider.start(0, '127.0.0.1');
    cleanups.push(() => provider.stop());
    const s = await serve(path.join(DIST, 'start.cjs'), {
      LECTERN_OIDC: JSON.stringify([{ id: 'uni', name: 'Example University', issuer: provider.issuer.url, clientId: 'lectern', clientSecret: 'secret' }]),
    });
    expect(codeCacheOf(s)).toBe('used');
    const res = await fetch(`${s.url}/auth/oidc/uni`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const to = new URL(res.headers.get('location')!);
    expect(to.origin).toBe(new URL(provider.issuer.url!).origin);
    expect(to.searchParams.get('code_challenge_method')).toBe('S256');
    await s.stop();
  });
});
