import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/index.js';
import { copyDemoContent } from '../helpers/content.js';
import { makeUser, signInAs, type SignedInAgent, type TestUser } from '../helpers/accounts.js';
import { upload, waitForResult } from '../helpers/submit.js';
import { makeProgram, renderProgram, shuffled } from '../helpers/programs.js';
import { getAssignment } from '../../src/plugins/assignments/store.js';
import { findVariant } from '../../src/plugins/assignments/variants.js';

/**
 * The similarity report over a generated class: 26 independent programs and four planted copies
 * (identifiers renamed, functions reordered), all built on the same starter code; then the
 * variant-aware check on a copied Caesar solution.
 */
let t: TestApp;
let lecturer: SignedInAgent;
let admin: SignedInAgent;
const students: Array<{ user: TestUser; agent: SignedInAgent }> = [];
const json = { accept: 'application/json' };

const STARTER = `#include <stdio.h>
#include <stdlib.h>

/* Reads up to max numbers from standard input into xs; returns how many were read. */
static int read_numbers(int *xs, int max)
{
    int n = 0;
    while (n < max && scanf("%d", &xs[n]) == 1) {
        n++;
    }
    return n;
}

/* Prints the numbers on one line, separated by spaces. */
static void print_numbers(const int *xs, int n)
{
    for (int i = 0; i < n; i++) {
        printf(i ? " %d" : "%d", xs[i]);
    }
    printf("\\n");
}
`;

/** Student i's program: 26 originals, then copies of 0, 1, 2 and another of 2. */
const COPIES: Record<number, { of: number; prefix: string; seed: number }> = {
  26: { of: 0, prefix: 'q', seed: 11 },
  27: { of: 1, prefix: 'w', seed: 12 },
  28: { of: 2, prefix: 'z', seed: 13 },
  29: { of: 2, prefix: 'k', seed: 14 },
};

function programOf(i: number): string {
  const copy = COPIES[i];
  const program = makeProgram(1000 + (copy ? copy.of : i), 70);
  const main = '\nint main(void)\n{\n    int xs[100];\n    int n = read_numbers(xs, 100);\n    print_numbers(xs, n);\n    return 0;\n}\n';
  const text = copy ? renderProgram(program, { prefix: copy.prefix, order: shuffled(program.fns.length, copy.seed), starter: STARTER }) : renderProgram(program, { starter: STARTER });
  return text + main;
}

