import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import yauzl from 'yauzl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/lib/clock.js';
import { renderText } from '../../src/plugins/assignments/render.js';
import { ensureVariant } from '../../src/plugins/assignments/variants.js';
import { PRIORITY } from '../../src/plugins/autotest/queue.js';
import { penalised } from '../../src/plugins/assignments/deadline.js';
import { ROOT, createTestApp, type TestApp } from '../helpers/index.js';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { copyDemoContent, writeShellAssignment } from '../helpers/content.js';
import { upload, waitForResult, type StatusJson } from '../helpers/submit.js';

/**
 * The gradebook over real grading (bubblewrap sandbox, one grader): counted scores with late
 * penalties and `last` vs `best`, the CSV export, the histogram, the submissions zip, and re-runs
 * that each record exactly one new result.
 */
const solution = (name: string) => readFileSync(path.join(ROOT, 'examples/solutions', name), 'utf8');
// caesar: deadline 2027-06-15T23:59+02:00, 15 min grace, 10 % per started day; counts: last.
// stats: deadline 2027-06-30; counts: best. fixed: an assignment whose tests print a chosen results.json; counts: last.
// broken: its generator fails, so nobody can be handed a variant.
const LATE = '2027-06-17T10:00:00Z';

function contentWithFixture(): string {
  const dir = copyDemoContent();
  const a = writeShellAssignment(dir, 'fixed', {
    title: 'Fixed results',
    opens: '2026-09-01T08:00:00+02:00',
    deadline: '2027-07-01T23:59:00+02:00',
    wall: '5s',
    memory: '256MB',
    script: 'cp "tests/$(cat submission/answer.txt).json" results.json\n',
  });
  // A harness (trusted: only it may say "gradable": false), reading the submission's copy.
  const yaml = path.join(a, 'assignment.yaml');
  writeFileSync(yaml, readFileSync(yaml, 'utf8').replace('command: [/bin/sh, tests/run.sh]', 'harness: [/bin/sh, tests/run.sh]'));
  writeFileSync(path.join(a, 'tests', 'seven.json'), JSON.stringify({ score: 7, max_score: 10 }));
  writeFileSync(path.join(a, 'tests', 'ungradable.json'), JSON.stringify({ score: 0, gradable: false }));
  // An assignment whose generator always fails: its students get no variant.
  const b = path.join(dir, 'assignments', 'broken');
  mkdirSync(b, { recursive: true });
  writeFileSync(path.join(b, 'assignment.yaml'), readFileSync(path.join(a, 'assignment.yaml'), 'utf8').replace('title: Fixed results', 'title: Broken generator'));
  writeFileSync(path.join(b, 'statement.md'), '# Broken generator\n');
  writeFileSync(path.join(b, 'generate'), '#!/bin/sh\necho "no parameters today" >&2\nexit 3\n');
  chmodSync(path.join(b, 'generate'), 0o755);
  return dir;
}

let t: TestApp;
let content: string;
let lecturer: SignedInAgent;
let ada: SignedInAgent;
let bo: SignedInAgent;
let asa: SignedInAgent;
let di: SignedInAgent;

async function personal(agent: SignedInAgent, slug: string, file: string): Promise<string> {
  const variant = await ensureVariant(t.app.deps, { course: 'prog1', slug, user: { id: agent.user.id, name: agent.user.name } });
  return renderText(solution(file), { params: variant!.params, student: { id: String(agent.user.id), name: agent.user.name } });
}

async function submitAndGrade(agent: SignedInAgent, slug: string, name: string, content: string): Promise<{ id: number; status: StatusJson }> {
  const res = await upload(agent, 'prog1', slug, [{ name, content }]);
  expect(res.status, await res.clone().text()).toBe(201);
  const { id } = (await res.json()) as { id: number };
  return { id, status: await waitForResult(agent, 'prog1', id, 120_000) };
}

const sent = new Map<string, string>();
const scores: Record<string, StatusJson['result']> = {};

