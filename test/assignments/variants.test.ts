import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import yauzl from 'yauzl';
import { afterEach, describe, expect, it } from 'vitest';
import { createSandbox } from '../../src/lib/sandbox/index.js';
import type { Sandbox } from '../../src/lib/sandbox/types.js';
import { memoryLogger } from '../../src/lib/logger.js';
import { currentVersion, importBundle } from '../../src/plugins/assignments/store.js';
import { courseSecret, deriveSeed, ensureVariant, findVariant } from '../../src/plugins/assignments/variants.js';
import type { CurrentUser } from '../../src/lib/auth.js';
import { makeUser, signIn, signInAs, type SignedInAgent } from '../helpers/accounts.js';
import { createTestApp, DEMO_CONTENT, tempDir, type TestApp } from '../helpers/index.js';

/**
 * Variants with the real sandbox: every generator here runs in bubblewrap, as in production.
 */
const dirs: string[] = [];
const apps: TestApp[] = [];
afterEach(async () => {
  for (const t of apps.splice(0)) await t.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The real sandbox, counting its runs (so a test can tell how often a generator ran). */
function countingSandbox(): Sandbox & { runs: number } {
  const real = createSandbox({ unsafe: false, log: memoryLogger().log });
  const counted = {
    runs: 0,
    unsafe: real.unsafe,
    describe: () => real.describe(),
    run(req: Parameters<Sandbox['run']>[0]) {
      counted.runs++;
      return real.run(req);
    },
  };
  return counted;
}

async function app(options: Parameters<typeof createTestApp>[0] = {}): Promise<TestApp> {
  const t = await createTestApp(options);
  apps.push(t);
  return t;
}

const YAML = (extra = '') => `title: Generated
deadline: 2026-12-01T23:59:00+01:00
files: [answer.txt]
test:
  command: [/usr/bin/python3, tests/run.py]
${extra}`;

async function addAssignment(t: TestApp, slug: string, generate: string | null, opts: { yaml?: string; statement?: string } = {}) {
  const d = tempDir('lectern-gen-');
  dirs.push(d);
  writeFileSync(path.join(d, 'assignment.yaml'), opts.yaml ?? YAML());
  writeFileSync(path.join(d, 'statement.md'), opts.statement ?? '# For {{ student.name }}\n\nn is **{{ n }}**, v is {{ v }}.\n');
  mkdirSync(path.join(d, 'starter'));
  writeFileSync(path.join(d, 'starter/answer.txt'), 'n = {{ n }}\n');
  if (generate !== null) {
    writeFileSync(path.join(d, 'generate'), generate);
    chmodSync(path.join(d, 'generate'), 0o755);
  }
  const r = await importBundle(t.app.deps, { course: 'prog1', slug, dir: d, source: 'cli', createdBy: 'test' });
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.file}: ${p.field}: ${p.message}`).join('\n'));
  return r.version;
}

const PY_GENERATOR = (v: number) => `#!/usr/bin/python3
import hashlib, json, sys
req = json.load(sys.stdin)
n = int(hashlib.sha256(req["seed"].encode()).hexdigest(), 16) % 1000
print(json.dumps({"n": n, "v": ${v}, "who": req["student"]["id"]}))
`;

function variantCount(t: TestApp): number {
  return (t.app.deps.db.prepare('SELECT count(*) AS n FROM variants').get() as { n: number }).n;
}

function runByHand(bundle: string, seed: string, student: { id: string; name: string }): Record<string, unknown> {
  return JSON.parse(execFileSync(path.join(DEMO_CONTENT, 'assignments', bundle, 'generate'), { input: JSON.stringify({ seed, student }) }).toString()) as Record<string, unknown>;
}

async function readZip(buf: Buffer): Promise<Record<string, string>> {
  const zip = await new Promise<yauzl.ZipFile>((res, rej) => yauzl.fromBuffer(buf, { lazyEntries: true }, (e, z) => (e ? rej(e) : res(z))));
  const out: Record<string, string> = {};
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      zip.openReadStream(entry, (err, s) => {
        if (err) return reject(err);
        const chunks: Buffer[] = [];
        s.on('data', (c: Buffer) => chunks.push(c));
        s.on('end', () => {
          out[entry.fileName] = Buffer.concat(chunks).toString('utf8');
          zip.readEntry();
        });
      });
    });
    zip.on('end', resolve);
    zip.on('error', reject);
    zip.readEntry();
  });
  return out;
}

describe('seeds', () => {
  it('are HMAC-SHA256(course secret, slug NUL student id), with one secret per course kept across restarts', async () => {
    expect(deriveSeed('s3cret', 'caesar', '42')).toBe(createHmac('sha256', 's3cret').update('caesar\u000042').digest('hex'));
    expect(deriveSeed('s3cret', 'caesar', '42')).not.toBe(deriveSeed('s3cret', 'caesar', '43'));
    expect(deriveSeed('s3cret', 'caesar', '42')).not.toBe(deriveSeed('s3cret', 'stats', '42'));
    const dataDir = tempDir('lectern-seed-');
    dirs.push(dataDir);
    const t1 = await createTestApp({ dataDir });
    const secret = courseSecret(t1.app.deps.db, 'prog1');
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(courseSecret(t1.app.deps.db, 'prog1')).toBe(secret);
    expect(courseSecret(t1.app.deps.db, 'other')).not.toBe(secret);
    expect(t1.app.deps.db.prepare("SELECT value FROM settings WHERE key = 'course-secret:prog1'").get()).toEqual({ value: secret });
    await t1.close();
    const t2 = await app({ dataDir });
    expect(courseSecret(t2.app.deps.db, 'prog1')).toBe(secret);
  });
});

describe('a student\'s variant', () => {
  it('is made on the first visit by the generator in the sandbox, stored, and used for the statement and starter files', async () => {
    const sandbox = countingSandbox();
    const t = await app({ sandbox });
    const ann = await signIn(t, { name: 'Ann Example' });
    const first = await ann.get('/courses/prog1/assignments/caesar/');
    expect(first.res.status).toBe(200);
    const assignment = currentVersion(t.app.deps.db, 'prog1', 'caesar')!.assignment;
    const stored = findVariant(t.app.deps.db, assignment.id, ann.user.id)!;
    const seed = deriveSeed(courseSecret(t.app.deps.db, 'prog1'), 'caesar', String(ann.user.id));
    expect(stored.seed).toBe(seed);
    expect(stored.version).toBe(1);
    expect(stored.params).toEqual(runByHand('caesar', seed, { id: String(ann.user.id), name: 'Ann Example' }));
    const { shift, phrase, encrypted } = stored.params as { shift: number; phrase: string; encrypted: string };
    expect(first.text).toContain(`<strong>Your shift is ${shift}.</strong>`);
    expect(first.text).toContain(phrase);
    expect(first.text).toContain(encrypted);
    expect(first.text).toContain('Hello Ann Example!');
    expect(first.text).toMatch(/15 Jun 2027, 23:59 CEST \(Europe\/Stockholm\)/);
    expect(sandbox.runs).toBe(1);

    const again = await ann.get('/courses/prog1/assignments/caesar/');
    expect(again.text).toContain(`<strong>Your shift is ${shift}.</strong>`);
    expect(sandbox.runs).toBe(1);
    expect(t.logs.filter((l) => l.msg === 'variant created')).toHaveLength(1);

    const file = await ann.fetch('/courses/prog1/assignments/caesar/starter/caesar.c');
    expect(file.status).toBe(200);
    expect(file.headers.get('content-disposition')).toMatch(/^attachment; filename="caesar\.c"/);
    const source = await file.text();
    expect(source).toContain(`#define SHIFT ${shift}\n`);
    expect(source).not.toContain('{{');

    const zipRes = await ann.fetch('/courses/prog1/assignments/caesar/starter.zip');
    expect(zipRes.status).toBe(200);
    expect(zipRes.headers.get('content-type')).toBe('application/zip');
    expect(await readZip(Buffer.from(await zipRes.arrayBuffer()))).toEqual({ 'caesar/caesar.c': source });
    expect((await ann.fetch('/courses/prog1/assignments/caesar/starter/nope.c')).status).toBe(404);
    expect((await ann.fetch('/courses/prog1/assignments/caesar/starter/../assignment.yaml')).status).toBe(404);

    // Another student gets their own numbers.
    const bob = await signIn(t, { name: 'Bob Example' });
    await bob.get('/courses/prog1/assignments/caesar/');
    const bobs = findVariant(t.app.deps.db, assignment.id, bob.user.id)!;
    expect(bobs.seed).not.toBe(stored.seed);
  });

  it('works the same for the Python assignment: the data set in the statement and in stats.py', async () => {
    const t = await app();
    const ann = await signIn(t, { name: 'Ann' });
    const page = await ann.get('/courses/prog1/assignments/stats/');
    expect(page.res.status).toBe(200);
    const v = findVariant(t.app.deps.db, currentVersion(t.app.deps.db, 'prog1', 'stats')!.assignment.id, ann.user.id)!;
    const data = v.params.data as number[];
    expect(data.length).toBe(v.params.n);
    expect(page.text).toContain(data.join(', '));
    expect(page.text).toContain('<table>');
    const starter = await (await ann.fetch('/courses/prog1/assignments/stats/starter/stats.py')).text();
    expect(starter).toContain(`DATA = ${JSON.stringify(data)}\n`);
  });

  it('is made once when the first visits arrive together', async () => {
    const sandbox = countingSandbox();
    const t = await app({ sandbox });
    const ann = await signIn(t);
    const pages = await Promise.all(Array.from({ length: 6 }, () => ann.get('/courses/prog1/assignments/stats/')));
    expect(pages.map((p) => p.res.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(new Set(pages.map((p) => /<pre tabindex="0"><code>([^<]*)<\/code><\/pre>/.exec(p.text)?.[1])).size).toBe(1);
    expect(variantCount(t)).toBe(1);
    expect(sandbox.runs).toBe(1);
  });

  it('is made once when two processes race for it (the unique row decides)', async () => {
    const dataDir = tempDir('lectern-race-');
    dirs.push(dataDir);
    const t1 = await app({ dataDir });
    const t2 = await app({ dataDir });
    const user = makeUser(t1, { name: 'Racer' });
    const [a, b] = await Promise.all([
      ensureVariant(t1.app.deps, { course: 'prog1', slug: 'caesar', user: { id: user.id, name: user.name } }),
      ensureVariant(t2.app.deps, { course: 'prog1', slug: 'caesar', user: { id: user.id, name: user.name } }),
    ]);
    expect(a).not.toBeNull();
    expect(b).toEqual(a);
    expect(variantCount(t1)).toBe(1);
  });

  it('keeps its version when a new one is imported, until the lecturer regenerates it (logged)', async () => {
    const t = await app();
    await addAssignment(t, 'regen', PY_GENERATOR(1));
    const ann = await signIn(t, { name: 'Ann' });
    expect((await ann.get('/courses/prog1/assignments/regen/')).text).toContain('v is 1.');
    await addAssignment(t, 'regen', PY_GENERATOR(2));
    expect((await ann.get('/courses/prog1/assignments/regen/')).text).toContain('v is 1.');
    const assignmentId = currentVersion(t.app.deps.db, 'prog1', 'regen')!.assignment.id;
    const before = findVariant(t.app.deps.db, assignmentId, ann.user.id)!;
    expect(before.version).toBe(1);

    // A new student gets the current version.
    const bob = await signIn(t, { name: 'Bob' });
    expect((await bob.get('/courses/prog1/assignments/regen/')).text).toContain('v is 2.');

    const lena = await signIn(t, { role: 'lecturer' });
    await lena.get('/courses/prog1/assignments/regen/staff');
    const res = await lena.post(`/courses/prog1/assignments/regen/variants/${ann.user.id}/regenerate`);
    expect(res.status).toBe(302);
    const after = findVariant(t.app.deps.db, assignmentId, ann.user.id)!;
    expect(after.version).toBe(2);
    expect(after.params).toEqual({ ...before.params, v: 2 });
    expect(after.seed).toBe(before.seed);
    expect((await ann.get('/courses/prog1/assignments/regen/')).text).toContain('v is 2.');
    expect(t.logs.some((l) => l.msg === 'variant regenerated' && l.level === 30 && l.by === lena.user.email && l.userId === ann.user.id)).toBe(true);
    const staffPage = await lena.get('/courses/prog1/assignments/regen/staff');
    expect(staffPage.text).toContain('regenerated');
    expect(staffPage.text).toContain(`by ${lena.user.email}`);
    expect(staffPage.text).toContain('previous: version 1');

    // A failing generator leaves the variant as it was.
    await addAssignment(t, 'regen', '#!/bin/sh\necho broken >&2\nexit 3\n');
    await lena.get('/courses/prog1/assignments/regen/staff');
    const failed = await lena.post(`/courses/prog1/assignments/regen/variants/${ann.user.id}/regenerate`);
    expect(failed.status).toBe(422);
    expect(await failed.text()).toContain('Nothing was changed');
    expect(findVariant(t.app.deps.db, assignmentId, ann.user.id)).toEqual(after);
  });

  it('escapes a hostile student name and hostile parameters in the statement', async () => {
    const t = await app();
    await addAssignment(t, 'xss', '#!/usr/bin/python3\nimport json\nprint(json.dumps({"n": "<img src=x onerror=alert(2)>", "v": "</code><script>alert(3)</script>"}))\n', {
      statement: '# Hi {{ student.name }}\n\n{{ n }} and `{{ v }}` and {{ student.name }}\n',
    });
    const mallory = await signIn(t, { name: '<script>alert(1)</script><img src=x onerror=alert(1)>' });
    const { res, text } = await mallory.get('/courses/prog1/assignments/xss/');
    expect(res.status).toBe(200);
    const article = /<article class="statement">([\s\S]*?)<\/article>/.exec(text)![1]!;
    expect(article).not.toMatch(/<script|<img/i);
    expect(article).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;');
    expect(article).toContain('<code>&lt;/code&gt;&lt;script&gt;alert(3)&lt;/script&gt;</code>');
    const caesar = await mallory.get('/courses/prog1/assignments/caesar/');
    expect(caesar.text).toContain('Hello &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(caesar.text).not.toContain('<script>alert(1)');
  });

  it('is not made before the assignment opens (students see the opening time; staff see the statement)', async () => {
    const t = await app();
    await addAssignment(t, 'later', PY_GENERATOR(1), { yaml: YAML().replace('deadline:', 'opens: 2026-11-01T08:00:00+01:00\ndeadline:') });
    const ann = await signIn(t);
    const page = await ann.get('/courses/prog1/assignments/later/');
    expect(page.res.status).toBe(200);
    expect(page.text).toContain('This assignment opens on 1 Nov 2026, 08:00 CET (Europe/Stockholm)');
    expect(page.text).not.toContain('n is');
    expect((await ann.fetch('/courses/prog1/assignments/later/starter/answer.txt')).status).toBe(404);
    expect(variantCount(t)).toBe(0);
    const tutor = await signIn(t, { role: 'tutor' });
    expect((await tutor.get('/courses/prog1/assignments/later/')).text).toContain('n is <strong>');
  });

  it('is {} without a generator; binary starter files are sent as they are', async () => {
    const sandbox = countingSandbox();
    const t = await app({ sandbox });
    const d = tempDir('lectern-plain-');
    dirs.push(d);
    writeFileSync(path.join(d, 'assignment.yaml'), YAML());
    writeFileSync(path.join(d, 'statement.md'), 'Same for {{ student.name }}: n is "{{ n }}".\n');
    mkdirSync(path.join(d, 'starter/data'), { recursive: true });
    const binary = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x7b, 0x7b, 0x20, 0x6e, 0x20, 0x7d, 0x7d, 0xff]);
    writeFileSync(path.join(d, 'starter/data/image.png'), binary);
    writeFileSync(path.join(d, 'starter/answer.txt'), 'n = {{ n }}; params = {{ params | dump }}\n');
    const r = await importBundle(t.app.deps, { course: 'prog1', slug: 'plain', dir: d, source: 'cli', createdBy: 'test' });
    expect(r.ok).toBe(true);
    const ann = await signIn(t, { name: 'Ann' });
    const page = await ann.get('/courses/prog1/assignments/plain/');
    expect(page.res.status).toBe(200);
    expect(page.text).toContain('Same for Ann: n is &quot;&quot;.');
    expect(findVariant(t.app.deps.db, currentVersion(t.app.deps.db, 'prog1', 'plain')!.assignment.id, ann.user.id)!.params).toEqual({});
    expect(sandbox.runs).toBe(0);
    const img = await ann.fetch('/courses/prog1/assignments/plain/starter/data/image.png');
    expect(img.headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.from(await img.arrayBuffer())).toEqual(binary);
    expect(await (await ann.fetch('/courses/prog1/assignments/plain/starter/answer.txt')).text()).toBe('n = ; params = {}\n');
    const zip = await readZip(Buffer.from(await (await ann.fetch('/courses/prog1/assignments/plain/starter.zip')).arrayBuffer()));
    expect(Object.keys(zip).sort()).toEqual(['plain/answer.txt', 'plain/data/image.png']);
  });

  it('is what course pages get through the variant hook', async () => {
    const t = await app();
    const user = makeUser(t, { name: 'Hooked' });
    const resolver = t.app.deps.services.variants;
    expect(resolver).not.toBeNull();
    const reader: CurrentUser = { id: user.id, name: user.name, email: user.email, studentId: null, isAdmin: false };
    const got = await resolver!.resolve({ course: 'prog1', slug: 'caesar', user: reader });
    expect(got?.params.shift).toEqual(expect.any(Number));
    expect(await resolver!.resolve({ course: 'prog1', slug: 'no-such', user: reader })).toBeNull();
  });
});