async function waitForReport(agent: SignedInAgent, slug: string, id: number) {
  const until = Date.now() + 180_000;
  for (;;) {
    const res = await agent.fetch(`/courses/prog1/assignments/${slug}/similarity`, { headers: json });
    const body = (await res.json()) as {
      report: { id: number; state: string; progress: number; error: string | null };
      pairs: Array<{ rank: number; similarity: number; left: { submissionId: number; label: string; members: Array<{ email: string }> }; right: { submissionId: number; label: string; members: Array<{ email: string }> }; evidence: { state: string; flagged: boolean; summary: string } | null }>;
      clusters: Array<Array<{ members: Array<{ email: string }> }>>;
      starterExcluded: boolean;
      subjects: number;
    };
    if (body.report.id === id && (body.report.state === 'done' || body.report.state === 'failed')) return body;
    if (Date.now() > until) throw new Error(`report ${id} not finished: ${JSON.stringify(body.report)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  const dir = copyDemoContent();
  const a = path.join(dir, 'assignments', 'cls');
  mkdirSync(path.join(a, 'tests'), { recursive: true });
  mkdirSync(path.join(a, 'starter'), { recursive: true });
  writeFileSync(
    path.join(a, 'assignment.yaml'),
    ['title: Numbers', 'opens: 2026-09-01T00:00:00Z', 'deadline: 2026-12-01T00:00:00Z', 'files: [main.c]', 'max_upload_size: 64KB', 'max_files: 1', 'test:', '  command: [/bin/sh, tests/run.sh]', '  limits:', '    wall: 20s', ''].join('\n'),
  );
  writeFileSync(path.join(a, 'statement.md'), '# Numbers\n');
  writeFileSync(path.join(a, 'starter', 'main.c'), `${STARTER}\nint main(void)\n{\n    return 0;\n}\n`);
  writeFileSync(path.join(a, 'tests', 'run.sh'), '#!/bin/sh\nexit 0\n');
  chmodSync(path.join(a, 'tests', 'run.sh'), 0o755);
  t = await createTestApp({ config: { contentDir: dir, graders: 1 } });
  lecturer = await signInAs(t, makeUser(t, { role: 'lecturer', name: 'Lecturer' }));
  admin = await signInAs(t, makeUser(t, { role: null, admin: true, name: 'Admin' }));
  for (let i = 0; i < 30; i++) {
    const user = makeUser(t, { name: `Student ${String(i).padStart(2, '0')}` });
    students.push({ user, agent: await signInAs(t, user) });
  }
}, 240_000);

afterAll(async () => {
  await t?.close();
});

const who = (s: { members: Array<{ email: string }> }) => students.findIndex((x) => x.user.email === s.members[0]!.email);
const key = (p: { left: { members: Array<{ email: string }> }; right: { members: Array<{ email: string }> } }) => [who(p.left), who(p.right)].sort((x, y) => x - y).join('-');

describe('similarity report', () => {
  let reportId: number;

  it('finds the planted copies at the top, with the starter code left out', async () => {
    for (const [i, s] of students.entries()) {
      await s.agent.get('/courses/prog1/assignments/cls/submissions');
      const res = await upload(s.agent, 'prog1', 'cls', [{ name: 'main.c', content: programOf(i) }]);
      expect(res.status).toBe(201);
    }
    await lecturer.get('/courses/prog1/assignments/cls/similarity');
    const started = await lecturer.post('/courses/prog1/assignments/cls/similarity', {}, { headers: json });
    expect(started.status).toBe(202);
    reportId = ((await started.json()) as { id: number }).id;
    const report = await waitForReport(lecturer, 'cls', reportId);
    expect(report.report.error).toBeNull();
    expect(report.report.state).toBe('done');
    expect(report.subjects).toBe(30);
    expect(report.starterExcluded).toBe(true);
    const planted = ['0-26', '1-27', '2-28', '2-29', '28-29'];
    expect(report.pairs.slice(0, 5).map(key).sort()).toEqual(planted);
    for (const p of report.pairs.slice(0, 5)) expect(p.similarity).toBeGreaterThan(0.6);
    expect(report.pairs[5]?.similarity ?? 0).toBeLessThan(0.35);
    expect(report.clusters.map((c) => c.map(who).sort((x, y) => x - y))).toEqual([[2, 28, 29]]);
  });

  it('does not count the starter code even when common code is kept', async () => {
    // 100 %: nothing is left out for being common, so only the starter's own exclusion keeps
    // its lines out of the matches, even between copies.
    const started = await lecturer.post('/courses/prog1/assignments/cls/similarity', { max_share: '100' }, { headers: json });
    expect(started.status).toBe(202);
    const id = ((await started.json()) as { id: number }).id;
    const report = await waitForReport(lecturer, 'cls', id);
    expect(report.report.state).toBe('done');
    expect(report.pairs.slice(0, 5).map(key).sort()).toEqual(['0-26', '1-27', '2-28', '2-29', '28-29']);
    const starterLines = STARTER.split('\n').length;
    for (let rank = 1; rank <= 10; rank++) {
      const pair = (await (await lecturer.fetch(`/courses/prog1/assignments/cls/similarity/${id}/pairs/${rank}`, { headers: json })).json()) as { fragments: Array<{ left: { endRow: number }; right: { endRow: number } }> };
      expect(pair.fragments.length).toBeGreaterThan(0);
      for (const f of pair.fragments) {
        expect(f.left.endRow).toBeGreaterThanOrEqual(starterLines - 1);
        expect(f.right.endRow).toBeGreaterThanOrEqual(starterLines - 1);
      }
    }
  });

  it('shows a pair side by side with the matching fragments marked, and exports CSV', async () => {
    const { res, text } = await lecturer.get(`/courses/prog1/assignments/cls/similarity/${reportId}/pairs/1`);
    expect(res.status).toBe(200);
    const sides = text.split('<section aria-label=').slice(1);
    expect(sides).toHaveLength(2);
    for (const side of sides) expect(side).toMatch(/class="frag-\d"/);
    const csv = await lecturer.fetch(`/courses/prog1/assignments/cls/similarity/${reportId}/pairs.csv`);
    expect(csv.status).toBe(200);
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toMatch(/^rank,similarity,/);
    expect(lines[1]).toMatch(/^1,[01]\.\d{4},/);
    expect(lines.length).toBeGreaterThan(6);
  });

  it('is for staff only, and audited', async () => {
    const s = students[0]!.agent;
    for (const p of ['/courses/prog1/assignments/cls/similarity', `/courses/prog1/assignments/cls/similarity/${reportId}/pairs/1`, `/courses/prog1/assignments/cls/similarity/${reportId}/pairs.csv`]) {
      expect((await s.fetch(p, { headers: json })).status).toBe(404);
    }
    expect((await s.post('/courses/prog1/assignments/cls/similarity', {}, { headers: json })).status).toBe(404);
    const audit = (await (await admin.fetch('/admin/audit?course=prog1', { headers: json })).json()) as { entries: Array<{ action: string }> };
    const actions = audit.entries.map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['similarity.run', 'similarity.view_pair', 'similarity.export_csv']));
  });
});

describe('variant-aware evidence', () => {
  const SOLUTION = (shift: number, names: { c: string; k: string; d: string }) => `#include <stdio.h>
#include <string.h>

#define SHIFT ${shift}

int main(int argc, char *argv[])
{
    int ${names.d} = argc > 1 && strcmp(argv[1], "-d") == 0;
    int ${names.k} = ${names.d} ? 26 - SHIFT : SHIFT;
    int ${names.c};

    while ((${names.c} = getchar()) != EOF) {
        if (${names.c} >= 'a' && ${names.c} <= 'z') {
            ${names.c} = 'a' + (${names.c} - 'a' + ${names.k}) % 26;
        } else if (${names.c} >= 'A' && ${names.c} <= 'Z') {
            ${names.c} = 'A' + (${names.c} - 'A' + ${names.k}) % 26;
        }
        putchar(${names.c});
    }
    return 0;
}
`;

  it("flags code that passes a classmate's shift and fails its own", async () => {
    const db = t.app.deps.db;
    const caesar = getAssignment(db, 'prog1', 'caesar')!;
    const shiftOf = async (s: { user: TestUser; agent: SignedInAgent }) => {
      await s.agent.get('/courses/prog1/assignments/caesar/');
      return Number(findVariant(db, caesar.id, s.user.id)!.params.shift);
    };
    const author = students[3]!;
    const authorShift = await shiftOf(author);
    let copier = students[4]!;
    for (const s of students.slice(4)) {
      copier = s;
      if ((await shiftOf(s)) !== authorShift) break;
    }
    expect(await shiftOf(copier)).not.toBe(authorShift);
    await author.agent.get('/courses/prog1/assignments/caesar/submissions');
    const own = await upload(author.agent, 'prog1', 'caesar', [{ name: 'caesar.c', content: SOLUTION(authorShift, { c: 'c', k: 'k', d: 'decrypt' }) }]);
    expect(own.status).toBe(201);
    await copier.agent.get('/courses/prog1/assignments/caesar/submissions');
    const copied = await upload(copier.agent, 'prog1', 'caesar', [{ name: 'caesar.c', content: SOLUTION(authorShift, { c: 'ch', k: 'key', d: 'backwards' }) }]);
    expect(copied.status).toBe(201);
    const ownId = ((await own.json()) as { id: number }).id;
    const copiedId = ((await copied.json()) as { id: number }).id;
    expect((await waitForResult(author.agent, 'prog1', ownId, 120_000)).result?.score).toBe(10);
    expect((await waitForResult(copier.agent, 'prog1', copiedId, 120_000)).result?.score).toBeLessThan(10);

    await lecturer.get('/courses/prog1/assignments/caesar/similarity');
    const started = await lecturer.post('/courses/prog1/assignments/caesar/similarity', {}, { headers: json });
    expect(started.status).toBe(202);
    const id = ((await started.json()) as { id: number }).id;
    const report = await waitForReport(lecturer, 'caesar', id);
    expect(report.report.state).toBe('done');
    expect(report.pairs[0]!.similarity).toBeGreaterThan(0.8);
    await lecturer.get(`/courses/prog1/assignments/caesar/similarity/${id}/pairs/1`);
    const check = await lecturer.post(`/courses/prog1/assignments/caesar/similarity/${id}/pairs/1/evidence`, {}, { headers: json });
    expect(check.status).toBe(202);
    const until = Date.now() + 240_000;
    type EvidenceJson = { state: string; flagged: boolean; summary: string; runs: Array<{ code: number; paramsOf: number; score: number | null }> };
    let evidence: EvidenceJson;
    for (;;) {
      const res = await lecturer.fetch(`/courses/prog1/assignments/caesar/similarity/${id}/pairs/1`, { headers: json });
      const got = ((await res.json()) as { evidence: EvidenceJson | null }).evidence;
      if (got && (got.state === 'done' || got.state === 'failed')) {
        evidence = got;
        break;
      }
      if (Date.now() > until) throw new Error(`variant check not finished: ${JSON.stringify(got)}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(evidence.state).toBe('done');
    expect(evidence.flagged).toBe(true);
    const run = (code: number, paramsOf: number) => evidence.runs.find((r) => r.code === code && r.paramsOf === paramsOf)?.score;
    expect(run(copiedId, ownId)).toBe(10);
    expect(run(copiedId, copiedId)).toBeLessThan(10);
    expect(run(ownId, ownId)).toBe(10);
    expect(evidence.summary).toContain(`${copier.user.name}'s code scores 100 % on ${author.user.name}'s parameters`);
    // The author's code is not flagged: it does best on its own numbers.
    expect(evidence.summary).not.toContain(`${author.user.name}'s code scores`);
    // Never shown to either student.
    expect((await copier.agent.fetch(`/courses/prog1/assignments/caesar/similarity/${id}/pairs/1`, { headers: json })).status).toBe(404);
  });
});
