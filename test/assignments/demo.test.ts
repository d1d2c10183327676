import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentVersion, materialiseVersion } from '../../src/plugins/assignments/store.js';
import { planFor } from '../../src/plugins/autotest/run/plan.js';
import { runPrepared } from '../../src/plugins/autotest/run/run.js';
import { ensureVariant, type Variant } from '../../src/plugins/assignments/variants.js';
import { renderText } from '../../src/plugins/assignments/render.js';
import { makeUser } from '../helpers/accounts.js';
import { createTestApp, ROOT, type TestApp } from '../helpers/index.js';

/**
 * The demo bundles' own tests (caesar's declarative cases, stats's harness with run_student), run
 * in the real sandbox the way the autotest runs them: the reference solutions get full marks, the
 * wrong ones do not, and the results carry every visibility.
 */
interface Results {
  score: number;
  max_score: number;
  tests: Array<{ name: string; score: number | null; max_score: number | null; status: string; visibility: string }>;
}

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

async function grade(slug: string, solution: string, file: string, variant: Variant): Promise<Results> {
  const version = currentVersion(t.app.deps.db, 'prog1', slug)!.version;
  const dir = await materialiseVersion(t.app.deps, version);
  const source = renderText(readFileSync(path.join(ROOT, 'examples/solutions', solution, file), 'utf8'), { params: variant.params, student: { id: '1', name: 'Test' } });
  const subDir = mkdtempSync(path.join(tmpdir(), 'lectern-demo-'));
  writeFileSync(path.join(subDir, file), source);
  const hasTests = version.manifest.some((e) => e.path.startsWith('tests/'));
  const out = await runPrepared(
    t.app.deps.sandbox,
    { command: version.config.test.command, limits: version.config.test.limits, params: variant.params, points: 1, defaultVisibility: version.config.feedback.tests, plan: planFor(version.config, variant.params, { id: '1', name: 'Test' }) },
    { submission: [{ from: path.join(subDir, file), to: file }], tests: hasTests ? path.join(dir, 'tests') : null },
  );
  rmSync(subDir, { recursive: true, force: true });
  expect(out.grade.gradable, out.grade.problem ?? '').toBe(true);
  expect(out.grade.tamper ?? []).toEqual([]);
  return {
    score: out.grade.score!,
    max_score: out.grade.maxScore!,
    tests: out.grade.tests.map((x) => ({ name: x.name, score: x.score, max_score: x.maxScore, status: x.status, visibility: x.visibility })),
  };
}

describe.each([
  ['caesar', 'caesar.c'],
  ['stats', 'stats.py'],
])('the demo assignment %s', (slug, file) => {
  it('gives the reference solution full marks and the wrong one less, with visible, after-deadline and hidden tests', async () => {
    const user = makeUser(t, { name: `Demo ${slug}` });
    const variant = (await ensureVariant(t.app.deps, { course: 'prog1', slug, user: { id: user.id, name: user.name } }))!;
    expect(variant).not.toBeNull();
    const right = await grade(slug, slug, file, variant);
    expect(right.score).toBe(10);
    expect(right.max_score).toBe(10);
    expect(right.tests.every((x) => x.status === 'passed')).toBe(true);
    expect(new Set(right.tests.map((x) => x.visibility))).toEqual(new Set(['visible', 'after_due_date', 'hidden']));
    const wrong = await grade(slug, `${slug}-wrong`, file, variant);
    expect(wrong.score).toBeLessThan(10);
    expect(wrong.tests.some((x) => x.status === 'failed' && x.visibility === 'visible')).toBe(true);
  }, 240_000);
});
