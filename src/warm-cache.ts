import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from './config.js';
import { migrate } from './db/migrate.js';
import { databasePath, openDatabase } from './db/open.js';
import { systemClock } from './lib/clock.js';
import { createLogger } from './lib/logger.js';
import { SESSION_COOKIE } from './plugins/accounts/session.js';
import { PROJECT_ROOT } from './paths.js';
import { createSession } from './plugins/accounts/sessions.js';
import { createUser, enrol } from './plugins/accounts/users.js';
import { startServer } from './server.js';

/** What a start and its first requests exercise: the paths a restart during a deploy waits on. */
const ANONYMOUS = ['/', '/login', '/healthz', '/courses/prog1/', '/no-such-page'];
const STUDENT = ['/', '/courses/prog1/', '/courses/prog1/syllabus', '/courses/prog1/math', '/account'];

/**
 * `lectern warm-cache`: starts the demo course on a temporary data folder and loopback, asks for a
 * few pages as a visitor and as a signed-in student, and stops. dist/start.cjs then saves V8's
 * code cache of everything this compiled, so that the next real start skips compiling it.
 * `npm run build` runs it; so can an operator after upgrading Node (the old cache is refused).
 *
 * A warm-up that fails (no loopback, a full /tmp) says so and still succeeds: a cache of whatever
 * was compiled is as valid as a full one, only smaller, and a deploy must not stop for it.
 */
export async function warmCache(): Promise<number> {
  try {
    await exercise();
  } catch (err) {
    process.stderr.write(`lectern warm-cache: the warm-up stopped early (${err instanceof Error ? err.message : String(err)}); the code cache covers less, starts may be slower\n`);
  }
  return 0;
}

async function exercise(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lectern-warm-'));
  try {
    const config = loadConfig({
      NODE_ENV: 'production',
      LECTERN_DATA: dataDir,
      LECTERN_CONTENT: path.join(PROJECT_ROOT, 'examples', 'course'),
      LECTERN_PORT: '0',
      LECTERN_WORKERS: '1',
    });
    // A user before the first start: otherwise the start would create and print a first administrator.
    const db = openDatabase(databasePath(dataDir));
    let userId: number;
    try {
      migrate(db);
      userId = createUser(db, { email: 'warm-cache@example.invalid', name: 'Warm Cache' }, systemClock);
      enrol(db, { userId, course: 'prog1', role: 'student' }, systemClock);
    } finally {
      db.close();
    }
    // The log is exercised at the level a server runs with, and thrown away.
    const log = createLogger('info', { write: () => undefined });
    const running = await startServer(config, { log });
    try {
      const { db, clock } = running.app.deps;
      const session = createSession(db, userId, clock.now());
      const get = async (url: string, cookie?: string) => {
        const res = await fetch(new URL(url, running.url), { headers: cookie ? { cookie } : {}, redirect: 'manual' });
        await res.arrayBuffer();
        if (res.status >= 500) throw new Error(`warm-cache: GET ${url} answered ${res.status}`);
      };
      for (const url of ANONYMOUS) await get(url);
      for (const url of STUDENT) await get(url, `${SESSION_COOKIE}=${session.id}`);
    } finally {
      await running.app.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