beforeAll(async () => {
  content = contentWithFixture();
  t = await createTestApp({ config: { graders: 1, contentDir: content }, clock: fixedClock('2027-06-12T09:00:00Z') });
  lecturer = await signIn(t, { name: 'Lena Lecturer', role: 'lecturer' });
  ada = await signIn(t, { name: 'Ada Lovelace', studentId: 's1001' });
  bo = await signIn(t, { name: 'Bo Ek', email: 'bo.ek@example.org' });
  asa = await signIn(t, { name: 'Åsa Öberg', studentId: 's1003' });
  di = await signIn(t, { name: '=HYPERLINK("http://x")', studentId: '+46' });

  // Bo: caesar (last counts) right, then wrong; stats (best counts) right, then wrong.
  const boRight = await personal(bo, 'caesar', 'caesar/caesar.c');
  const boWrong = await personal(bo, 'caesar', 'caesar-wrong/caesar.c');
  sent.set('bo', boWrong);
  scores.boCaesarRight = (await submitAndGrade(bo, 'caesar', 'caesar.c', boRight)).status.result;
  scores.boCaesarWrong = (await submitAndGrade(bo, 'caesar', 'caesar.c', boWrong)).status.result;
  scores.boStatsRight = (await submitAndGrade(bo, 'stats', 'stats.py', await personal(bo, 'stats', 'stats/stats.py'))).status.result;
  scores.boStatsWrong = (await submitAndGrade(bo, 'stats', 'stats.py', await personal(bo, 'stats', 'stats-wrong/stats.py'))).status.result;
  // Åsa: stats wrong only. Di: a graded result, then one that could not be graded (counts: last).
  scores.asaStats = (await submitAndGrade(asa, 'stats', 'stats.py', await personal(asa, 'stats', 'stats-wrong/stats.py'))).status.result;
  scores.diSeven = (await submitAndGrade(di, 'fixed', 'answer.txt', 'seven')).status.result;
  scores.diBroken = (await submitAndGrade(di, 'fixed', 'answer.txt', 'ungradable')).status.result;
  // Ada: caesar right, but late: 2 started days after deadline + grace = 20 % off.
  t.clock.set(LATE);
  const adaRight = await personal(ada, 'caesar', 'caesar/caesar.c');
  sent.set('ada', adaRight);
  scores.adaCaesar = (await submitAndGrade(ada, 'caesar', 'caesar.c', adaRight)).status.result;
}, 600_000);

afterAll(async () => {
  await t?.close();
  rmSync(content, { recursive: true, force: true });
});

function parseCsv(text: string): string[][] {
  // Enough for what the export writes: quoted fields may hold commas and doubled quotes.
  return text
    .trimEnd()
    .split('\r\n')
    .map((line) => {
      const cells: string[] = [];
      const re = /("(?:[^"]|"")*"|[^,]*)(,|$)/g;
      let m: RegExpExecArray | null;
      while ((m = re.exec(line))) {
        const v = m[1]!;
        cells.push(v.startsWith('"') ? v.slice(1, -1).replace(/""/g, '"') : v);
        if (m[2] === '') break;
      }
      return cells;
    });
}

