import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { migrate } from '../../src/db/migrate.js';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { systemClock } from '../../src/lib/clock.js';
import { createUser, enrol } from '../../src/plugins/accounts/users.js';
import { copyDemoContent, writeShellAssignment } from './content.js';
import { ROOT, tempDir } from './index.js';

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  pid: number;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `node dist/start.cjs serve` on a free loopback port and resolves once it serves. The
 * publish-time self-check is off unless `env` turns it on: with it, a new assignment (the demos
 * too) opens to students only once its check passed, which a test that is about something else
 * would have to wait for.
 */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/start.cjs'), 'serve'], {
    env: { ...process.env, NODE_ENV: 'production', LECTERN_PORT: '0', LECTERN_LOG_LEVEL: 'warn', LECTERN_SELF_CHECK: 'no', ...env },
    stdio: ['ignore', process.env.DEBUG_SERVER_STDOUT ? 'inherit' : 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8');
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 30_000);
    child.stderr!.on('data', (d: string) => {
      err += d;
      const m = /serving (http:\/\/\S+)/.exec(err);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`server exited before serving: ${err}`));
    });
  });
  return { child, url, pid: child.pid!, stderr: () => err, exited };
}

/** A data dir with the schema and one enrolled student (real clock), for server processes. */
export function prepareData(student: { email: string; name: string; password: string }): { dataDir: string; userId: number } {
  const dataDir = tempDir('lectern-proc-');
  mkdirSync(dataDir, { recursive: true });
  const db = openDatabase(databasePath(dataDir));
  migrate(db);
  const userId = createUser(db, { ...student }, systemClock);
  enrol(db, { userId, course: 'prog1', role: 'student' }, systemClock);
  // Skip the first-run admin: a user exists.
  db.close();
  return { dataDir, userId };
}

/** The demo course plus an assignment, open now, whose test takes `seconds` and passes. */
export function contentWithSlowAssignment(seconds: number): string {
  const dir = copyDemoContent();
  writeSlowAssignment(dir, seconds);
  return dir;
}

/** Adds the assignment `slow` (open now, one file answer.txt, its test sleeps) to a course folder. */
export function writeSlowAssignment(dir: string, seconds: number): void {
  writeShellAssignment(dir, 'slow', {
    title: 'Slow tests',
    opens: '2020-01-01T00:00:00+00:00',
    deadline: '2099-01-01T00:00:00+00:00',
    maxUpload: '64MB',
    wall: '60s',
    statement: '# Slow\n',
    script: `sleep ${seconds}\necho "tested $(wc -c < answer.txt) bytes"\n`,
  });
}

/**
 * A copy of the demo course whose assignments are open now: their demo dates are fixed in the
 * calendar and pass, while a server process runs on the real clock. The deadline is `days` ahead.
 */
export function demoContentOpenNow(days = 14): string {
  const dir = copyDemoContent();
  const deadline = new Date(Date.now() + days * 24 * 3600_000).toISOString().replace(/\.\d+Z$/, '+00:00');
  for (const slug of ['caesar', 'stats']) {
    const file = path.join(dir, 'assignments', slug, 'assignment.yaml');
    const yaml = readFileSync(file, 'utf8')
      .replace(/^opens: .*$/m, 'opens: 2020-01-01T00:00:00+00:00')
      .replace(/^deadline: .*$/m, `deadline: ${deadline}`)
      .replace(/^(\s+hard_close:) \d{4}-.*$/m, '$1 3d');
    writeFileSync(file, yaml);
  }
  return dir;
}
