import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { ArchiveError, DEFAULT_ARCHIVE_LIMITS, extractArchive, type ArchiveLimits } from '../../src/plugins/assignments/archive.js';
import { validateBundleDir } from '../../src/plugins/assignments/bundle.js';
import { formatProblem } from '../../src/plugins/assignments/config.js';
import { currentVersion, getAssignment, getVersion, importBundle, listVersions, materialiseVersion } from '../../src/plugins/assignments/store.js';
import { makeRawZip, makeTarGz, makeZip, type ArchiveEntry } from '../helpers/archives.js';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { createTestApp, DEMO_CONTENT, ROOT, tempDir, type TestApp } from '../helpers/index.js';

const dirs: string[] = [];
let apps: TestApp[] = [];
afterEach(async () => {
  for (const t of apps.splice(0)) await t.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function scratch(prefix = 'lectern-asg-'): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

async function app(options: Parameters<typeof createTestApp>[0] = {}): Promise<TestApp> {
  const t = await createTestApp(options);
  apps.push(t);
  return t;
}

/** A copy of the demo course that a test may change. */
function demoCopy(): string {
  const d = scratch('lectern-content-');
  cpSync(DEMO_CONTENT, d, { recursive: true });
  return d;
}

const GOOD_YAML = `title: Hello
opens: 2026-09-01T08:00:00+02:00
deadline: 2026-12-01T23:59:00+01:00
files: [hello.txt]
test:
  command: [/usr/bin/python3, tests/run.py]
`;

/** A small valid bundle in a folder; `files` overrides or adds files (null removes one). */
function bundleDir(files: Record<string, string | null> = {}): string {
  const d = scratch('lectern-bundle-');
  const all: Record<string, string | null> = {
    'assignment.yaml': GOOD_YAML,
    'statement.md': '# Hello {{ student.name }}\n\nYour number is {{ n }}.\n',
    'starter/hello.txt': 'n = {{ n }}\n',
    'tests/run.py': 'print("ok")\n',
    ...files,
  };
  for (const [name, text] of Object.entries(all)) {
    if (text === null) continue;
    const file = path.join(d, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  return d;
}

function filesOf(dir: string, prefix = ''): ArchiveEntry[] {
  const out: ArchiveEntry[] = [];
  for (const name of readdirSync(dir).sort()) {
    const abs = path.join(dir, name);
    const st = statSync(abs);
    if (st.isDirectory()) out.push(...filesOf(abs, `${prefix}${name}/`));
    else out.push({ name: `${prefix}${name}`, data: readFileSync(abs), mode: st.mode & 0o111 ? 0o100755 : 0o100644 });
  }
  return out;
}

async function upload(agent: SignedInAgent, pathname: string, file: string, fields: Record<string, string> = {}): Promise<Response> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('bundle', new Blob([readFileSync(file)]), path.basename(file));
  return agent.fetch(`${pathname}?_csrf=${encodeURIComponent(agent.csrf)}`, { method: 'POST', body: form });
}

async function lecturer(t: TestApp): Promise<SignedInAgent> {
  const a = await signIn(t, { role: 'lecturer', name: 'Lena Lecturer' });
  await a.get('/courses/prog1/assignments/');
  return a;
}

describe('bundle validation', () => {
  it('accepts the two demo bundles', async () => {
    for (const slug of ['caesar', 'stats']) {
      const v = await validateBundleDir(path.join(DEMO_CONTENT, 'assignments', slug));
      expect(v.problems.map(formatProblem)).toEqual([]);
      expect(v.hasGenerator).toBe(true);
      expect(v.config?.test.mode).toBe(slug === 'caesar' ? 'io' : 'harness');
    }
    const stats = await validateBundleDir(path.join(DEMO_CONTENT, 'assignments', 'stats'));
    expect(stats.config?.test.command).toEqual(['/usr/bin/python3', 'tests/harness.py']);
  });

  it('takes files: as one name when it is a plain string, and tells a wrong type from a missing field', async () => {
    const one = await validateBundleDir(bundleDir({ 'assignment.yaml': GOOD_YAML.replace('files: [hello.txt]', 'files: hello.txt') }));
    expect(one.problems.map(formatProblem)).toEqual([]);
    expect(one.config?.files).toEqual(['hello.txt']);
    const wrong = await validateBundleDir(bundleDir({ 'assignment.yaml': GOOD_YAML.replace('title: Hello', 'title: [Hello]').replace('files: [hello.txt]', 'files: { a: 1 }') }));
    expect(wrong.problems.map(formatProblem)).toEqual(['assignment.yaml: title: must be a string', 'assignment.yaml: files: must be a file name or glob, or a list of them']);
    const missing = await validateBundleDir(bundleDir({ 'assignment.yaml': GOOD_YAML.replace('files: [hello.txt]\n', '') }));
    expect(missing.problems.map(formatProblem)).toEqual(['assignment.yaml: files: is required']);
  });

  it('reports every problem at once, each with its file and field', async () => {
    const dir = bundleDir({
      'assignment.yaml': `title: ""
deadline: 2026-10-15 23:59
grace: soon
late: { penalty_per_day: 150, hard_close: 7d, typo: 1 }
files: []
max_upload_size: lots
counts: worst
test:
  limits: { wall: forever }
feedback: { tests: secret }
colour: blue
`,
      'statement.md': null,
      'starter/hello.txt': 'n = {{ n \n',
      generate: 'import json\n',
    });
    const v = await validateBundleDir(dir);
    const problems = v.problems.map(formatProblem);
    expect(problems).toEqual(
      expect.arrayContaining([
        'assignment.yaml: title: must not be empty',
        'assignment.yaml: deadline: must be ISO 8601 with a time-zone offset, like 2026-10-15T23:59:00+02:00',
        'assignment.yaml: grace: must be a duration like "15m" (a bare number is minutes)',
        'assignment.yaml: late.penalty_per_day: must be at most 100',
        'assignment.yaml: late.typo: unknown field (check the spelling)',
        'assignment.yaml: files: must name at least one file',
        'assignment.yaml: max_upload_size: must be a size like "1MB" (a bare number is bytes)',
        'assignment.yaml: counts: must be "last" or "best"',
        'assignment.yaml: test: needs one way of testing: harness (your program, calling run_student), cases (declarative input/output tests) or command (legacy: student code shares the test sandbox)',
        'assignment.yaml: test.limits.wall: must be a duration like "60s" (a bare number is seconds)',
        'assignment.yaml: feedback.tests: must be visible, after_due_date, after_published or hidden',
        'assignment.yaml: colour: unknown field (check the spelling)',
        'statement.md: is missing: a bundle needs the assignment text in statement.md',
        'generate: must start with a "#!" line naming its interpreter, like #!/usr/bin/python3',
      ]),
    );
    expect(problems.find((p) => p.startsWith('starter/hello.txt: template error: expected variable end'))).toBeTruthy();
    expect(problems.join('\n')).not.toMatch(/\bat .*\.(ts|js):\d+/);
  });

  it('checks dates against each other, YAML syntax, and a missing assignment.yaml', async () => {
    const order = await validateBundleDir(bundleDir({ 'assignment.yaml': GOOD_YAML.replace('opens: 2026-09-01', 'opens: 2027-09-01') }));
    expect(order.problems.map(formatProblem)).toEqual(['assignment.yaml: opens: must be before the deadline']);
    const syntax = await validateBundleDir(bundleDir({ 'assignment.yaml': 'title: [unclosed\n' }));
    expect(syntax.problems.map(formatProblem)[0]).toMatch(/^assignment\.yaml: line \d+: /);
    const missing = await validateBundleDir(bundleDir({ 'assignment.yaml': null }));
    expect(missing.problems.map(formatProblem)).toEqual(['assignment.yaml: is missing: a bundle needs assignment.yaml at its top level']);
    const unsafe = await validateBundleDir(bundleDir({ 'statement.md': '{{ "".constructor.constructor("return process")() }}' }));
    expect(unsafe.problems.map(formatProblem)[0]).toMatch(/^statement\.md: template error: line 1: "constructor" is not allowed/);
  });

  it('normalises times, durations and sizes', async () => {
    const v = await validateBundleDir(path.join(DEMO_CONTENT, 'assignments', 'caesar'));
    const c = v.config!;
    expect(c.deadlineAt).toBe(Date.parse('2027-06-15T21:59:00Z'));
    expect(c.graceMs).toBe(15 * 60_000);
    expect(c.late).toEqual({ penaltyPerDay: 10, cap: 50, hardCloseAt: Date.parse('2027-06-22T21:59:00Z') });
    expect(c.maxUploadBytes).toBe(256 * 1024);
    expect(c.generator.limits).toEqual({ wallMs: 5000, cpuSeconds: 5, memoryBytes: 256 * 1024 ** 2 });
  });
});

describe('archive limits', () => {
  const small: ArchiveLimits = { ...DEFAULT_ARCHIVE_LIMITS, maxTotalBytes: 10_000, maxFiles: 5, maxDepth: 4 };

  async function refused(make: (file: string) => Promise<void>, limits: ArchiveLimits = small): Promise<string> {
    const d = scratch('lectern-arch-');
    const file = path.join(d, 'archive');
    await make(file);
    const out = path.join(d, 'out');
    mkdirSync(out);
    const err = await extractArchive(file, out, limits).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ArchiveError);
    return (err as Error).message;
  }

  it('unpacks a good zip and tar.gz, keeping the exec bit', async () => {
    for (const make of [makeZip, makeTarGz]) {
      const d = scratch('lectern-arch-');
      await make(path.join(d, 'a'), [
        { name: 'b/', mode: 0o40755 },
        { name: 'b/assignment.yaml', data: 'x' },
        { name: 'b/generate', data: '#!/usr/bin/python3\n', mode: make === makeZip ? 0o100755 : 0o755 },
      ]);
      mkdirSync(path.join(d, 'out'));
      await extractArchive(path.join(d, 'a'), path.join(d, 'out'), small);
      expect(readFileSync(path.join(d, 'out/b/assignment.yaml'), 'utf8')).toBe('x');
      expect(statSync(path.join(d, 'out/b/generate')).mode & 0o111).not.toBe(0);
    }
  });

  it('total uncompressed size', async () => {
    const big = [{ name: 'a', data: Buffer.alloc(6000, 'a') }, { name: 'b', data: Buffer.alloc(6000, 'b') }];
    expect(await refused((f) => makeZip(f, big, { compress: false }))).toBe('the archive unpacks to more than 10000 bytes (the limit)');
    expect(await refused((f) => makeTarGz(f, big))).toBe('the archive unpacks to more than 10000 bytes (the limit)');
  });

  it('the archive file itself', async () => {
    expect(await refused((f) => makeZip(f, [{ name: 'a', data: Buffer.alloc(3000, 'a') }], { compress: false }), { ...small, maxArchiveBytes: 2000 })).toMatch(
      /^the archive is \d+ bytes; at most 2000 are allowed$/,
    );
  });

  it('file count', async () => {
    const many = Array.from({ length: 6 }, (_, i) => ({ name: `f${i}`, data: 'x' }));
    expect(await refused((f) => makeZip(f, many))).toBe('the archive has more than 5 files');
    expect(await refused((f) => makeTarGz(f, many))).toBe('the archive has more than 5 files');
  });

  it('path depth', async () => {
    const deep = [{ name: 'a/b/c/d/e.txt', data: 'x' }];
    expect(await refused((f) => makeZip(f, deep))).toBe('"a/b/c/d/e.txt" is nested 5 levels deep; at most 4 are allowed');
    expect(await refused((f) => makeTarGz(f, deep))).toBe('"a/b/c/d/e.txt" is nested 5 levels deep; at most 4 are allowed');
  });

  it('absolute paths', async () => {
    expect(await refused((f) => makeRawZip(f, [{ name: '/etc/cron.d/evil', data: 'x' }]))).toBe('"/etc/cron.d/evil": absolute paths are not allowed in an archive');
    expect(await refused((f) => makeTarGz(f, [{ name: '/etc/cron.d/evil', data: 'x' }]))).toBe('"/etc/cron.d/evil": absolute paths are not allowed in an archive');
  });

  it('".." in a path', async () => {
    expect(await refused((f) => makeRawZip(f, [{ name: 'bundle/../../evil', data: 'x' }]))).toBe('"bundle/../../evil": paths with ".." are not allowed in an archive');
    expect(await refused((f) => makeTarGz(f, [{ name: 'bundle/../../evil', data: 'x' }]))).toBe('"bundle/../../evil": paths with ".." are not allowed in an archive');
  });

  it('symbolic links, hard links and devices', async () => {
    expect(await refused((f) => makeZip(f, [{ name: 'passwd', data: '/etc/passwd', mode: 0o120777 }]))).toBe('"passwd" is a symbolic link; archives may only hold plain files and folders');
    expect(await refused((f) => makeRawZip(f, [{ name: 'tty', data: '', mode: 0o020666 }]))).toBe('"tty" is a device or other special file; archives may only hold plain files and folders');
    expect(await refused((f) => makeTarGz(f, [{ name: 'passwd', type: 'SymbolicLink', linkpath: '/etc/passwd' }]))).toBe(
      '"passwd" is a symbolic link; archives may only hold plain files and folders',
    );
    expect(await refused((f) => makeTarGz(f, [{ name: 'shadow', type: 'Link', linkpath: '/etc/shadow' }]))).toBe('"shadow" is a hard link; archives may only hold plain files and folders');
    expect(await refused((f) => makeTarGz(f, [{ name: 'tty', type: 'CharacterDevice' }]))).toBe(
      '"tty" is a device (CharacterDevice); archives may only hold plain files and folders',
    );
  });

  it('zip bomb: compression ratio', async () => {
    const bomb = [{ name: 'zeros', data: Buffer.alloc(20 * 1024 ** 2) }];
    const msg = 'the archive expands to more than 100 times its compressed size: it looks like a zip bomb';
    expect(await refused((f) => makeZip(f, bomb), DEFAULT_ARCHIVE_LIMITS)).toBe(msg);
    expect(await refused((f) => makeTarGz(f, bomb), DEFAULT_ARCHIVE_LIMITS)).toBe(msg);
  });

  it('not an archive at all', async () => {
    expect(await refused(async (f) => writeFileSync(f, 'just text'))).toBe('not a .zip or .tar.gz file');
  });
});

describe('importing', () => {
  it('imports the course folder at start-up, and again only when it changed', async () => {
    const content = demoCopy();
    const dataDir = scratch('lectern-data-');
    const t1 = await app({ config: { contentDir: content }, dataDir });
    const caesar = currentVersion(t1.app.deps.db, 'prog1', 'caesar')!;
    expect(caesar.version.number).toBe(1);
    expect(caesar.version.source).toBe('folder');
    expect(caesar.version.config.title).toBe('Caesar cipher');
    expect(currentVersion(t1.app.deps.db, 'prog1', 'stats')!.version.number).toBe(1);
    expect(t1.logs.filter((l) => l.msg === 'assignment bundle imported from the course folder')).toHaveLength(2);
    await t1.close();
    apps = [];

    const t2 = await app({ config: { contentDir: content }, dataDir });
    expect(listVersions(t2.app.deps.db, caesar.assignment.id)).toHaveLength(1);
    expect(t2.logs.filter((l) => l.msg === 'assignment bundle imported from the course folder')).toHaveLength(0);
    await t2.close();
    apps = [];

    writeFileSync(path.join(content, 'assignments/caesar/statement.md'), '# Caesar, revised\n\nShift: {{ shift }}\n');
    const t3 = await app({ config: { contentDir: content }, dataDir });
    const now = currentVersion(t3.app.deps.db, 'prog1', 'caesar')!;
    expect(now.version.number).toBe(2);
    expect(listVersions(t3.app.deps.db, caesar.assignment.id).map((v) => v.number)).toEqual([2, 1]);

    // A roll-back on the web survives a restart while the folder stays as it is.
    const lena = await lecturer(t3);
    await lena.get('/courses/prog1/assignments/caesar/staff');
    const back = await lena.post('/courses/prog1/assignments/caesar/versions/1/current');
    expect(back.status).toBe(302);
    expect(currentVersion(t3.app.deps.db, 'prog1', 'caesar')!.version.number).toBe(1);
    expect(t3.logs.some((l) => l.msg === 'assignment version made current' && l.by === lena.user.email && l.version === 1)).toBe(true);
    await t3.close();
    apps = [];
    const t4 = await app({ config: { contentDir: content }, dataDir });
    expect(currentVersion(t4.app.deps.db, 'prog1', 'caesar')!.version.number).toBe(1);
  });

  it('lists a broken course-folder bundle for staff and keeps serving the others', async () => {
    const content = demoCopy();
    cpSync(path.join(content, 'assignments/stats'), path.join(content, 'assignments/broken'), { recursive: true });
    writeFileSync(path.join(content, 'assignments/broken/assignment.yaml'), 'title: Broken\ndeadline: tomorrow\n');
    const t = await app({ config: { contentDir: content } });
    expect(currentVersion(t.app.deps.db, 'prog1', 'broken')).toBeUndefined();
    expect(currentVersion(t.app.deps.db, 'prog1', 'caesar')).toBeDefined();
    expect(t.logs.some((l) => l.msg === 'assignment bundle in the course folder not imported' && l.slug === 'broken')).toBe(true);
    const lena = await lecturer(t);
    const { text } = await lena.get('/courses/prog1/assignments/');
    expect(text).toContain('broken');
    expect(text).toContain('assignment.yaml: deadline: must be ISO 8601 with a time-zone offset');
    const student = await signIn(t);
    const list = await student.get('/courses/prog1/assignments/');
    expect(list.res.status).toBe(200);
    expect(list.text).toContain('Caesar cipher');
    expect(list.text).not.toContain('must be ISO 8601');
  });

  it('takes a .zip and a .tar.gz upload as new versions, and an identical one as no change', async () => {
    const t = await app();
    const lena = await lecturer(t);
    const page = await lena.get('/courses/prog1/assignments/caesar/staff');
    expect(page.res.status).toBe(200);
    expect(page.text).toContain('Versions');

    const bundle = path.join(DEMO_CONTENT, 'assignments/caesar');
    const zip = path.join(scratch(), 'caesar.zip');
    // One top-level folder, as zipping a folder usually gives: it is unwrapped.
    await makeZip(
      zip,
      filesOf(bundle, 'caesar/').map((e) => (e.name === 'caesar/statement.md' ? { ...e, data: `${String(e.data)}\nUpdated.\n` } : e)),
    );
    const r1 = await upload(lena, '/courses/prog1/assignments/caesar/upload', zip);
    expect(r1.status).toBe(302);
    expect(r1.headers.get('location')).toBe('/courses/prog1/assignments/caesar/staff?done=created&v=2');
    const v2 = currentVersion(t.app.deps.db, 'prog1', 'caesar')!.version;
    expect(v2.number).toBe(2);
    expect(v2.source).toBe('upload');
    expect(v2.createdBy).toBe(lena.user.email);
    expect(v2.manifest.find((e) => e.path === 'generate')?.mode).toBe(0o755);

    const again = await upload(lena, '/courses/prog1/assignments/caesar/upload', zip);
    expect(again.headers.get('location')).toBe('/courses/prog1/assignments/caesar/staff?done=unchanged&v=2');

    // The original content as a tar.gz, files at the top: identical to version 1.
    const tgz = path.join(scratch(), 'caesar.tar.gz');
    await makeTarGz(
      tgz,
      filesOf(bundle).map((e) => ({ name: e.name, data: e.data!, mode: (e.mode ?? 0o644) & 0o777 })),
    );
    const r3 = await upload(lena, '/courses/prog1/assignments/caesar/upload', tgz);
    expect(r3.headers.get('location')).toBe('/courses/prog1/assignments/caesar/staff?done=switched&v=1');
    const shown = await lena.get('/courses/prog1/assignments/caesar/staff?done=switched&v=1');
    expect(shown.text).toContain('The bundle is identical to version 1, which is current again.');

    // Version 3 from a changed tar.gz.
    await makeTarGz(tgz, [...filesOf(bundle).map((e) => ({ name: e.name, data: e.data!, mode: (e.mode ?? 0o644) & 0o777 })), { name: 'notes.txt', data: 'for staff' }]);
    const r4 = await upload(lena, '/courses/prog1/assignments/caesar/upload', tgz);
    expect(r4.headers.get('location')).toBe('/courses/prog1/assignments/caesar/staff?done=created&v=3');
    const versions = listVersions(t.app.deps.db, currentVersion(t.app.deps.db, 'prog1', 'caesar')!.assignment.id);
    expect(versions.map((v) => v.number)).toEqual([3, 2, 1]);

    // The materialised bundle is the version's files, written once per content hash.
    const dir = await materialiseVersion(t.app.deps, versions[0]!);
    expect(dir).toBe(path.join(t.dataDir, 'bundles', versions[0]!.contentHash));
    expect(readFileSync(path.join(dir, 'notes.txt'), 'utf8')).toBe('for staff');
    expect(readFileSync(path.join(dir, 'assignment.yaml'), 'utf8')).toBe(readFileSync(path.join(bundle, 'assignment.yaml'), 'utf8'));
    expect(statSync(path.join(dir, 'generate')).mode & 0o777).toBe(0o755);
    expect(await materialiseVersion(t.app.deps, versions[0]!)).toBe(dir);
  });

  it('creates a new assignment from the upload form, taking its id from the archive folder', async () => {
    const t = await app();
    const lena = await lecturer(t);
    const form = await lena.get('/courses/prog1/assignments/new');
    expect(form.res.status).toBe(200);
    const zip = path.join(scratch(), 'upload.zip');
    await makeZip(zip, filesOf(bundleDir(), 'hello-world/'));
    const res = await upload(lena, '/courses/prog1/assignments/new', zip, { slug: '' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/courses/prog1/assignments/hello-world/staff?done=created&v=1');
    expect(currentVersion(t.app.deps.db, 'prog1', 'hello-world')!.version.config.title).toBe('Hello');
  });

  it('shows every problem of a rejected upload, and stores nothing', async () => {
    const t = await app();
    const lena = await lecturer(t);
    const zip = path.join(scratch(), 'bad.zip');
    await makeZip(zip, filesOf(bundleDir({ 'assignment.yaml': 'title: X\ndeadline: 2026-12-01\nfiles: [a.c]\n', 'statement.md': null })));
    const res = await upload(lena, '/courses/prog1/assignments/new', zip, { slug: 'bad-one' });
    expect(res.status).toBe(422);
    const html = await res.text();
    expect(html).toContain('3 problems');
    expect(html).toContain('assignment.yaml: deadline: must be ISO 8601 with a time-zone offset');
    expect(html).toContain('assignment.yaml: test: is required');
    expect(html).toContain('statement.md: is missing');
    expect(currentVersion(t.app.deps.db, 'prog1', 'bad-one')).toBeUndefined();
    expect(t.app.deps.db.prepare('SELECT count(*) AS n FROM assignments WHERE slug = ?').get('bad-one')).toEqual({ n: 0 });

    const slip = path.join(scratch(), 'slip.zip');
    await makeRawZip(slip, [{ name: '../../etc/passwd', data: 'x' }]);
    const r2 = await upload(lena, '/courses/prog1/assignments/caesar/upload', slip);
    expect(r2.status).toBe(422);
    expect(await r2.text()).toContain('slip.zip: &quot;../../etc/passwd&quot;: paths with &quot;..&quot; are not allowed in an archive');
    expect(readdirSync(path.join(t.dataDir, 'tmp', 'assignments'))).toEqual([]);
  });

  it('refuses an upload over the size limit with 413, and one without the CSRF token', async () => {
    const t = await app();
    const lena = await lecturer(t);
    const big = path.join(scratch(), 'big.zip');
    writeFileSync(big, Buffer.alloc(DEFAULT_ARCHIVE_LIMITS.maxArchiveBytes + 1024, 1));
    const res = await upload(lena, '/courses/prog1/assignments/caesar/upload', big);
    expect(res.status).toBe(413);
    expect(await res.text()).toContain('The upload is larger than the limit of 50 MB.');
    const form = new FormData();
    form.append('bundle', new Blob(['x']), 'x.zip');
    const forged = await lena.fetch('/courses/prog1/assignments/caesar/upload', { method: 'POST', body: form });
    expect(forged.status).toBe(403);
  });

  it('keeps staff pages from students (404) and lecturer actions from tutors (403)', async () => {
    const t = await app();
    const student = await signIn(t);
    await student.get('/courses/prog1/assignments/');
    for (const p of ['/courses/prog1/assignments/caesar/staff', '/courses/prog1/assignments/caesar/variants.csv', '/courses/prog1/assignments/caesar/preview?seed=x', '/courses/prog1/assignments/new']) {
      expect((await student.fetch(p)).status, p).toBe(404);
    }
    for (const p of ['/courses/prog1/assignments/caesar/versions/1/current', `/courses/prog1/assignments/caesar/variants/${student.user.id}/regenerate`]) {
      expect((await student.post(p)).status, p).toBe(404);
    }
    const zip = path.join(scratch(), 'x.zip');
    await makeZip(zip, filesOf(bundleDir()));
    expect((await upload(student, '/courses/prog1/assignments/caesar/upload', zip)).status).toBe(404);
    const outsider = await signIn(t, { role: null });
    expect((await outsider.fetch('/courses/prog1/assignments/caesar/')).status).toBe(404);
    expect((await outsider.fetch('/courses/prog1/assignments/')).status).toBe(404);
    const anonymous = await t.fetch('/courses/prog1/assignments/caesar/');
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers.get('location')).toMatch(/^\/login\?next=/);

    const tutor = await signIn(t, { role: 'tutor' });
    const staffPage = await tutor.get('/courses/prog1/assignments/caesar/staff');
    expect(staffPage.res.status).toBe(200);
    expect(staffPage.text).not.toContain('Upload a new version');
    expect((await tutor.post('/courses/prog1/assignments/caesar/versions/1/current')).status).toBe(403);
    expect((await upload(tutor, '/courses/prog1/assignments/caesar/upload', zip)).status).toBe(403);
  });

  it('shows the assignment list with state and deadline in the course time zone', async () => {
    const t = await app();
    const student = await signIn(t);
    const { res, text } = await student.get('/courses/prog1/assignments/');
    expect(res.status).toBe(200);
    expect(text).toContain('Caesar cipher');
    expect(text).toContain('Descriptive statistics');
    // 2027-06-15T23:59:00+02:00 in Europe/Stockholm, zone named.
    expect(text).toMatch(/15 Jun 2027, 23:59 CEST \(Europe\/Stockholm\)/);
    // Sessions expire after two weeks, so sign in again after each jump.
    t.clock.set('2027-06-16T12:00:00Z');
    expect((await (await signIn(t)).get('/courses/prog1/assignments/')).text).toContain('Deadline passed: late submissions until');
    t.clock.set('2027-08-01T00:00:00Z');
    expect((await (await signIn(t)).get('/courses/prog1/assignments/')).text).toContain('Closed');
  });
});

describe('the command line', () => {
  const CLI = path.join(ROOT, 'dist/start.cjs');
  /** The self-check is on (production's default) unless `selfCheck` is false. */
  function lectern(data: string, content: string, args: string[], selfCheck = true) {
    const r = spawnSync(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, NODE_ENV: 'production', LECTERN_DATA: data, LECTERN_CONTENT: content, LECTERN_LOG_LEVEL: 'warn', ...(selfCheck ? {} : { LECTERN_SELF_CHECK: 'no' }) },
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('imports a folder, a .zip and a .tar.gz, and lists every problem of a bad bundle', async () => {
    const data = scratch('lectern-cli-');
    const folder = bundleDir();
    // With the self-check on, a new assignment's first version would wait for it too (below).
    const one = lectern(data, DEMO_CONTENT, ['assignment', 'import', folder, '--course', 'prog1', '--slug', 'hello'], false);
    expect(one.stderr).toBe('');
    expect(one.stdout).toBe('prog1/hello: imported as version 1 (now current)\n');
    expect(one.code).toBe(0);
    expect(lectern(data, DEMO_CONTENT, ['assignment', 'import', folder, '--course', 'prog1', '--slug', 'hello']).stdout).toBe(
      'prog1/hello: unchanged: identical to version 1, the current one\n',
    );

    const zip = path.join(scratch(), 'hello.zip');
    await makeZip(zip, filesOf(bundleDir({ 'statement.md': 'Changed {{ n }}\n' }), 'hello/'));
    // A new version of an existing assignment waits for the self-check of a server that grades.
    expect(lectern(data, DEMO_CONTENT, ['assignment', 'import', zip, '--course', 'prog1']).stdout).toBe(
      'prog1/hello: imported as version 2; it becomes current when its self-check passes (the current version serves students until then)\n',
    );
    const tgz = path.join(scratch(), 'greeting.tar.gz');
    await makeTarGz(tgz, filesOf(bundleDir()).map((e) => ({ name: e.name, data: e.data! })));
    expect(lectern(data, DEMO_CONTENT, ['assignment', 'import', tgz, '--course', 'prog1']).stdout).toBe(
      'prog1/greeting: imported as version 1; it becomes current when its self-check passes (the assignment is not open to students until then)\n',
    );

    const bad = lectern(data, DEMO_CONTENT, ['assignment', 'import', bundleDir({ 'assignment.yaml': 'title: X\ndeadline: 2026-12-01T10:00\n' }), '--course', 'prog1', '--slug', 'bad']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('was not imported (3 problems):');
    expect(bad.stderr).toContain('  assignment.yaml: deadline: must be ISO 8601 with a time-zone offset');
    expect(bad.stderr).toContain('  assignment.yaml: files: is required');
    expect(bad.stderr).not.toMatch(/\n\s+at /);

    const nocourse = lectern(data, DEMO_CONTENT, ['assignment', 'import', folder, '--course', 'nope']);
    expect(nocourse.code).toBe(1);
    expect(nocourse.stderr).toContain('(import): course: there is no course "nope"');
    expect(lectern(data, DEMO_CONTENT, ['assignment', 'import', folder]).code).toBe(2);

    const db = openDatabase(databasePath(data));
    try {
      // Version 2 waits for a self-check (no server ran one here); version 1 stays current.
      expect(currentVersion(db, 'prog1', 'hello')!.version.number).toBe(1);
      expect(getVersion(db, getAssignment(db, 'prog1', 'hello')!.pendingVersionId!)!.number).toBe(2);
      expect(currentVersion(db, 'prog1', 'hello')!.version.createdBy).toBe('command line');
      expect(currentVersion(db, 'prog1', 'bad')).toBeUndefined();
      // A new assignment's first version waits as well: no current version, not open yet.
      expect(currentVersion(db, 'prog1', 'greeting')).toBeUndefined();
      expect(getVersion(db, getAssignment(db, 'prog1', 'greeting')!.pendingVersionId!)!.number).toBe(1);
    } finally {
      db.close();
    }
  });

  it('is the same import as the web (one function)', async () => {
    const t = await app();
    const r = await importBundle(t.app.deps, { course: 'prog1', slug: 'direct', dir: bundleDir(), source: 'cli', createdBy: 'test' });
    expect(r.ok).toBe(true);
    const bad = await importBundle(t.app.deps, { course: 'prog1', slug: 'Not A Slug', dir: bundleDir(), source: 'cli', createdBy: 'test' });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.problems.map(formatProblem)[0]).toMatch(/^\(import\): slug: "Not A Slug" is not a usable assignment id/);
  });
});