describe('scores', () => {
  it('grades the fixtures as the tests expect', () => {
    const r = scores;
    expect(r.boCaesarRight!.score).toBe(r.boCaesarRight!.maxScore);
    expect(r.boCaesarWrong!.score!).toBeLessThan(r.boCaesarWrong!.maxScore!);
    expect(r.boStatsRight!.score).toBe(r.boStatsRight!.maxScore);
    expect(r.boStatsWrong!.score!).toBeLessThan(r.boStatsWrong!.maxScore!);
    expect(r.adaCaesar!.score).toBe(r.adaCaesar!.maxScore);
    expect(r.adaCaesar!.finalScore).toBe(penalised(r.adaCaesar!.score!, 20));
    expect(r.diSeven).toMatchObject({ score: 7, maxScore: 10, gradable: true });
    expect(r.diBroken!.gradable).toBe(false);
  });

  it('exports one CSV row per student: e-mail, id, name, assignments in slug order, total; late penalty, last vs best', async () => {
    const res = await lecturer.fetch('/courses/prog1/gradebook.csv');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toContain('prog1-gradebook.csv');
    const text = await res.text();
    expect(text.charCodeAt(0)).not.toBe(0xfeff);
    const rows = parseCsv(text);
    expect(rows[0]).toEqual(['email', 'student_id', 'name', 'broken', 'caesar', 'fixed', 'stats', 'total_percent']);
    // Then each assignment's maximum (as its counted submissions are out of) and weight (1 by default).
    expect(rows[1]!.slice(0, 3)).toEqual(['', '', '(maximum points)']);
    expect(rows[1]![4]).toBe(String(scores.adaCaesar!.maxScore));
    expect(rows[2]).toEqual(['', '', '(weight)', '1', '1', '1', '1', '']);
    const byEmail = new Map(rows.slice(3).map((r) => [r[0]!, r]));
    expect(byEmail.size).toBe(4);
    const num = (n: number) => String(Math.round(n * 1000) / 1000);
    // The total: the mean of the four assignments' fractions of their maxima, in percent.
    const pct = (...fractions: number[]) => num((fractions.reduce((a, b) => a + b, 0) / 4) * 100);

    const adaCaesar = penalised(scores.adaCaesar!.score!, 20);
    expect(byEmail.get(ada.user.email)).toEqual([ada.user.email, 's1001', 'Ada Lovelace', '', num(adaCaesar), '', '', pct(adaCaesar / scores.adaCaesar!.maxScore!)]);
    // caesar counts the last graded submission (the wrong one); stats the best (the right one).
    const boCaesar = scores.boCaesarWrong!.score!;
    const boStats = scores.boStatsRight!.score!;
    expect(byEmail.get('bo.ek@example.org')).toEqual(['bo.ek@example.org', '', 'Bo Ek', '', num(boCaesar), '', num(boStats), pct(boCaesar / scores.boCaesarWrong!.maxScore!, boStats / scores.boStatsRight!.maxScore!)]);
    expect(byEmail.get(asa.user.email)).toEqual([asa.user.email, 's1003', 'Åsa Öberg', '', '', '', num(scores.asaStats!.score!), pct(scores.asaStats!.score! / scores.asaStats!.maxScore!)]);
    // The newest run could not grade: the one before it counts (counts: last, gradable only).
    // A name and an id that a spreadsheet would run as a formula are neutralised.
    expect(byEmail.get(di.user.email)).toEqual([di.user.email, "'+46", `'=HYPERLINK("http://x")`, '', '', '7', '', pct(7 / 10)]);
    expect(text).toContain(`"'=HYPERLINK(""http://x"")"`);

    const excel = await lecturer.fetch('/courses/prog1/gradebook.csv?excel=1');
    const bytes = Buffer.from(await excel.arrayBuffer());
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(bytes.toString('utf8')).toContain('Åsa Öberg');
  });

  it('shows the same counted scores on the gradebook and students pages', async () => {
    const book = await lecturer.get('/courses/prog1/gradebook');
    expect(book.res.status).toBe(200);
    const adaRow = new RegExp(`<tr data-student="${ada.user.id}">[\\s\\S]*?</tr>`).exec(book.text)![0];
    expect(adaRow).toContain(`${penalised(scores.adaCaesar!.score!, 20)} / ${scores.adaCaesar!.maxScore}`);
    expect(adaRow).toContain('(−20 %)');
    const page = await lecturer.get('/courses/prog1/assignments/fixed/students');
    const diRow = new RegExp(`<tr data-student="${di.user.id}">[\\s\\S]*?</tr>`).exec(page.text)![0];
    expect(diRow).toContain('#2</a> not graded');
    expect(diRow).toMatch(/<td data-counted="\d+"><strong>7 \/ 10<\/strong>/);
    const dash = (await (await lecturer.fetch('/courses/prog1/dashboard', { headers: { accept: 'application/json' } })).json()) as { attention: Array<{ slug: string; kind: string; who: string }> };
    expect(dash.attention).toEqual([expect.objectContaining({ slug: 'fixed', kind: 'result', who: di.user.name })]);
  });

  it('lists students whose variant could not be generated until they have one', async () => {
    const visit = await asa.fetch('/courses/prog1/assignments/broken/');
    expect(visit.status).toBe(503);
    await visit.text();
    const dash = (await (await lecturer.fetch('/courses/prog1/dashboard', { headers: { accept: 'application/json' } })).json()) as {
      generatorFailures: Array<{ slug: string; who: string; message: string }>;
    };
    expect(dash.generatorFailures).toEqual([expect.objectContaining({ slug: 'broken', who: 'Åsa Öberg', message: expect.stringContaining('exit code 3') })]);
    const html = await lecturer.get('/courses/prog1/dashboard');
    expect(html.text).toContain('Students whose variant could not be generated (1)');
  });
});

