import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratch } from '../helpers/browser.js';
import { ROOT } from '../helpers/index.js';

/**
 * The README's first commands, exactly as written, in a fresh copy of the repository: the files
 * git would check out (committed or about to be), no dist/, no data/. node_modules comes from this
 * checkout as hard links (the machine is offline but for the registries, and a full install would
 * take minutes); `npm install` must then find nothing to do and `npm start` build and serve.
 */
const dirs = scratch();
let clone: string;

/** The environment of a fresh shell: no NODE_ENV (vitest's "test"; "production" would make npm skip the build's tools). */
function freshEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_ENV;
  for (const key of Object.keys(env)) if (key.startsWith('LECTERN_') && !(key in extra)) delete env[key];
  return env;
}

function sh(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, env: freshEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
}

beforeAll(() => {
  clone = dirs.dir('lectern-clone-');
  const files = sh('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], ROOT).split('\0').filter(Boolean);
  for (const f of files) {
    const from = path.join(ROOT, f);
    if (!existsSync(from)) continue; // deleted in the work tree, not yet committed
    mkdirSync(path.dirname(path.join(clone, f)), { recursive: true });
    copyFileSync(from, path.join(clone, f)); // keeps the mode, as git keeps the executable bit
  }
  sh('cp', ['-al', path.join(ROOT, 'node_modules'), path.join(clone, 'node_modules')], ROOT);
}, 300_000);

afterAll(() => dirs.cleanup());

/** Runs `npm install && npm start` as the README says and resolves with the served address. */
async function installAndStart(dataDir: string): Promise<{ url: string; stop(): Promise<void>; output(): string }> {
  const child = spawn('sh', ['-c', 'npm install --offline --no-audit --no-fund && npm start'], {
    cwd: clone,
    env: freshEnv({ LECTERN_PORT: '0', LECTERN_DATA: dataDir }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const collect = (d: Buffer) => (output += d.toString());
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not serve:\n${output}`)), 290_000);
    const look = () => {
      const m = /serving (http:\/\/\S+)/.exec(output);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', look);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`npm install && npm start exited (${code}) before serving:\n${output}`));
    });
  });
  return {
    url,
    output: () => output,
    async stop() {
      process.kill(-child.pid!, 'SIGTERM');
      await exited;
    },
  };
}

describe('the README commands in a fresh copy', () => {
  it('npm install && npm start builds, serves the demo course and prints the first administrator', async () => {
    const data = dirs.dir('lectern-clone-data-');
    const server = await installAndStart(data);
    try {
      const home = await fetch(`${server.url}/`);
      expect(home.status).toBe(200);
      expect(await home.text()).toContain('Programming 1');
      await expect.poll(() => server.output(), { timeout: 30_000 }).toMatch(/admin@localhost/);
    } finally {
      await server.stop();
    }
  }, 320_000);

  it('npx lectern help runs the executable the package names, with its #! line', () => {
    const bin = path.join(clone, 'dist', 'start.cjs');
    expect(readFileSync(bin, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    expect(statSync(bin).mode & 0o111).toBe(0o111);
    const help = sh('npx', ['--offline', 'lectern', 'help'], clone);
    for (const command of ['serve', 'migrate', 'warm-cache', 'users', 'user', 'assignment', 'worker', 'help']) expect(help).toMatch(new RegExp(`^  ${command} `, 'm'));
    // Every command the README's table names is one `lectern help` lists.
    const readme = readFileSync(path.join(clone, 'README.md'), 'utf8');
    const documented = [...readme.matchAll(/^\| `lectern ([a-z-]+)/gm)].map((m) => m[1]!);
    expect(documented.length).toBeGreaterThan(5);
    for (const command of documented) expect(help).toMatch(new RegExp(`^  ${command} `, 'm'));
    // And the executable runs as a program on its own.
    expect(sh(bin, ['help'], clone)).toBe(help);
  }, 120_000);
});
