import { mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { safeSegments } from '../../src/plugins/pages/files.js';
import { pageCounters, renderCounters } from '../../src/plugins/pages/counters.js';
import { replayCounters } from '../../src/lib/replay.js';
import { makeUser, signIn, signInAs } from '../helpers/accounts.js';
import { createTestApp, tempDir, type Agent, type TestApp } from '../helpers/index.js';
import { copyDemoContent } from '../helpers/content.js';
import { withVariants, type Resolve } from './variants-plugin.js';

let t: TestApp | undefined;
const cleanups: Array<() => void> = [];
afterEach(async () => {
  await t?.close();
  t = undefined;
  for (const c of cleanups.splice(0)) c();
});

/** A copy of the demo course to change freely; removed after the test. */
function copyContent(): string {
  const dir = copyDemoContent();
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writePage(content: string, rel: string, text: string): string {
  const file = path.join(content, 'pages', rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

/** GET with the path sent exactly as written (fetch would normalise "..", "%2e" and backslashes). */
function rawGet(base: string, rawPath: string, agent?: Agent, extra: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  const url = new URL(base);
  const headers: Record<string, string> = { accept: 'text/html', ...extra };
  if (agent?.cookies.size) headers.cookie = [...agent.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: rawPath, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

function navTitles(html: string): string[] {
  const nav = /<nav class="course-nav"[\s\S]*?<\/nav>/.exec(html)?.[0] ?? '';
  return [...nav.matchAll(/<a href="[^"]*"(?: aria-current="page")?>([^<]*)<\/a>/g)].map((m) => m[1]!);
}

function prevNext(html: string): { prev: string | null; next: string | null } {
  const block = /<nav class="prev-next"[\s\S]*?<\/nav>/.exec(html)?.[0] ?? '';
  return {
    prev: /rel="prev" href="([^"]+)"/.exec(block)?.[1] ?? null,
    next: /rel="next" href="([^"]+)"/.exec(block)?.[1] ?? null,
  };
}

describe('public pages', () => {
  it('shows the course home to anonymous visitors with a nav of public pages only', async () => {
    t = await createTestApp();
    for (const url of ['/', '/courses/prog1/']) {
      const res = await t.fetch(url);
      expect(res.status).toBe(200);
      const html = await res.text();
      expect(html).toContain('<h1>Welcome to Programming 1</h1>');
      expect(navTitles(html)).toEqual(['Programming 1', 'Syllabus', 'Math on the page']);
      expect(html).not.toContain('Notes for tutors');
      expect(html).not.toContain('Exam preparation');
      expect(html).toContain('<a href="/login?next=%2Fcourses%2Fprog1%2F">Sign in to leave a comment</a>');
    }
    const syllabus = await t.fetch('/courses/prog1/syllabus');
    expect(syllabus.status).toBe(200);
    expect(await syllabus.text()).toContain('<title>Syllabus · Programming 1</title>');
  });

  it('lists the courses', async () => {
    t = await createTestApp();
    const res = await t.fetch('/courses/');
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<a href="/courses/prog1/">Programming 1</a>');
    const bare = await t.fetch('/courses');
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe('/courses/');
  });

  it('redirects other spellings of a page address to the canonical one', async () => {
    t = await createTestApp();
    const cases: Array<[string, string]> = [
      ['/courses/prog1', '/courses/prog1/'],
      ['/courses/prog1/syllabus/', '/courses/prog1/syllabus'],
      ['/courses/prog1/syllabus.md', '/courses/prog1/syllabus'],
      ['/courses/prog1/index.md', '/courses/prog1/'],
      ['/courses/prog1/math?x=1', '/courses/prog1/math?x=1'],
    ];
    for (const [from, to] of cases) {
      const res = await t.fetch(from);
      if (from === to) {
        expect(res.status).toBe(200);
        continue;
      }
      expect(res.status, from).toBe(301);
      expect(res.headers.get('location'), from).toBe(to);
    }
  });
});

describe('who may read what', () => {
  it('sends anonymous visitors of an enrolled page to sign in, and answers 404 for staff pages and missing ones', async () => {
    t = await createTestApp();
    const enrolled = await t.fetch('/courses/prog1/code/', { headers: { accept: 'text/html' } });
    expect(enrolled.status).toBe(302);
    expect(enrolled.headers.get('location')).toBe('/login?next=%2Fcourses%2Fprog1%2Fcode%2F');
    const staff = await t.fetch('/courses/prog1/staff-notes', { headers: { accept: 'text/html' } });
    const missing = await t.fetch('/courses/prog1/no-such-page', { headers: { accept: 'text/html' } });
    expect(staff.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(await staff.text()).not.toContain('tutors');
    expect((await t.fetch('/courses/nope/')).status).toBe(404);
  });

  it('gives a student the enrolled pages, and a 404 (not 403) for a staff-only page', async () => {
    t = await createTestApp();
    const student = await signIn(t, { role: 'student', name: 'Sam Student' });
    const { res, text } = await student.get('/courses/prog1/code/');
    expect(res.status).toBe(200);
    expect(navTitles(text)).toEqual(['Programming 1', 'Syllabus', 'Code in C and Python', 'Math on the page', 'Your assignments']);

    const staffPage = await student.get('/courses/prog1/staff-notes');
    const missing = await student.get('/courses/prog1/no-such-page');
    expect(staffPage.res.status).toBe(404);
    expect(missing.res.status).toBe(404);
    // The same answer as for a page that does not exist: nothing to tell them apart.
    const strip = (s: string) => s.replace(/request [0-9a-f-]{36}/, '').replace(/name="_csrf" value="[^"]*"/g, '').replace(/next=[^"]*/g, '');
    expect(strip(staffPage.text)).toBe(strip(missing.text));
  });

  it('shows public pages to a signed-in user of another course, but not enrolled ones or comments', async () => {
    t = await createTestApp();
    const outsider = await signIn(t, { role: null, name: 'Olga Outsider' });
    const pub = await outsider.get('/courses/prog1/syllabus');
    expect(pub.res.status).toBe(200);
    expect(pub.text).toContain('Only students and staff of Programming 1 can read and write comments here.');
    expect((await outsider.get('/courses/prog1/code/')).res.status).toBe(404);
  });

  it('shows staff everything, with notes on visibility and release', async () => {
    t = await createTestApp();
    const tutor = await signIn(t, { role: 'tutor', name: 'Tim Tutor' });
    const notes = await tutor.get('/courses/prog1/staff-notes');
    expect(notes.res.status).toBe(200);
    expect(notes.text).toContain('Staff only: students do not see this page.');
    expect(navTitles(notes.text)).toContain('Notes for tutors');
    expect(notes.text).toContain('<span class="tag">staff only</span>');
    const exam = await tutor.get('/courses/prog1/exam/');
    expect(exam.res.status).toBe(200);
    expect(exam.text).toContain('Not released yet: students see this page from 11 Jan 2027, 08:00 CET.');
    expect(exam.text).toContain('<span class="tag">from 11 Jan 2027, 08:00 CET</span>');
  });

  it('releases a page and its files at the release time (course clock), not before', async () => {
    t = await createTestApp();
    t.clock.set('2027-01-11T06:59:59Z');
    const student = await signIn(t);
    expect((await student.get('/courses/prog1/exam/')).res.status).toBe(404);
    expect((await student.get('/courses/prog1/files/exam/exam-2025.txt')).res.status).toBe(404);
    expect(navTitles((await student.get('/courses/prog1/')).text)).not.toContain('Exam preparation');
    t.clock.advance(1000);
    const page = await student.get('/courses/prog1/exam/');
    expect(page.res.status).toBe(200);
    expect(page.text).toContain('<h1>Exam preparation</h1>');
    expect(navTitles(page.text)).toContain('Exam preparation');
    const file = await student.get('/courses/prog1/files/exam/exam-2025.txt');
    expect(file.res.status).toBe(200);
    expect(file.text).toContain('reverses a string');
  });

  it('keeps a page with broken front matter for staff only, and says what is wrong', async () => {
    const content = copyContent();
    writePage(content, 'oops.md', '---\ntitle: Oops\nvisibility: everyone\n---\n# Oops\n');
    writePage(content, 'bad-date.md', '---\ntitle: Bad date\nrelease: 2026-10-05 08:00\n---\n# Bad date\n');
    writePage(content, 'windows.md', '\uFEFF---\r\ntitle: From Windows\r\nvisibility: enrolled\r\n---\r\n# Windows\r\n\r\nLine endings.\r\n');
    t = await createTestApp({ config: { contentDir: content } });
    const student = await signIn(t);
    expect((await student.get('/courses/prog1/oops')).res.status).toBe(404);
    expect((await student.get('/courses/prog1/bad-date')).res.status).toBe(404);
    const windows = await student.get('/courses/prog1/windows');
    expect(windows.res.status).toBe(200);
    expect(windows.text).toContain('<title>From Windows · Programming 1</title>');
    expect(windows.text).not.toContain('---');
    const lecturer = await signIn(t, { role: 'lecturer' });
    const oops = await lecturer.get('/courses/prog1/oops');
    expect(oops.res.status).toBe(200);
    expect(oops.text).toContain('pages/oops.md: front matter: visibility:');
    const bad = await lecturer.get('/courses/prog1/bad-date');
    expect(bad.text).toContain('use an ISO 8601 date and time with an offset');
    expect(navTitles(oops.text)).toContain('Oops');
    expect(oops.text).toContain('<span class="tag">front matter error</span>');
  });
});

describe('rendering', () => {
  it('highlights code on the server and renders math as MathML without inline styles', async () => {
    t = await createTestApp();
    const student = await signIn(t);
    const code = await student.get('/courses/prog1/code/');
    expect(code.text).toContain('<pre tabindex="0"><code class="hljs language-c"><span class="hljs-meta">#<span class="hljs-keyword">include</span>');
    expect(code.text).toContain('<code class="hljs language-python"><span class="hljs-keyword">import</span> sys');
    // A tag inside a code block is personal too, and raw blocks keep braces as written.
    expect(code.text).toContain(`./caesar --author <span class="hljs-string">&quot;${student.user.name}&quot;</span>`);
    expect(code.text).toContain('= {{<span class="hljs-number">1</span>, <span class="hljs-number">2</span>}, {<span class="hljs-number">3</span>, <span class="hljs-number">4</span>}};');
    expect(code.text).toContain('<img src="/courses/prog1/files/code/memory.svg"');
    expect(code.text).toContain('<link rel="stylesheet" href="/static/css/highlight.');

    const math = await student.get('/courses/prog1/math');
    const body = /<div class="page-body">([\s\S]*?)<\/div>\s*<nav class="prev-next"/.exec(math.text)![1]!;
    expect(body).toContain('<math xmlns="http://www.w3.org/1998/Math/MathML"><semantics><mrow><mfrac>');
    expect(body).toContain('<div class="math-display" data-wide tabindex="0"><span class="katex"><math xmlns="http://www.w3.org/1998/Math/MathML" display="block">');
    expect(body).toContain('A dollar amount like $5 or $10 stays text');
    expect(body).toMatch(/<code class="math-error" title="KaTeX parse error:[^"]*">\$\\frac\{1\}\{\$<\/code>/);
    expect(body).not.toMatch(/\sstyle=/);
  });

  it('escapes page titles, raw HTML in pages and personal values', async () => {
    const content = copyContent();
    writePage(
      content,
      'xss.md',
      '---\ntitle: "<script>alert(1)</script>"\norder: 1.5\nvisibility: enrolled\n---\nHi {{ student.name }}!\n\n<script>alert(2)</script> <img src=x onerror=alert(3)>\n\n[x](javascript:alert(4))\n',
    );
    t = await createTestApp({ config: { contentDir: content } });
    const student = await signIn(t, { name: '<img src=x onerror=alert(5)>' });
    const { res, text } = await student.get('/courses/prog1/xss');
    expect(res.status).toBe(200);
    expect(text).toContain('<title>&lt;script&gt;alert(1)&lt;/script&gt; · Programming 1</title>');
    expect(text).toContain('Hi &lt;img src=x onerror=alert(5)&gt;!');
    expect(text).toContain('&lt;script&gt;alert(2)&lt;/script&gt; &lt;img src=x onerror=alert(3)&gt;');
    expect(text).not.toContain('href="javascript:');
    expect(text).not.toMatch(/<script>alert|<img src=x/);
    // The title is escaped in the neighbours' prev/next links too.
    const syllabus = await student.get('/courses/prog1/syllabus');
    expect(syllabus.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt; →</a>');
  });

  it('orders the page tree by order, then title, folders included, and links prev/next in that order', async () => {
    const content = copyContent();
    rmSync(path.join(content, 'pages'), { recursive: true });
    writePage(content, 'index.md', '---\ntitle: Home\nvisibility: public\n---\n# Home\n');
    writePage(content, 'zeta.md', '---\ntitle: Zeta\norder: 1\nvisibility: public\n---\nz');
    writePage(content, 'week1/index.md', '---\ntitle: Week 1\norder: 2\nvisibility: public\n---\nw');
    writePage(content, 'week1/b.md', '---\ntitle: Bravo\norder: 1\nvisibility: public\n---\nb');
    writePage(content, 'week1/a.md', '---\ntitle: Alpha\norder: 1\nvisibility: public\n---\na');
    writePage(content, 'week1/last.md', '---\nvisibility: public\n---\n# Latecomer\n');
    writePage(content, 'week1/hidden.md', '---\ntitle: Hidden\norder: 0\nvisibility: staff\n---\nh');
    writePage(content, 'week2/only.md', '---\ntitle: Only child\norder: 1\nvisibility: public\n---\no');
    writePage(content, 'alpha.md', '---\ntitle: Alpha top\nvisibility: public\n---\na');
    t = await createTestApp({ config: { contentDir: content } });
    const home = await (await t.fetch('/courses/prog1/')).text();
    expect(navTitles(home)).toEqual(['Programming 1', 'Zeta', 'Week 1', 'Alpha', 'Bravo', 'Latecomer', 'Alpha top', 'Only child']);
    // A folder without index.md is a heading, not a link.
    expect(home).toContain('<span class="folder">Week2</span>');
    expect(prevNext(home)).toEqual({ prev: null, next: '/courses/prog1/zeta' });
    expect(prevNext(await (await t.fetch('/courses/prog1/week1/')).text())).toEqual({ prev: '/courses/prog1/zeta', next: '/courses/prog1/week1/a' });
    expect(prevNext(await (await t.fetch('/courses/prog1/week1/last')).text())).toEqual({ prev: '/courses/prog1/week1/b', next: '/courses/prog1/alpha' });
    expect(prevNext(await (await t.fetch('/courses/prog1/alpha')).text())).toEqual({ prev: '/courses/prog1/week1/last', next: '/courses/prog1/week2/only' });
    expect(prevNext(await (await t.fetch('/courses/prog1/week2/only')).text())).toEqual({ prev: '/courses/prog1/alpha', next: null });
    const tutor = await signIn(t, { role: 'tutor' });
    const staffHome = await tutor.get('/courses/prog1/week1/');
    expect(navTitles(staffHome.text)).toEqual(['Programming 1', 'Zeta', 'Week 1', 'Hidden', 'Alpha', 'Bravo', 'Latecomer', 'Alpha top', 'Only child']);
    expect(prevNext(staffHome.text).next).toBe('/courses/prog1/week1/hidden');
  });

  it('gives page templates only the reader, the course and the page: no app internals, no files', async () => {
    const content = copyContent();
    writePage(content, 'context.md', '---\nvisibility: enrolled\n---\n[{{ deps }}][{{ db }}][{{ config.dataDir }}][{{ ctx }}][{{ user.email }}][{{ csrfToken }}][{{ site }}][{{ asset }}] {{ course.slug }}/{{ page.title }}/{{ student.email }}\n');
    writePage(content, 'include.md', '---\nvisibility: enrolled\n---\n{% include "layout.njk" %}\n');
    t = await createTestApp({ config: { contentDir: content } });
    const lecturer = await signIn(t, { role: 'lecturer', email: 'lena@example.org' });
    const { text } = await lecturer.get('/courses/prog1/context');
    expect(text).toContain('<p>[][][][][][][][] prog1/Context/lena@example.org</p>');
    const include = await lecturer.get('/courses/prog1/include');
    expect(include.res.status).toBe(503);
    expect(include.text).toContain('template not found: layout.njk');
  });

  it('keeps paragraphs balanced around block tags, in every branch', async () => {
    const content = copyContent();
    writePage(content, 'branches.md', '---\nvisibility: public\n---\n{% if student %}\nSigned in.\n{% else %}\nAnonymous.\n{% endif %}\n\n{% if student %}\n\nYes.\n\n{% else %}\n\nNo.\n\n{% endif %}\n\n{# a note for authors #}\n\nEnd.\n');
    t = await createTestApp({ config: { contentDir: content } });
    const body = (html: string) => /<div class="page-body">([\s\S]*?)<\/div>/.exec(html)![1]!;
    const anonymous = body(await (await t.fetch('/courses/prog1/branches')).text());
    const student = body((await (await signIn(t)).get('/courses/prog1/branches')).text);
    expect(anonymous.replace(/\s+/g, ' ').trim()).toBe('<p> Anonymous. </p> <p>No.</p> <p>End.</p>');
    expect(student.replace(/\s+/g, ' ').trim()).toBe('<p> Signed in. </p> <p>Yes.</p> <p>End.</p>');
  });

  it('makes a generated home for a course without pages/index.md', async () => {
    const content = copyContent();
    rmSync(path.join(content, 'pages', 'index.md'));
    t = await createTestApp({ config: { contentDir: content } });
    const res = await t.fetch('/courses/prog1/');
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<h1>Programming 1</h1>');
    expect(html).toContain('Systems programming in C and Python');
    expect(navTitles(html)).toContain('Syllabus');
  });
});

describe('template errors', () => {
  it('shows staff the file and line, students a polite 503, and logs once per file version', async () => {
    const content = copyContent();
    writePage(content, 'broken.md', '---\ntitle: Broken\nvisibility: public\n---\n# Broken\n\nText.\n\nHello {{ student.name( }}\n');
    writePage(content, 'crash.md', '---\ntitle: Crash\nvisibility: public\n---\n# Crash\n\nOne\n\nTwo {{ nothing.here() }}\n');
    writePage(content, 'unclosed.md', '---\ntitle: Unclosed\nvisibility: public\n---\nA\n\n{% if student %}\nB\n');
    t = await createTestApp({ config: { contentDir: content } });
    const student = await signIn(t);
    const lecturer = await signIn(t, { role: 'lecturer' });

    for (let i = 0; i < 3; i++) {
      const s = await student.get('/courses/prog1/broken');
      expect(s.res.status).toBe(503);
      expect(s.text).toContain('This page cannot be shown right now because of a mistake in its content.');
      expect(s.text).not.toContain('broken.md');
      expect(s.text).not.toContain('unexpected token');
    }
    const l = await lecturer.get('/courses/prog1/broken');
    expect(l.res.status).toBe(503);
    expect(l.text).toContain('<code>pages/broken.md, line 9</code>: unexpected token');
    expect(l.text).toContain('{% raw %}');
    // Navigation still works around a broken page.
    expect(navTitles(l.text)).toContain('Syllabus');

    const crash = await lecturer.get('/courses/prog1/crash');
    expect(crash.res.status).toBe(503);
    expect(crash.text).toContain('<code>pages/crash.md, line 9</code>: Unable to call `nothing[&quot;here&quot;]`');
    const anonymous = await t.fetch('/courses/prog1/crash');
    expect(anonymous.status).toBe(503);
    expect(await anonymous.text()).not.toContain('nothing');

    const unclosed = await lecturer.get('/courses/prog1/unclosed');
    expect(unclosed.text).toContain('<code>pages/unclosed.md, line 7</code>: parseIf: expected elif, else, or endif, got end of file');

    const logged = t.logs.filter((line) => line.msg === 'page template error');
    expect(logged.map((line) => [path.basename(String(line.file)), line.line])).toEqual([
      ['broken.md', 9],
      ['crash.md', 9],
      ['unclosed.md', 7],
    ]);
    // A 503 for a content problem is not a server failure.
    expect(t.logs.filter((line) => line.msg === 'request failed')).toEqual([]);
  });

  it('refuses a tag inside math, naming the line', async () => {
    const content = copyContent();
    writePage(content, 'mathtag.md', '---\nvisibility: public\n---\nIntro\n\n$x = {{ student.id }}$\n');
    t = await createTestApp({ config: { contentDir: content } });
    const lecturer = await signIn(t, { role: 'lecturer' });
    const { res, text } = await lecturer.get('/courses/prog1/mathtag');
    expect(res.status).toBe(503);
    expect(text).toContain('<code>pages/mathtag.md, line 6</code>: nunjucks tags cannot be used inside $...$ math');
  });
});

describe('traversal', () => {
  it('never reads outside the pages folder, whatever the encoding or symlink', async () => {
    const content = copyContent();
    const outside = tempDir('lectern-outside-');
    cleanups.push(() => rmSync(outside, { recursive: true, force: true }));
    writeFileSync(path.join(outside, 'secret.txt'), 'TOP-SECRET-OUTSIDE');
    writeFileSync(path.join(outside, 'secret.md'), '---\nvisibility: public\ntitle: Leaked\n---\nTOP-SECRET-OUTSIDE');
    writeFileSync(path.join(content, 'secret.txt'), 'TOP-SECRET-COURSE');
    writeFileSync(path.join(content, 'pages', '.hidden'), 'TOP-SECRET-HIDDEN');
    symlinkSync(path.join(outside, 'secret.txt'), path.join(content, 'pages', 'leak.txt'));
    symlinkSync(path.join(outside, 'secret.md'), path.join(content, 'pages', 'leak.md'));
    symlinkSync(outside, path.join(content, 'pages', 'outside'));
    symlinkSync(path.join(content, 'pages', 'code', 'hello.c'), path.join(content, 'pages', 'alias.c'));
    t = await createTestApp({ config: { contentDir: content } });
    const lecturer = await signIn(t, { role: 'lecturer' });

    const attempts = [
      '/courses/prog1/files/../secret.txt',
      '/courses/prog1/files/%2e%2e/secret.txt',
      '/courses/prog1/files/%2E%2E/secret.txt',
      '/courses/prog1/files/.%2e/secret.txt',
      '/courses/prog1/files/%2e%2e%2fsecret.txt',
      '/courses/prog1/files/..%2fsecret.txt',
      '/courses/prog1/files/..%2Fsecret.txt',
      '/courses/prog1/files/code/..%2f..%2fsecret.txt',
      '/courses/prog1/files/code%2f..%2f..%2fsecret.txt',
      '/courses/prog1/files/..%5csecret.txt',
      '/courses/prog1/files/code/..\\..\\secret.txt',
      '/courses/prog1/files/%252e%252e/secret.txt',
      '/courses/prog1/files/%c0%ae%c0%ae/secret.txt',
      '/courses/prog1/files//etc/passwd',
      '/courses/prog1/files/%2fetc%2fpasswd',
      '/courses/prog1/files/code/hello.c%00.png',
      '/courses/prog1/files/%00',
      '/courses/prog1/files/leak.txt',
      '/courses/prog1/files/outside/secret.txt',
      '/courses/prog1/files/outside/secret.md',
      '/courses/prog1/files/.hidden',
      '/courses/prog1/files/%2ehidden',
      '/courses/prog1/files/syllabus.md',
      '/courses/prog1/files/code/index.md',
      '/courses/prog1/files/code/INDEX.MD',
      '/courses/prog1/files/code',
      '/courses/prog1/files/code/',
      '/courses/prog1/files/',
      '/courses/prog1/../secret',
      '/courses/prog1/%2e%2e/secret',
      '/courses/prog1/%2e%2e%2fsecret',
      '/courses/prog1/leak',
      '/courses/prog1/outside/secret',
      '/courses/prog1/code%2findex',
      '/courses/prog1/..%5c..%5cetc%5cpasswd',
      '/courses/prog1/files/etc/passwd',
      '/courses/prog1/files/' + '../'.repeat(20) + 'etc/passwd',
    ];
    for (const p of attempts) {
      const res = await rawGet(t.url, p, lecturer);
      expect(res.status, p).toBe(404);
      expect(res.body, p).not.toContain('TOP-SECRET');
      expect(res.body, p).not.toContain('root:x:0:0');
    }
    // Symlinks that stay inside the pages folder are fine, and the outside page is not in the nav.
    const alias = await rawGet(t.url, '/courses/prog1/files/alias.c', lecturer);
    expect(alias.status).toBe(200);
    expect(alias.body).toContain('scanf');
    const home = await lecturer.get('/courses/prog1/');
    expect(home.text).not.toContain('Leaked');
    expect(t.logs.some((l) => l.msg === 'ignoring a symlink that points outside the pages folder')).toBe(true);
  });
});

describe('path checks', () => {
  it('rejects dot segments, encoded separators, backslashes, NUL and hidden names before any file system call', () => {
    for (const raw of ['..', '%2e%2e', '.%2E', 'a/../b', 'a/%2e%2e/b', 'a%2fb', 'a%2Fb', 'a%5cb', 'a\\b', 'a%00b', '%00', 'a//b', '/a', '.git/config', 'a/.env', '%2ehidden', '%E0%A4%A', 'a%0ab']) {
      expect(safeSegments(raw), raw).toBeNull();
    }
    expect(safeSegments('code/hello.c')).toEqual(['code', 'hello.c']);
    expect(safeSegments('%C3%BCbung/caf%C3%A9.txt')).toEqual(['übung', 'café.txt']);
    expect(safeSegments('week1/', true)).toEqual(['week1']);
    expect(safeSegments('week1/')).toBeNull();
  });
});

describe('files beside pages', () => {
  it('serves them with their type, validators, a sandboxing CSP, and downloads for unknown types', async () => {
    const content = copyContent();
    writePage(content, 'code/data.bin', 'binary');
    writePage(content, 'code/page.html', '<script>alert(1)</script>');
    t = await createTestApp({ config: { contentDir: content } });
    // Files take the visibility of their folder's index.md: code/ is for enrolled students.
    const anonymous = await t.fetch('/courses/prog1/files/code/hello.c', { headers: { accept: 'text/html' } });
    expect(anonymous.status).toBe(302);
    const student = await signIn(t);
    const c = await student.fetch('/courses/prog1/files/code/hello.c');
    expect(c.status).toBe(200);
    expect(c.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(c.headers.get('content-disposition')).toBe(`inline; filename="hello.c"; filename*=UTF-8''hello.c`);
    expect(c.headers.get('cache-control')).toBe('private, no-cache');
    const etag = c.headers.get('etag')!;
    expect(etag).toMatch(/^W\/"/);
    // (fetch() adds "Cache-Control: no-cache" to conditional requests, which rightly defeats them.)
    expect((await rawGet(t.url, '/courses/prog1/files/code/hello.c', student, { 'if-none-match': etag })).status).toBe(304);
    expect((await rawGet(t.url, '/courses/prog1/files/code/hello.c', student, { 'if-none-match': 'W/"other"' })).status).toBe(200);
    const svg = await student.fetch('/courses/prog1/files/code/memory.svg');
    expect(svg.headers.get('content-type')).toBe('image/svg+xml');
    expect(svg.headers.get('content-security-policy')).toContain('sandbox');
    const bin = await student.fetch('/courses/prog1/files/code/data.bin');
    expect(bin.headers.get('content-type')).toBe('application/octet-stream');
    expect(bin.headers.get('content-disposition')).toMatch(/^attachment;/);
    const html = await student.fetch('/courses/prog1/files/code/page.html');
    expect(html.headers.get('content-type')).toBe('application/octet-stream');
    expect(html.headers.get('content-disposition')).toMatch(/^attachment;/);
    // Files beside the public home page are public; the exam folder is not released yet.
    writePage(content, 'logo.png', 'png');
    const logo = await t.fetch('/courses/prog1/files/logo.png');
    expect(logo.status).toBe(200);
    expect(logo.headers.get('content-type')).toBe('image/png');
    expect((await t.fetch('/courses/prog1/files/exam/exam-2025.txt')).status).toBe(404);
  });
});

describe('view as', () => {
  it('lets staff see a page with a student\'s name and variant values, with a banner; students cannot', async () => {
    const resolver: Resolve = async (req) => (req.slug === 'caesar' ? { params: { shift: req.user.id * 10, phrase: 'Hi <b>', encrypted: 'Kl <e>' } } : null);
    t = await createTestApp({ plugins: withVariants(resolver) });
    const ann = makeUser(t, { name: 'Ann Anders', email: 'ann@example.org', studentId: 'S-1001' });
    const lecturer = await signIn(t, { role: 'lecturer', name: 'Lena Lecturer' });

    const own = await lecturer.get('/courses/prog1/your-assignments');
    expect(own.text).toContain('<h1>Hello, Lena Lecturer!</h1>');
    expect(own.text).toContain('View this page as');

    for (const as of ['ann@example.org', 'ANN@example.org', String(ann.id)]) {
      const { res, text } = await lecturer.get(`/courses/prog1/your-assignments?as=${encodeURIComponent(as)}`);
      expect(res.status, as).toBe(200);
      expect(text).toContain('Viewing as <strong>Ann Anders</strong> (ann@example.org, student)');
      expect(text).toContain('<h1>Hello, Ann Anders!</h1>');
      expect(text).toContain('Your student id is <strong>S-1001</strong>.');
      expect(text).toContain(`Your shift is <strong>${ann.id * 10}</strong>`);
      expect(text).toContain('<pre tabindex="0"><code>Hi &lt;b&gt;\n</code></pre>');
      expect(text).toContain('variant(&quot;stats&quot;) is empty');
      // Navigation is the student's, and keeps the view.
      expect(navTitles(text)).not.toContain('Notes for tutors');
      expect(text).toContain(`href="/courses/prog1/syllabus?as=${encodeURIComponent(as)}"`);
      expect(text).toContain('<a href="/courses/prog1/your-assignments">Stop viewing as Ann Anders</a>');
    }
    const staffOnly = await lecturer.get('/courses/prog1/staff-notes?as=ann@example.org');
    expect(staffOnly.res.status).toBe(200);
    expect(staffOnly.text).toContain('<strong>They cannot see this page</strong>');

    expect((await lecturer.get('/courses/prog1/your-assignments?as=nobody@example.org')).res.status).toBe(404);
    makeUser(t, { email: 'other@example.org', role: null });
    const outsider = await lecturer.get('/courses/prog1/your-assignments?as=other@example.org');
    expect(outsider.res.status).toBe(404);
    // The same answer as for an unknown address: staff learn nothing about other courses' accounts.
    expect(outsider.text).toContain('Programming 1 has no member &quot;other@example.org&quot;');

    // A student's ?as= is ignored: they always see themselves.
    const bob = await signIn(t, { name: 'Bob Berg' });
    const b = await bob.get('/courses/prog1/your-assignments?as=ann@example.org');
    expect(b.res.status).toBe(200);
    expect(b.text).toContain('<h1>Hello, Bob Berg!</h1>');
    expect(b.text).not.toContain('Ann');
    expect(b.text).toContain(`Your shift is <strong>${bob.user.id * 10}</strong>`);
    expect(b.text).not.toContain('is empty');
  });

  it('tells staff when no variant resolver is registered; students just see the page', async () => {
    t = await createTestApp({ plugins: withVariants(null) });
    const student = await signIn(t, { name: 'Sue' });
    const s = await student.get('/courses/prog1/your-assignments');
    expect(s.res.status).toBe(200);
    expect(s.text).toContain('Your shift appears here once the assignment is open.');
    expect(s.text).toContain('Your data set appears here once the assignment is open.');
    expect(s.text).not.toContain('resolver');
    const tutor = await signIn(t, { role: 'tutor' });
    const staff = await tutor.get('/courses/prog1/your-assignments');
    expect(staff.text).toContain('no variant resolver is registered');
  });

  it('shows the page with empty values when the resolver fails, tells the reader to reload, and logs once', async () => {
    t = await createTestApp({
      plugins: withVariants(async (req) => {
        if (req.slug === 'stats') throw new Error('sandbox busy');
        return { params: { shift: 3 } };
      }),
    });
    const student = await signIn(t);
    for (let i = 0; i < 2; i++) {
      const { res, text } = await student.get('/courses/prog1/your-assignments');
      expect(res.status).toBe(200);
      expect(text).toContain('Your shift is <strong>3</strong>');
      expect(text).toContain('Your values for &quot;stats&quot; could not be loaded just now. Please reload the page in a moment.');
      expect(text).not.toContain('sandbox busy');
    }
    const lecturer = await signIn(t, { role: 'lecturer' });
    expect((await lecturer.get('/courses/prog1/your-assignments')).text).toContain('variant(&quot;stats&quot;) failed for');
    expect(t.logs.filter((l) => l.msg === 'variant resolver failed')).toHaveLength(1);
  });

  it('resolves each variant once per request, before rendering', async () => {
    const calls: string[] = [];
    t = await createTestApp({
      plugins: withVariants(async (req) => {
        calls.push(`${req.course}/${req.slug}/${req.user.email}`);
        await new Promise((r) => setTimeout(r, 5));
        return { params: { shift: 7, data: [3, 1, 4], n: 3, topic: 'pies eaten', unit: 'pies' } };
      }),
    });
    const student = await signIn(t, { email: 'vic@example.org' });
    const { text } = await student.get('/courses/prog1/your-assignments');
    expect(text).toContain('Your shift is <strong>7</strong>');
    expect(text).toContain('Your data set: 3 measurements of pies eaten (in pies):\n3, 1, 4.');
    expect(calls.sort()).toEqual(['prog1/caesar/vic@example.org', 'prog1/stats/vic@example.org']);
    // Pages without variant(...) never call it.
    await student.get('/courses/prog1/syllabus');
    expect(calls).toHaveLength(2);
  });
});

describe('caching', () => {
  it('parses and compiles a page once per file version, and does not look at the disk again in production', async () => {
    const content = copyContent();
    const file = path.join(content, 'pages', 'syllabus.md');
    t = await createTestApp({ config: { contentDir: content } });
    const before = { ...pageCounters };
    const first = await (await t.fetch('/courses/prog1/syllabus')).text();
    const afterFirst = { ...pageCounters };
    expect(afterFirst.markdown - before.markdown).toBe(1);
    expect(afterFirst.compile - before.compile).toBe(1);
    for (let i = 0; i < 3; i++) expect(await (await t.fetch('/courses/prog1/syllabus')).text()).toBe(first);
    expect(pageCounters).toEqual(afterFirst);
    writeFileSync(file, '---\ntitle: Changed\nvisibility: public\n---\n# Changed\n');
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(await (await t.fetch('/courses/prog1/syllabus')).text()).toBe(first);
    expect(pageCounters).toEqual(afterFirst);
  });

  it('picks up a change on the next request in development, re-reading only the changed file', async () => {
    const content = copyContent();
    const file = path.join(content, 'pages', 'syllabus.md');
    t = await createTestApp({ config: { contentDir: content, env: 'development' } });
    expect(await (await t.fetch('/courses/prog1/syllabus')).text()).toContain('<h1>Syllabus</h1>');
    await t.fetch('/courses/prog1/math');
    const before = { ...pageCounters };
    await t.fetch('/courses/prog1/syllabus');
    expect(pageCounters).toEqual(before);

    writeFileSync(file, '---\ntitle: Syllabus v2\nvisibility: public\n---\n# Syllabus, second edition\n');
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const html = await (await t.fetch('/courses/prog1/syllabus')).text();
    expect(html).toContain('<h1>Syllabus, second edition</h1>');
    expect(navTitles(html)).toContain('Syllabus v2');
    expect(pageCounters.reads - before.reads).toBe(1);
    expect(pageCounters.markdown - before.markdown).toBe(1);
    await t.fetch('/courses/prog1/math');
    expect(pageCounters.markdown - before.markdown).toBe(1);

    writePage(content, 'new-page.md', '---\ntitle: Brand new\nvisibility: public\n---\nnew');
    expect((await t.fetch('/courses/prog1/new-page')).status).toBe(200);
    rmSync(file);
    expect((await t.fetch('/courses/prog1/syllabus')).status).toBe(404);
  });
});

describe('rendered page cache', () => {
  const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1];

  it('answers a reader\'s repeat view from memory, byte for byte, until anything is written', async () => {
    t = await createTestApp();
    const student = await signIn(t, { name: 'Rhea Repeat' });
    const first = await student.get('/courses/prog1/syllabus');
    expect(first.res.status).toBe(200);
    const before = { ...renderCounters };
    const beforeReplays = replayCounters.pages;
    const again = await student.get('/courses/prog1/syllabus');
    expect(again.text).toBe(first.text);
    expect(again.res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    // Kept whole: the repeat is answered before Koa (src/lib/replay.ts), or by the render cache.
    expect(renderCounters.hits - before.hits + replayCounters.pages - beforeReplays).toBe(1);
    expect(renderCounters.renders - before.renders).toBe(0);

    // Someone else's comment is a write: the next view renders, and shows it.
    const other = await signIn(t, { name: 'Otto Other' });
    expect((await other.post('/courses/prog1/comments', { page: 'syllabus', body: 'A new question' })).status).toBe(302);
    const after = await student.get('/courses/prog1/syllabus');
    expect(after.text).toContain('A new question');
    expect(renderCounters.renders - before.renders).toBe(1);
  });

  it('keeps each session\'s page apart (its own CSRF token) and never keeps staff views', async () => {
    t = await createTestApp();
    const user = makeUser(t, { name: 'Tess Twice' });
    const one = await signInAs(t, user);
    const two = await signInAs(t, user);
    const a = await one.get('/courses/prog1/syllabus');
    const b = await two.get('/courses/prog1/syllabus');
    const a2 = await one.get('/courses/prog1/syllabus');
    expect(csrfOf(a.text)).toBeTruthy();
    expect(csrfOf(a.text)).not.toBe(csrfOf(b.text));
    expect(csrfOf(a2.text)).toBe(csrfOf(a.text));

    const tutor = await signIn(t, { role: 'tutor' });
    await tutor.get('/courses/prog1/syllabus');
    const before = { ...renderCounters };
    await tutor.get('/courses/prog1/syllabus');
    await tutor.get('/courses/prog1/syllabus');
    expect(renderCounters.hits - before.hits).toBe(0);
    expect(renderCounters.renders - before.renders).toBe(2);
  });

  it('renders again when the clock reaches a release date, though nothing was written', async () => {
    t = await createTestApp();
    t.clock.set('2027-01-11T06:59:58Z');
    const student = await signIn(t);
    const early = await student.get('/courses/prog1/syllabus');
    expect(navTitles(early.text)).not.toContain('Exam preparation');
    expect(navTitles((await student.get('/courses/prog1/syllabus')).text)).not.toContain('Exam preparation');
    t.clock.advance(2000);
    expect(navTitles((await student.get('/courses/prog1/syllabus')).text)).toContain('Exam preparation');
  });

  it('counts down a comment\'s edit window minute by minute, then drops the edit form', async () => {
    t = await createTestApp();
    const student = await signIn(t);
    expect((await student.post('/courses/prog1/comments', { page: 'syllabus', body: 'My own comment' })).status).toBe(302);
    const left = async () => /Edit \((\d+) min left\)/.exec((await student.get('/courses/prog1/syllabus')).text)?.[1] ?? null;
    expect(await left()).toBe('15');
    expect(await left()).toBe('15');
    t.clock.advance(59_000);
    expect(await left()).toBe('15');
    t.clock.advance(1_000);
    expect(await left()).toBe('14');
    t.clock.advance(13 * 60_000 + 59_999);
    expect(await left()).toBe('1');
    t.clock.advance(1);
    expect(await left()).toBeNull();
  });

  it('visitors who are not signed in share a public page, which carries none of their tokens', async () => {
    t = await createTestApp();
    const first = await t.fetch('/courses/prog1/');
    const firstToken = /lectern_csrf=([^;]+)/.exec(first.headers.get('set-cookie') ?? '')?.[1];
    expect(firstToken).toBeTruthy();
    const firstBody = await first.text();
    expect(firstBody).not.toContain(firstToken);
    const before = { ...renderCounters };
    const second = await t.fetch('/courses/prog1/');
    expect(await second.text()).toBe(firstBody);
    expect(renderCounters.hits - before.hits).toBe(1);
    // Each visitor still gets a CSRF cookie of their own for the forms they may open next.
    const secondToken = /lectern_csrf=([^;]+)/.exec(second.headers.get('set-cookie') ?? '')?.[1];
    expect(secondToken).toBeTruthy();
    expect(secondToken).not.toBe(firstToken);
    // A signed-in reader of the same page gets their own rendering.
    const student = await signIn(t, { name: 'Nadia Named' });
    expect((await student.get('/courses/prog1/')).text).toContain('Nadia Named');
  });

  it('LECTERN_PAGE_CACHE_MB=0 renders every view', async () => {
    t = await createTestApp({ config: { pageCacheMb: 0 } });
    const student = await signIn(t);
    await student.get('/courses/prog1/syllabus');
    const before = { ...renderCounters };
    await student.get('/courses/prog1/syllabus');
    expect(renderCounters.hits - before.hits).toBe(0);
    expect(renderCounters.renders - before.renders).toBe(1);
  });

  it('sees a changed page at once in development', async () => {
    const content = copyContent();
    t = await createTestApp({ config: { contentDir: content, env: 'development' } });
    const student = await signIn(t);
    expect((await student.get('/courses/prog1/syllabus')).text).not.toContain('Rewritten');
    await student.get('/courses/prog1/syllabus');
    const file = writePage(content, 'syllabus.md', '---\ntitle: Syllabus\nvisibility: enrolled\n---\n# Rewritten\n');
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect((await student.get('/courses/prog1/syllabus')).text).toContain('Rewritten');
  });
});