describe('histogram', () => {
  it('is well-formed SVG with a title, text labels, no style attributes, and the right counts', async () => {
    const res = await lecturer.fetch('/courses/prog1/assignments/caesar/histogram.svg');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
    const svg = await res.text();
    expect(svg).not.toMatch(/\sstyle=/);
    // A real XML parser decides well-formedness.
    const py = spawnSync(
      'python3',
      [
        '-c',
        `import sys, json, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
ns = '{http://www.w3.org/2000/svg}'
print(json.dumps({
  'tag': root.tag,
  'title': root.find(ns + 'title').text,
  'desc': root.find(ns + 'desc').text,
  'bins': [int(g.get('data-count')) for g in root.iter(ns + 'g') if g.get('data-bin') is not None],
  'texts': [t.text for t in root.iter(ns + 'text')],
}))`,
      ],
      { input: svg },
    );
    expect(py.status, py.stderr.toString()).toBe(0);
    const parsed = JSON.parse(py.stdout.toString()) as { tag: string; title: string; desc: string; bins: number[]; texts: string[] };
    expect(parsed.tag).toBe('{http://www.w3.org/2000/svg}svg');
    expect(parsed.title).toBe('Scores: Caesar cipher');
    // caesar counts: Ada 80 % (after penalty), Bo his last (wrong) one; Åsa and Di not graded.
    const expected = new Array(10).fill(0);
    expected[8] += 1;
    expected[Math.min(9, Math.floor(((scores.boCaesarWrong!.score! / scores.boCaesarWrong!.maxScore!) * 100) / 10))] += 1;
    expect(parsed.bins).toEqual(expected);
    expect(parsed.desc).toContain('of 2 students (2 students without a graded submission are not shown)');
    expect(parsed.texts).toContain('80–89');
    expect(parsed.texts).toContain('90–100');

    const page = await lecturer.get('/courses/prog1/assignments/caesar/students');
    expect(page.text).toContain('<svg xmlns="http://www.w3.org/2000/svg"');
    expect(page.text).toContain('aria-labelledby="hist-caesar-title hist-caesar-desc"');
  });
});

