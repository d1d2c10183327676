import { afterEach, describe, expect, it } from 'vitest';
import { makeUser, signIn, signInAs, type SignedInAgent } from '../helpers/accounts.js';
import { createTestApp, type TestApp } from '../helpers/index.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const PAGE = '/courses/prog1/syllabus';

/** Posts a comment on a page (the agent must have loaded a page, for its CSRF token). */
async function post(agent: SignedInAgent, body: string, page = 'syllabus'): Promise<Response> {
  return agent.post('/courses/prog1/comments', { page, body });
}

function commentCount(t: TestApp): number {
  return (t.app.deps.db.prepare('SELECT count(*) AS n FROM comments').get() as { n: number }).n;
}

/** The rendered comments: id, author, body HTML, in page order. */
function comments(html: string): Array<{ id: number; author: string; body: string; hidden: boolean; edited: boolean; time: string }> {
  return [...html.matchAll(/<li class="comment( hidden-comment)?" id="comment-(\d+)">([\s\S]*?)<\/li>\n/g)].map((m) => {
    const inner = m[3]!;
    return {
      id: Number(m[2]),
      hidden: m[1] !== undefined,
      author: /<strong class="author">([\s\S]*?)<\/strong>/.exec(inner)?.[1] ?? '',
      body: /<div class="comment-body">([\s\S]*?)<\/div>/.exec(inner)?.[1] ?? '',
      edited: inner.includes('(edited)'),
      time: /<time [^>]*>([^<]*)<\/time>/.exec(inner)?.[1] ?? '',
    };
  });
}

