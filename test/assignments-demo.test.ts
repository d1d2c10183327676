import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentVersion, materialiseVersion } from '../src/plugins/assignments/store.js';
import { ensureVariant, type Variant } from '../src/plugins/assignments/variants.js';
import { renderText } from '../src/plugins/assignments/render.js';
import { makeUser } from './helpers/accounts.js';
import { createTestApp, ROOT, type TestApp } from './helpers/index.js';

/**
 * The demo bundles' own test suites, run in the real sandbox the way the autotest runs them
 * (submission at the top of the work dir, tests/ beside it, params.json): the reference
 * solutions get full marks, the wrong ones do not, and the results carry every visibility.
 */
interface Results {
  score: number;
  max_score: number;
  tests: Array<{ name: string; score: number; max_score: number; status: string; visibility: string }>;
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
  const run = await t.app.deps.sandbox.run({
    command: version.config.test.command,
    inputs: [{ from: path.join(dir, 'tests'), to: 'tests' }],
    files: { [file]: source, 'params.json': JSON.stringify(variant.params) },
    limits: version.config.test.limits,
    collect: ['results.json'],
  });
  expect(run.status, run.stderr).toBe('ok');
  expect(run.exitCode).toBe(0);
  return JSON.parse(run.files['results.json']!.toString('utf8')) as Results;
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
  });
});