describe('submissions zip', () => {
  it('streams the counted submission of each student, in a folder named by student, with an index', async () => {
    const res = await lecturer.fetch('/courses/prog1/assignments/caesar/submissions.zip');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/zip');
    expect(res.headers.get('content-length')).toBeNull();
    const zip = Buffer.from(await res.arrayBuffer());
    const entries = await new Promise<Map<string, Buffer>>((resolve, reject) => {
      const out = new Map<string, Buffer>();
      yauzl.fromBuffer(zip, { lazyEntries: true }, (err, file) => {
        if (err || !file) return reject(err ?? new Error('no zip'));
        file.on('entry', (entry: yauzl.Entry) => {
          file.openReadStream(entry, (e, stream) => {
            if (e || !stream) return reject(e ?? new Error('no stream'));
            const chunks: Buffer[] = [];
            stream.on('data', (c: Buffer) => chunks.push(c));
            stream.on('end', () => {
              out.set(entry.fileName, Buffer.concat(chunks));
              file.readEntry();
            });
          });
        });
        file.on('end', () => resolve(out));
        file.on('error', reject);
        file.readEntry();
      });
    });
    expect([...entries.keys()].sort()).toEqual(['caesar/bo.ek@example.org_Bo_Ek/caesar.c', 'caesar/index.csv', 'caesar/s1001_Ada_Lovelace/caesar.c']);
    expect(entries.get('caesar/s1001_Ada_Lovelace/caesar.c')!.toString()).toBe(sent.get('ada'));
    // Bo's last submission counts (caesar: last), so his wrong one is in the zip.
    expect(entries.get('caesar/bo.ek@example.org_Bo_Ek/caesar.c')!.toString()).toBe(sent.get('bo'));
    const index = parseCsv(entries.get('caesar/index.csv')!.toString());
    expect(index[0]).toEqual(['folder', 'email', 'student_id', 'name', 'submissions', 'submission', 'submitted_at', 'late_minutes', 'penalty_pct', 'score', 'max_score', 'final_score']);
    const adaLine = index.find((r) => r[0] === 's1001_Ada_Lovelace')!;
    expect(adaLine.slice(4, 9)).toEqual(['1', '1', new Date(LATE).toISOString(), String(Math.ceil((Date.parse(LATE) - Date.parse('2027-06-15T23:59:00+02:00')) / 60_000)), '20']);
    expect(index.find((r) => r[1] === 'bo.ek@example.org')!.slice(4, 6)).toEqual(['2', '2']);
    // Students without a counted submission are listed too, with no folder.
    expect(index.find((r) => r[1] === asa.user.email)).toEqual(['', asa.user.email, 's1003', 'Åsa Öberg', '0']);
    expect(index).toHaveLength(5);
  });
});

describe('re-runs', () => {
  it('re-runs the counted submissions against the current version: one batch, progress to done, exactly one new result per job', async () => {
    const db = t.app.deps.db;
    const resultsBefore = (db.prepare('SELECT count(*) AS n FROM results').get() as { n: number }).n;
    const res = await lecturer.post('/courses/prog1/assignments/caesar/reruns', { scope: 'counted', version: 'current' }, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(201);
    const batch = (await res.json()) as { id: string; jobs: number; progress: { total: number } };
    expect(batch.jobs).toBe(2);
    const jobs = db.prepare('SELECT id, submission_id, priority, reason FROM jobs WHERE batch = ? ORDER BY id').all(batch.id) as Array<{ id: number; submission_id: number; priority: number; reason: string }>;
    expect(jobs.map((j) => [j.priority, j.reason])).toEqual([
      [PRIORITY.rerun, 'rerun'],
      [PRIORITY.rerun, 'rerun'],
    ]);
    let progress = batch.progress as Record<string, number>;
    const until = Date.now() + 120_000;
    while (progress.queued! + progress.running! > 0) {
      if (Date.now() > until) throw new Error(`re-run did not finish: ${JSON.stringify(progress)}`);
      await new Promise((r) => setTimeout(r, 200));
      progress = ((await (await lecturer.fetch(`/courses/prog1/assignments/caesar/reruns/${batch.id}`, { headers: { accept: 'application/json' } })).json()) as { progress: Record<string, number> }).progress;
    }
    expect(progress).toEqual({ total: 2, queued: 0, running: 0, done: 2, error: 0, cancelled: 0 });
    for (const j of jobs) expect(db.prepare('SELECT count(*) AS n FROM results WHERE job_id = ?').get(j.id)).toEqual({ n: 1 });
    expect((db.prepare('SELECT count(*) AS n FROM results').get() as { n: number }).n).toBe(resultsBefore + 2);
    // Same code, same tests: the gradebook does not move.
    const csv = parseCsv(await (await lecturer.fetch('/courses/prog1/gradebook.csv')).text());
    expect(csv.find((r) => r[0] === ada.user.email)![4]).toBe(String(penalised(scores.adaCaesar!.score!, 20)));
    const page = await lecturer.get('/courses/prog1/assignments/caesar/students');
    expect(page.text).toContain(`id="batch-${batch.id}"`);
    expect(page.text).toContain('<span data-count="done">2</span> done');
  });
});