describe('generator failures', () => {
  const cases: Array<[string, string, string, string]> = [
    ['exit code', '#!/bin/sh\necho "half a result"\necho "generator exploded" >&2\nexit 1\n', 'the generator failed (exit code 1)', 'generator exploded'],
    ['timeout', '#!/bin/sh\necho "thinking" >&2\nsleep 60\n', 'the generator ran longer than 1 s and was stopped', 'thinking'],
    ['bad JSON', '#!/bin/sh\necho "{not json"\n', 'output is not JSON', '{not json'],
    ['not an object', '#!/bin/sh\necho "[1, 2, 3]"\n', 'the generator must print a JSON object, not an array', '[1, 2, 3]'],
    ['too big', '#!/usr/bin/python3\nimport json\nprint(json.dumps({"x": "a" * 100000}))\n', 'the parameters are larger than 64 KB', 'aaaa'],
  ];
  for (const [name, generate, message, output] of cases) {
    it(`${name}: the student gets a polite 503, the lecturer the output, and nothing is stored`, async () => {
      const t = await app();
      await addAssignment(t, 'broken', generate, { yaml: YAML('generator:\n  limits: { wall: 1s }\n') });
      const ann = await signIn(t, { name: 'Ann' });
      const { res, text } = await ann.get('/courses/prog1/assignments/broken/');
      expect(res.status).toBe(503);
      expect(text).toContain('Your personal version of this assignment is not available yet');
      expect(text).not.toContain(output);
      expect(variantCount(t)).toBe(0);
      expect((await ann.fetch('/courses/prog1/assignments/broken/starter/answer.txt')).status).toBe(409);

      const lena = await signIn(t, { role: 'lecturer' });
      const staffPage = await lena.get('/courses/prog1/assignments/broken/staff');
      expect(staffPage.text).toContain(message);
      expect(staffPage.text).toContain(output);
      expect(t.logs.some((l) => l.msg === 'variant generator failed' && l.userId === ann.user.id)).toBe(true);
    });
  }

  it('a fixed generator (a new version) makes the variant on the next visit', async () => {
    const t = await app();
    await addAssignment(t, 'mended', '#!/bin/sh\nexit 1\n');
    const ann = await signIn(t);
    expect((await ann.get('/courses/prog1/assignments/mended/')).res.status).toBe(503);
    await addAssignment(t, 'mended', PY_GENERATOR(7));
    const ok = await ann.get('/courses/prog1/assignments/mended/');
    expect(ok.res.status).toBe(200);
    expect(ok.text).toContain('v is 7.');
  });
});

