import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { verifyPassword } from '../../src/plugins/accounts/password.js';
import { findUserByEmail, listEnrolled } from '../../src/plugins/accounts/users.js';
import { Agent, DEMO_CONTENT, ROOT, tempDir } from '../helpers/index.js';

/** The real `lectern` command from dist/ (run `npm run build` first), on a temporary data dir. */
const CLI = path.join(ROOT, 'dist/start.cjs');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dataDir(): string {
  const d = tempDir('lectern-cli-');
  dirs.push(d);
  return d;
}

function env(data: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, NODE_ENV: 'production', LECTERN_DATA: data, LECTERN_CONTENT: DEMO_CONTENT, LECTERN_LOG_LEVEL: 'warn', ...extra };
}

function lectern(data: string, args: string[], extra: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: env(data, extra), encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function withDb<T>(data: string, f: (db: ReturnType<typeof openDatabase>) => T): T {
  const db = openDatabase(databasePath(data));
  try {
    return f(db);
  } finally {
    db.close();
  }
}

describe('lectern user / users commands', () => {
  it('user add --admin prints a generated password once, and it works', async () => {
    const data = dataDir();
    const r = lectern(data, ['user', 'add', '--admin', '--email', 'Boss@Example.org', '--name', 'The Boss']);
    expect(r.code).toBe(0);
    const password = r.stdout.trim();
    expect(password).toMatch(/^[A-Za-z0-9]{20}$/);
    expect(r.stderr).toContain('Created administrator boss@example.org');
    const row = withDb(data, (db) => findUserByEmail(db, 'boss@example.org'))!;
    expect(row.is_admin).toBe(1);
    expect(row.password_hash).toMatch(/^scrypt\$15\$8\$1\$/);
    expect(await verifyPassword(password, row.password_hash)).toBe(true);

    const again = lectern(data, ['user', 'add', '--email', 'boss@example.org', '--name', 'Again']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('there is already an account for boss@example.org');
    const usage = lectern(data, ['user', 'add', '--email', 'x@example.org']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--name is required');
  });

  it('users import adds the roster and prints sign-up links as CSV; bad rows are all reported', () => {
    const data = dataDir();
    const bad = path.join(data, 'bad.csv');
    writeFileSync(bad, 'email,name,student id\nnope,No Email,1\nok@example.org,,2\n');
    const r1 = lectern(data, ['users', 'import', bad, '--course', 'prog1']);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toContain(`${bad}:2: "nope" is not an e-mail address`);
    expect(r1.stderr).toContain(`${bad}:3: the name is missing`);
    expect(r1.stdout).toBe('');

    const good = path.join(data, 'roster.csv');
    writeFileSync(good, 'ann@example.org,"Smith, Ann",S1\nbob@example.org,Bob,S2\n');
    const r2 = lectern(data, ['users', 'import', good, '--course', 'prog1', '--days', '3'], { LECTERN_PUBLIC_URL: 'https://lectern.example.org' });
    expect(r2.code).toBe(0);
    const lines = r2.stdout.trim().split('\r\n');
    expect(lines[0]).toBe('email,name,student_id,signup_link,expires');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^ann@example\.org,"Smith, Ann",S1,https:\/\/lectern\.example\.org\/signup\/[A-Za-z0-9_-]{43},/);
    expect(r2.stderr).toContain('2 new account(s)');
    expect(withDb(data, (db) => listEnrolled(db, 'prog1').map((u) => u.email))).toEqual(['bob@example.org', 'ann@example.org']);

    const unknown = lectern(data, ['users', 'import', good, '--course', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('there is no course "nope"');
  });

  it('the first serve creates admin@localhost, prints its password once, and it signs in', async () => {
    const data = dataDir();
    const start = async () => {
      const child = spawn(process.execPath, [CLI, 'serve'], { env: env(data, { LECTERN_PORT: '0', LECTERN_HOST: '127.0.0.1' }), stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8');
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', (chunk: string) => {
          stderr += chunk;
          const m = /Lectern is serving (http:\/\/\S+)/.exec(stderr);
          if (m?.[1]) resolve(m[1]);
        });
        child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
      });
      return {
        url,
        stderr: () => stderr,
        async stop() {
          child.kill('SIGTERM');
          await once(child, 'exit');
        },
      };
    };
    const first = await start();
    try {
      // The password is hashed while the server starts listening: it is printed a moment later.
      for (let i = 0; i < 200 && !/password: \S+/.test(first.stderr()); i++) await new Promise((r) => setTimeout(r, 50));
      const password = /password: (\S+)/.exec(first.stderr())?.[1];
      expect(first.stderr()).toContain('e-mail:   admin@localhost');
      expect(password).toMatch(/^[A-Za-z0-9]{20}$/);
      const browser = new Agent(first.url);
      await browser.get('/login');
      const res = await browser.post('/login', { email: 'admin@localhost', password: password! });
      expect(res.status).toBe(302);
      const { text } = await browser.get('/courses/prog1/roster');
      expect(text).toContain('Roster of Programming 1');
    } finally {
      await first.stop();
    }
    const second = await start();
    await second.stop();
    expect(second.stderr()).not.toContain('password:');
  });
});
