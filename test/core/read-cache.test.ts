import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { ReadCache } from '../../src/db/read-cache.js';
import { SESSION_TTL_MS } from '../../src/plugins/accounts/sessions.js';
import { createTestApp, tempDir, type TestApp } from '../helpers/index.js';
import { signIn } from '../helpers/accounts.js';
import { withVariants } from '../pages/variants-plugin.js';

/**
 * The read cache keeps the session, enrolments and variants of signed-in readers while the
 * database does not change. Whatever changes it, this process or another one (a cluster worker,
 * the CLI: here a second connection to the same file), the next request reads afresh.
 */

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** A second connection to the app's database file, as another process would have. */
function otherConnection(app: TestApp): Database.Database {
  const db = new Database(databasePath(app.dataDir));
  db.pragma('busy_timeout = 5000');
  return db;
}

describe('ReadCache', () => {
  it('keeps values while nothing is written, and forgets them after a write by this or another connection', () => {
    const file = path.join(tempDir('lectern-readcache-'), 'lectern.db');
    const db = openDatabase(file);
    migrate(db);
    const cache = new ReadCache(db);
    let loads = 0;
    const load = () => ++loads;

    const v1 = cache.check();
    expect(cache.get('k', v1, load)).toBe(1);
    expect(cache.get('k', v1, load)).toBe(1);
    expect(cache.check()).toBe(v1);
    expect(cache.get('k', v1, load)).toBe(1);

    db.prepare("INSERT INTO settings (key, value) VALUES ('a', 'b')").run();
    const v2 = cache.check();
    expect(v2).not.toBe(v1);
    expect(cache.get('k', v2, load)).toBe(2);

    const other = new Database(file);
    other.prepare("UPDATE settings SET value = 'c' WHERE key = 'a'").run();
    other.close();
    const v3 = cache.check();
    expect(v3).not.toBe(v2);
    expect(cache.peek('k', v3)).toBeUndefined();
    expect(cache.get('k', v3, load)).toBe(3);

    // A request that started before the change neither gets nor stores values of the new version.
    expect(cache.peek('k', v2)).toBeUndefined();
    cache.put('late', v2, 'stale');
    expect(cache.peek('late', v3)).toBeUndefined();
    expect(cache.get('k', v2, load)).toBe(4);
    expect(cache.get('k', v3, load)).toBe(3);
    // Without a version nothing is kept.
    expect(cache.get('none', undefined, load)).toBe(5);
    expect(cache.get('none', undefined, load)).toBe(6);
    db.close();
  });
});

describe('cached reads in the app', () => {
  it('a session removed by another process signs the reader out at once', async () => {
    t = await createTestApp();
    const student = await signIn(t);
    expect((await student.get('/account')).res.status).toBe(200);
    expect((await student.get('/account')).res.status).toBe(200);
    const db = otherConnection(t);
    db.prepare('DELETE FROM sessions WHERE user_id = ?').run(student.user.id);
    db.close();
    const res = await student.fetch('/account');
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toMatch(/^\/login/);
  });

  it('a kept session still expires on time, with nothing written in between', async () => {
    t = await createTestApp();
    const student = await signIn(t);
    expect((await student.get('/account')).res.status).toBe(200);
    // Each request within the touch interval reads the kept session and writes nothing.
    t.clock.advance(60_000);
    expect((await student.get('/account')).res.status).toBe(200);
    t.clock.advance(SESSION_TTL_MS);
    expect((await student.fetch('/account')).status).toBe(302);
  });

  it('signing out in this process ends the session for every request after it', async () => {
    t = await createTestApp();
    const student = await signIn(t);
    const copy = t.agent();
    for (const [k, v] of student.cookies) copy.cookies.set(k, v);
    expect((await copy.get('/account')).res.status).toBe(200);
    expect((await student.post('/logout')).status).toBe(302);
    expect((await copy.fetch('/account')).status).toBe(302);
  });

  it('an enrolment removed by another process takes the course away on the next request', async () => {
    t = await createTestApp();
    const student = await signIn(t);
    expect((await student.get('/courses/prog1/your-assignments')).res.status).toBe(200);
    expect((await student.get('/courses/prog1/your-assignments')).res.status).toBe(200);
    const db = otherConnection(t);
    db.prepare('DELETE FROM enrolments WHERE user_id = ?').run(student.user.id);
    db.close();
    expect((await student.get('/courses/prog1/your-assignments')).res.status).toBe(404);
  });

  it('a comment written by another process shows on the next view of the page', async () => {
    t = await createTestApp();
    const student = await signIn(t);
    expect((await student.get('/courses/prog1/syllabus')).text).toContain('No comments yet.');
    expect((await student.get('/courses/prog1/syllabus')).text).toContain('No comments yet.');
    const db = otherConnection(t);
    db.prepare("INSERT INTO comments (course, page, user_id, body, created_at) VALUES ('prog1', 'syllabus', ?, 'Written elsewhere', ?)").run(student.user.id, t.clock.now());
    db.close();
    const { text } = await student.get('/courses/prog1/syllabus');
    expect(text).toContain('Written elsewhere');
    expect(text).not.toContain('No comments yet.');
  });

  it('variants are asked for again once anything was written', async () => {
    // Every view rendered: with the render cache on, the second view would not ask at all.
    let shift = 3;
    let calls = 0;
    t = await createTestApp({
      config: { pageCacheMb: 0 },
      plugins: withVariants(async (req) => {
        calls++;
        return req.slug === 'caesar' ? { params: { shift, phrase: 'a', encrypted: 'b' } } : null;
      }),
    });
    const student = await signIn(t);
    expect((await student.get('/courses/prog1/your-assignments')).text).toContain('Your shift is <strong>3</strong>');
    const first = calls;
    expect((await student.get('/courses/prog1/your-assignments')).text).toContain('Your shift is <strong>3</strong>');
    // caesar was kept; stats, which has no variant, is asked for each time.
    expect(calls).toBe(first + 1);
    shift = 4;
    const db = otherConnection(t);
    db.prepare("INSERT INTO settings (key, value) VALUES ('test.touch', '1')").run();
    db.close();
    expect((await student.get('/courses/prog1/your-assignments')).text).toContain('Your shift is <strong>4</strong>');
  });
});