describe('comments', () => {
  it('invites anonymous readers of a public page to sign in and does not show them comments', async () => {
    t = await createTestApp();
    const student = await signIn(t, { name: 'Sam' });
    await student.get(PAGE);
    expect((await post(student, 'A private remark')).status).toBe(302);
    const res = await t.fetch(PAGE);
    const html = await res.text();
    expect(html).toContain('<a href="/login?next=%2Fcourses%2Fprog1%2Fsyllabus">Sign in to leave a comment</a>');
    expect(html).not.toContain('A private remark');
    expect(html).not.toContain('comment-form');
    const anonymousPost = await t.fetch('/courses/prog1/comments', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: new URLSearchParams({ page: 'syllabus', body: 'hello' }),
    });
    expect(anonymousPost.status).toBeGreaterThanOrEqual(400);
    expect(commentCount(t)).toBe(1);
  });

  it('lets a student post, shown oldest first with the author and the time in the course time zone', async () => {
    t = await createTestApp();
    const ann = await signIn(t, { name: 'Ann Anders' });
    const bob = await signIn(t, { name: 'Bob Berg' });
    await ann.get(PAGE);
    await bob.get(PAGE);
    const first = await post(ann, 'Is the exam **open book**?');
    expect(first.status).toBe(302);
    expect(first.headers.get('location')).toMatch(/^\/courses\/prog1\/syllabus#comment-\d+$/);
    t.clock.advance(90_000);
    expect((await post(bob, 'No, see the `exam` page.')).status).toBe(302);
    const { text } = await ann.get(PAGE);
    const list = comments(text);
    expect(list.map((c) => [c.author, c.body.trim()])).toEqual([
      ['Ann Anders', '<p>Is the exam <strong>open book</strong>?</p>'],
      ['Bob Berg', '<p>No, see the <code>exam</code> page.</p>'],
    ]);
    // The fixed clock starts at 09:00 UTC on 1 October 2026: 11:00 in Stockholm (CEST).
    expect(list[0]!.time).toBe('1 Oct 2026, 11:00 CEST');
    expect(list[1]!.time).toBe('1 Oct 2026, 11:01 CEST');
    // Comments belong to their page.
    expect(comments((await ann.get('/courses/prog1/math')).text)).toEqual([]);
  });

  it('rejects a post without the CSRF token', async () => {
    t = await createTestApp();
    const student = await signIn(t);
    await student.get(PAGE);
    const res = await student.post('/courses/prog1/comments', { page: 'syllabus', body: 'no token', _csrf: '' });
    expect(res.status).toBe(403);
    const forged = await student.post('/courses/prog1/comments', { page: 'syllabus', body: 'forged', _csrf: 'x'.repeat(43) });
    expect(forged.status).toBe(403);
    expect(commentCount(t)).toBe(0);
  });

  it('renders markdown without raw HTML, dangerous links or images, and escapes author names', async () => {
    t = await createTestApp();
    const eve = await signIn(t, { name: '<img src=x onerror=alert("name")>Eve' });
    await eve.get(PAGE);
    const payloads = [
      '<script>alert(1)</script>',
      '<img src=x onerror=alert(2)>',
      '[click](javascript:alert(3))',
      '[click](JaVaScRiPt:alert(4))',
      '[click](&#106;avascript:alert(5))',
      '[click](java\tscript:alert(6))',
      '<javascript:alert(7)>',
      '[click](vbscript:msgbox(8))',
      '[click](data:text/html;base64,PHNjcmlwdD5hbGVydCg5KTwvc2NyaXB0Pg==)',
      '![pic](https://evil.example/track.png)',
      '<a href="javascript:alert(10)">x</a>',
      '[ok](https://example.org/docs) and <https://example.org/auto>',
      '"><svg onload=alert(11)>',
    ];
    for (const p of payloads) {
      expect((await post(eve, p)).status, p).toBe(302);
      t.clock.advance(61_000);
    }
    const { text } = await eve.get(PAGE);
    const list = comments(text);
    expect(list).toHaveLength(payloads.length);
    const bodies = list.map((c) => c.body).join('\n');
    expect(bodies).not.toMatch(/<script|<img|<svg|<a href="(?!https:)/i);
    expect(bodies).not.toMatch(/href="\s*(javascript|vbscript|data):/i);
    expect(bodies).not.toMatch(/<[^>]*\son\w+\s*=/i);
    expect(bodies).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(bodies).toContain('<a href="https://example.org/docs" rel="nofollow noopener noreferrer ugc">ok</a>');
    expect(bodies).toContain('<a href="https://example.org/auto" rel="nofollow noopener noreferrer ugc">');
    expect(list[0]!.author).toBe('&lt;img src=x onerror=alert(&quot;name&quot;)&gt;Eve');
    expect(text).not.toContain('<img src=x');
  });

  it('lets the author edit for 15 minutes, then says why not; others cannot edit at all', async () => {
    t = await createTestApp();
    const ann = await signIn(t, { name: 'Ann' });
    const bob = await signIn(t, { name: 'Bob' });
    await ann.get(PAGE);
    await bob.get(PAGE);
    const id = Number(/comment-(\d+)/.exec((await post(ann, 'first version')).headers.get('location')!)![1]);

    const page = await ann.get(PAGE);
    expect(page.text).toContain('Edit (15 min left)');
    expect(page.text).toContain(`action="/courses/prog1/comments/${id}/edit"`);
    expect((await bob.get(PAGE)).text).not.toContain(`/comments/${id}/edit`);

    t.clock.advance(14 * 60_000);
    const edit = await ann.post(`/courses/prog1/comments/${id}/edit`, { body: 'second version' });
    expect(edit.status).toBe(302);
    expect(edit.headers.get('location')).toBe(`${PAGE}#comment-${id}`);
    const after = comments((await ann.get(PAGE)).text)[0]!;
    expect(after.body).toContain('second version');
    expect(after.edited).toBe(true);

    expect((await bob.post(`/courses/prog1/comments/${id}/edit`, { body: 'hijacked' })).status).toBe(404);

    t.clock.advance(2 * 60_000);
    expect((await ann.get(PAGE)).text).not.toContain(`/comments/${id}/edit`);
    const late = await ann.post(`/courses/prog1/comments/${id}/edit`, { body: 'third version' }, { headers: { accept: 'text/html' } });
    expect(late.status).toBe(403);
    expect(await late.text()).toContain('Comments can be edited for 15 minutes after posting; this one was posted 16 minutes ago.');
    expect(comments((await ann.get(PAGE)).text)[0]!.body).toContain('second version');
  });

  it('lets staff hide, show again and delete; students cannot', async () => {
    t = await createTestApp();
    const ann = await signIn(t, { name: 'Ann' });
    const tutor = await signIn(t, { role: 'tutor', name: 'Tim Tutor' });
    await ann.get(PAGE);
    await tutor.get(PAGE);
    const id = Number(/comment-(\d+)/.exec((await post(ann, 'the answer is 42')).headers.get('location')!)![1]);

    expect((await ann.post(`/courses/prog1/comments/${id}/hide`, { hidden: '1' })).status).toBe(404);
    expect((await ann.post(`/courses/prog1/comments/${id}/delete`)).status).toBe(404);

    expect((await tutor.post(`/courses/prog1/comments/${id}/hide`, { hidden: '1' })).status).toBe(302);
    expect(comments((await ann.get(PAGE)).text)).toEqual([]);
    const staffView = comments((await tutor.get(PAGE)).text);
    expect(staffView).toHaveLength(1);
    expect(staffView[0]!.hidden).toBe(true);
    expect((await tutor.get(PAGE)).text).toContain('Show to students');

    expect((await tutor.post(`/courses/prog1/comments/${id}/hide`, { hidden: '0' })).status).toBe(302);
    expect(comments((await ann.get(PAGE)).text)).toHaveLength(1);

    const del = await tutor.post(`/courses/prog1/comments/${id}/delete`);
    expect(del.status).toBe(302);
    expect(del.headers.get('location')).toBe(`${PAGE}#comments`);
    expect(comments((await tutor.get(PAGE)).text)).toEqual([]);
    expect(commentCount(t)).toBe(0);
    expect((await tutor.post(`/courses/prog1/comments/${id}/delete`)).status).toBe(404);
  });

  it('limits a user to 5 comments a minute, with a clear message and the text kept', async () => {
    t = await createTestApp();
    const ann = await signIn(t, { name: 'Ann' });
    const bob = await signIn(t, { name: 'Bob' });
    await ann.get(PAGE);
    await bob.get(PAGE);
    for (let i = 1; i <= 5; i++) {
      expect((await post(ann, `comment ${i}`)).status).toBe(302);
      t.clock.advance(10_000);
    }
    const limited = await post(ann, 'comment <6> & more');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('10');
    const html = await limited.text();
    expect(html).toContain('You have posted 5 comments in the last minute. Please wait 10 seconds and post again; your text is kept below.');
    expect(html).toContain('>comment &lt;6&gt; &amp; more</textarea>');
    // Other users are not affected.
    expect((await post(bob, 'my first')).status).toBe(302);
    t.clock.advance(10_001);
    expect((await post(ann, 'comment 6')).status).toBe(302);
    expect(commentCount(t)).toBe(7);
  });

  it('checks the text, the page and membership', async () => {
    t = await createTestApp();
    const ann = await signIn(t, { name: 'Ann' });
    await ann.get(PAGE);
    const empty = await post(ann, '   \n ');
    expect(empty.status).toBe(422);
    expect(await empty.text()).toContain('Write something before posting.');
    const long = await post(ann, 'x'.repeat(10_001));
    expect(long.status).toBe(422);
    expect(await long.text()).toContain('A comment can be at most 10000 characters long (this one has 10001).');
    // A staff-only page and a missing page answer alike: 404.
    expect((await post(ann, 'hi', 'staff-notes')).status).toBe(404);
    expect((await post(ann, 'hi', 'no-such-page')).status).toBe(404);
    expect((await ann.post('/courses/nope/comments', { page: 'syllabus', body: 'hi' })).status).toBe(404);

    const outsider = await signInAs(t, makeUser(t, { role: null, name: 'Olga' }));
    await outsider.get(PAGE);
    const res = await post(outsider, 'let me in');
    expect(res.status).toBe(403);
    expect(commentCount(t)).toBe(0);

    // Staff can comment on a staff page, and on the course home.
    const lecturer = await signIn(t, { role: 'lecturer' });
    await lecturer.get('/courses/prog1/staff-notes');
    expect((await post(lecturer, 'note to tutors', 'staff-notes')).status).toBe(302);
    const home = await post(lecturer, 'welcome!', '');
    expect(home.headers.get('location')).toMatch(/^\/courses\/prog1\/#comment-\d+$/);
    expect(comments((await lecturer.get('/')).text).map((c) => c.body.trim())).toEqual(['<p>welcome!</p>']);
  });
});