describe('lecturer tools', () => {
  it('previews any seed without storing anything', async () => {
    const t = await app();
    const lena = await signIn(t, { role: 'lecturer' });
    const a = await lena.get('/courses/prog1/assignments/caesar/preview?seed=hello');
    expect(a.res.status).toBe(200);
    const expected = runByHand('caesar', 'hello', { id: 'preview', name: 'Preview Student' });
    expect(a.text).toContain(`<strong>Your shift is ${expected.shift as number}.</strong>`);
    expect(a.text).toContain('Preview: seed &quot;hello&quot;');
    const b = await lena.get('/courses/prog1/assignments/caesar/preview?seed=hello');
    expect(b.text).toContain(`<strong>Your shift is ${expected.shift as number}.</strong>`);
    expect(variantCount(t)).toBe(0);
    expect(t.app.deps.db.prepare('SELECT count(*) AS n FROM generator_runs').get()).toEqual({ n: 0 });
    expect((await lena.get('/courses/prog1/assignments/caesar/preview')).res.status).toBe(400);
  });

  it("previews a student's variant: the stored one, or what they would get, without storing it", async () => {
    const t = await app();
    const ann = makeUser(t, { name: 'Ann Preview' });
    const lena = await signIn(t, { role: 'tutor' });
    const would = await lena.get(`/courses/prog1/assignments/caesar/preview?user=${ann.id}`);
    expect(would.res.status).toBe(200);
    expect(would.text).toContain('what Ann Preview would get from version 1 (no variant yet)');
    expect(variantCount(t)).toBe(0);
    const annAgent = await signInAs(t, ann);
    await annAgent.get('/courses/prog1/assignments/caesar/');
    const stored = findVariant(t.app.deps.db, currentVersion(t.app.deps.db, 'prog1', 'caesar')!.assignment.id, ann.id)!;
    const seen = await lena.get(`/courses/prog1/assignments/caesar/preview?user=${ann.id}`);
    expect(seen.text).toContain('Ann Preview&#39;s stored variant (version 1)');
    expect(seen.text).toContain(`<strong>Your shift is ${stored.params.shift as number}.</strong>`);
    expect(would.text).toContain(`<strong>Your shift is ${stored.params.shift as number}.</strong>`);
  });

  it('lists all variants as CSV, with one column per parameter and formulas defused', async () => {
    const t = await app();
    const ann: SignedInAgent = await signIn(t, { name: 'Ann', studentId: 's123' });
    const eve: SignedInAgent = await signIn(t, { name: '=HYPERLINK("http://evil.example")' });
    await ann.get('/courses/prog1/assignments/caesar/');
    await eve.get('/courses/prog1/assignments/caesar/');
    const lena = await signIn(t, { role: 'lecturer' });
    const res = await lena.fetch('/courses/prog1/assignments/caesar/variants.csv');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toMatch(/filename="prog1-caesar-variants\.csv"/);
    const lines = (await res.text()).trimEnd().split('\r\n');
    expect(lines[0]).toBe('user_id,student_id,name,email,version,seed,created_at,param:encrypted,param:phrase,param:shift,params_json');
    expect(lines).toHaveLength(3);
    const annRow = lines.find((l) => l.includes(ann.user.email))!;
    const annVariant = findVariant(t.app.deps.db, currentVersion(t.app.deps.db, 'prog1', 'caesar')!.assignment.id, ann.user.id)!;
    expect(annRow.startsWith(`${ann.user.id},s123,Ann,${ann.user.email},1,${annVariant.seed},2026-10-01T09:00:00.000Z,`)).toBe(true);
    expect(annRow).toContain(`,${annVariant.params.shift as number},`);
    expect(lines.find((l) => l.includes(eve.user.email))).toContain(`,"'=HYPERLINK(""http://evil.example"")",`);
    const student = await signIn(t);
    expect((await student.fetch('/courses/prog1/assignments/caesar/variants.csv')).status).toBe(404);
  });
});
