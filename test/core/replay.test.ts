import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { databasePath } from '../../src/db/open.js';
import { replayCounters } from '../../src/lib/replay.js';
import { SESSION_TOUCH_MS } from '../../src/plugins/accounts/sessions.js';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { copyDemoContent } from '../helpers/content.js';
import { createTestApp, type TestApp } from '../helpers/index.js';
import { signIn, signInAs, makeUser } from '../helpers/accounts.js';

/**
 * Repeated requests answered before Koa from kept responses (src/lib/replay.ts): a static file,
 * and a course page as the render cache kept it for one reader. The page is personal: these tests
 * check that a reader only ever gets their own, and nothing stale once anything changed.
 */

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const PAGE = '/courses/prog1/syllabus';

/** A second connection to the app's database file, as another process (the CLI, a worker) has. */
function otherConnection(app: TestApp): Database.Database {
  const db = new Database(databasePath(app.dataDir));
  db.pragma('busy_timeout = 5000');
  return db;
}

describe('replayed responses', () => {
  it('stops replaying a page once the course folder changed on disk, read without a restart', async () => {
    const content = copyDemoContent();
    t = await createTestApp({ config: { contentDir: content } });
    const a = await signIn(t, { name: 'Alma Aardvark' });
    const first = await a.get(PAGE);
    expect(first.text).toContain('Programming 1');
    const before = replayCounters.pages;
    expect((await a.get(PAGE)).text).toBe(first.text);
    expect(replayCounters.pages - before).toBe(1);
    const file = path.join(content, 'course.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('title: Programming 1', 'title: Programming One'));
    // The folders are looked at again at most once a second; no database write happens meanwhile.
    const until = Date.now() + 30_000;
    let text = first.text;
    while (!text.includes('Programming One') && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
      text = (await a.get(PAGE)).text;
    }
    expect(text).toContain('Programming One');
  });

  it('answers a reader\'s repeat view with their own page, never another reader\'s, also after that reader\'s name and role change', async () => {
    t = await createTestApp();
    const a = await signIn(t, { name: 'Alma Aardvark' });
    const b = await signIn(t, { name: 'Bruno Bittern' });
    const first = await a.get(PAGE);
    expect(first.text).toContain('Alma Aardvark');
    const firstB = await b.get(PAGE);
    expect(firstB.text).toContain('Bruno Bittern');

    const before = replayCounters.pages;
    for (let i = 0; i < 3; i++) {
      const ra = await a.get(PAGE);
      const rb = await b.get(PAGE);
      expect(ra.text).toBe(first.text);
      expect(rb.text).toBe(firstB.text);
      expect(ra.text).not.toContain('Bruno Bittern');
      expect(rb.text).not.toContain('Alma Aardvark');
    }
    expect(replayCounters.pages - before).toBe(6);

    // B's ETag presented with A's cookie is not A's page: A gets their own page in full.
    const etagB = (await b.fetch(PAGE)).headers.get('etag')!;
    const cross = await a.fetch(PAGE, { headers: { 'if-none-match': etagB } });
    expect(cross.status).toBe(200);
    const crossText = await cross.text();
    expect(crossText).toContain('Alma Aardvark');
    expect(crossText).not.toContain('Bruno Bittern');

    // B is renamed and made a tutor by another process: B's next view shows both, A's still only A.
    const db = otherConnection(t);
    db.prepare('UPDATE users SET name = ? WHERE id = ?').run('Bruno Renamed', b.user.id);
    db.prepare("UPDATE enrolments SET role = 'tutor' WHERE user_id = ? AND course = 'prog1'").run(b.user.id);
    db.close();
    const afterB = await b.get(PAGE);
    expect(afterB.text).toContain('Bruno Renamed');
    expect(afterB.text).not.toContain('Bruno Bittern');
    const afterA = await a.get(PAGE);
    expect(afterA.text).toContain('Alma Aardvark');
    expect(afterA.text).not.toMatch(/Bruno/);
    // Staff views are never kept, so never replayed.
    const staffBefore = replayCounters.pages;
    await b.get(PAGE);
    await b.get(PAGE);
    expect(replayCounters.pages).toBe(staffBefore);
  });

  it('two sessions of one user each get the page with their own CSRF token', async () => {
    t = await createTestApp();
    const user = makeUser(t, { name: 'Tove Twosessions' });
    const one = await signInAs(t, user);
    const two = await signInAs(t, user);
    const token = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
    const a1 = await one.get(PAGE);
    const b1 = await two.get(PAGE);
    const a2 = await one.get(PAGE);
    const b2 = await two.get(PAGE);
    expect(token(a1.text)).toBeTruthy();
    expect(token(a1.text)).not.toBe(token(b1.text));
    expect(token(a2.text)).toBe(token(a1.text));
    expect(token(b2.text)).toBe(token(b1.text));
  });

  it('answers 304 to a matching If-None-Match, and a new page with a new ETag once anything was written', async () => {
    t = await createTestApp();
    const student = await signIn(t);
    const first = await student.fetch(PAGE);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(first.headers.get('cache-control')).toBe('private, no-cache');
    await first.text();
    // Kept now: the replay answers the revalidation, with the security headers and no body.
    const before = replayCounters.pages;
    const again = await student.fetch(PAGE, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    expect(again.headers.get('etag')).toBe(etag);
    expect(again.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(again.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(replayCounters.pages - before).toBe(1);

    expect((await student.post('/courses/prog1/comments', { page: 'syllabus', body: 'Fresh words' })).status).toBe(302);
    const changed = await student.fetch(PAGE, { headers: { 'if-none-match': etag! } });
    expect(changed.status).toBe(200);
    expect(await changed.text()).toContain('Fresh words');
    const etag2 = changed.headers.get('etag');
    expect(etag2).not.toBe(etag);
    // The full path answers 304 too (the first view after a write is rendered there).
    const db = otherConnection(t);
    db.prepare("INSERT INTO settings (key, value) VALUES ('test.bump', '1')").run();
    db.close();
    const full = await student.fetch(PAGE, { headers: { 'if-none-match': etag2! } });
    expect(full.status).toBe(304);
  });

  it('never replays a page after sign-out, or past the session\'s expiry or its sliding-expiry write', async () => {
    t = await createTestApp();
    const student = await signIn(t, { name: 'Sina Signout' });
    await student.get(PAGE);
    await student.get(PAGE);
    const copy = t.agent();
    for (const [k, v] of student.cookies) copy.cookies.set(k, v);
    expect((await copy.get(PAGE)).text).toContain('Sina Signout');
    expect((await student.post('/logout')).status).toBe(302);
    const after = await copy.get(PAGE);
    expect(after.text).not.toContain('Sina Signout');

    const again = await signIn(t, { name: 'Tim Touch' });
    await again.get(PAGE);
    expect((await again.fetch(PAGE)).headers.get('set-cookie')).toBeNull();
    // When the sliding expiry is due, the full path runs and sends the renewed cookie.
    t.clock.advance(SESSION_TOUCH_MS);
    const touched = await again.fetch(PAGE);
    expect(touched.status).toBe(200);
    expect(touched.headers.get('set-cookie')).toMatch(/lectern_session=/);
  });

  it('answers a static file again from the kept response, with the same headers, its log line and a 304', async () => {
    t = await createTestApp();
    const home = await (await t.fetch('/')).text();
    const css = /\/static\/css\/lectern\.[0-9a-f]{10}\.css/.exec(home)![0];
    const first = await t.fetch(css);
    const body = await first.text();
    const before = replayCounters.statics;
    const second = await t.fetch(css);
    expect(await second.text()).toBe(body);
    expect(replayCounters.statics - before).toBe(1);
    for (const h of ['content-type', 'cache-control', 'etag', 'content-security-policy', 'x-frame-options', 'x-content-type-options']) {
      expect(second.headers.get(h)).toBe(first.headers.get(h));
    }
    const id = second.headers.get('x-request-id');
    expect(id).not.toBe(first.headers.get('x-request-id'));
    const lines = t.logs.filter((l) => l.req === id);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'request', method: 'GET', url: css, status: 200 });
    const revalidated = await t.fetch(css, { headers: { 'if-none-match': first.headers.get('etag')! } });
    expect(revalidated.status).toBe(304);
    // HEAD and unknown files go the full way.
    expect((await t.fetch(css, { method: 'HEAD' })).status).toBe(200);
    expect((await t.fetch('/static/css/nothing.css')).status).toBe(404);
  });
});
