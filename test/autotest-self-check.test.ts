import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentVersion, importBundle } from '../src/plugins/assignments/store.js';
import { getSelfCheck, type SelfCheck } from '../src/plugins/autotest/self-check-store.js';
import { signIn, type SignedInAgent } from './helpers/accounts.js';
import { copyDemoContent } from './helpers/content.js';
import { createTestApp, tempDir, type TestApp } from './helpers/index.js';

/**
 * Publish-time self-check (issue 13): every imported version is graded in the background against
 * its solution/ and the built-in hostile submissions. The demos pass; a bundle that reads its
 * verdict from a file the student's program can write is flagged, held back from being current,
 * and shown in red on the dashboard.
 */

/** A legacy bundle that trusts a results.json in the submission's dir: any submission can forge it. */
function writeWeak(dir: string, slug: string): string {
  const a = path.join(dir, slug);
  mkdirSync(path.join(a, 'tests'), { recursive: true });
  mkdirSync(path.join(a, 'solution'), { recursive: true });
  writeFileSync(
    path.join(a, 'assignment.yaml'),
    `title: Weak
opens: 2026-09-01T08:00:00+02:00
deadline: 2026-10-15T23:59:00+02:00
files: [main.py]
max_files: 1
test:
  command: [/bin/sh, tests/run.sh]
  limits: { wall: 20s }
`,
  );
  writeFileSync(path.join(a, 'statement.md'), '# Weak\n\nPrint 42.\n');
  writeFileSync(path.join(a, 'tests', 'run.sh'), '#!/bin/sh\nout=$(/usr/bin/python3 main.py)\n[ "$out" = 42 ]\n');
  chmodSync(path.join(a, 'tests', 'run.sh'), 0o755);
  writeFileSync(path.join(a, 'solution', 'main.py'), 'print(42)\n');
  return a;
}

let t: TestApp;
let lecturer: SignedInAgent;

beforeAll(async () => {
  const content = copyDemoContent();
  writeWeak(path.join(content, 'assignments'), 'weak');
  t = await createTestApp({ config: { graders: 1, selfCheck: true, contentDir: content } });
  lecturer = await signIn(t, { role: 'lecturer' });
});
afterAll(async () => {
  await t.close();
});

async function checked(versionId: number, timeoutMs = 240_000): Promise<SelfCheck> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const c = getSelfCheck(t.app.deps.db, versionId);
    if (c && c.state !== 'running') return c;
    if (Date.now() > until) throw new Error(`no self-check of version ${versionId}: ${JSON.stringify(c)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('the publish-time self-check', () => {
  it.each(['caesar', 'stats'])('passes the demo %s: every hostile submission scores nothing', async (slug) => {
    const c = await checked(currentVersion(t.app.deps.db, 'prog1', slug)!.version.id);
    expect(c.state).toBe('done');
    expect(c.entries.filter((e) => !e.ok)).toEqual([]);
    expect(c.warning).toBe(false);
    expect(c.entries.map((e) => e.name)).toEqual(
      expect.arrayContaining(['writes results.json', 'reads tests/', 'leaves a detached child', 'floods output', 'forks', 'opens the network', 'prints the environment']),
    );
    // What the sandbox saw of the forgeries is listed for the lecturer.
    expect(c.entries.find((e) => e.name === 'leaves a detached child')!.tamper.join(' ')).toMatch(/left \d+ process/);
  }, 300_000);

  it('flags a bundle that reads its verdict from the submission\'s dir, in red on the dashboard', async () => {
    const weak = currentVersion(t.app.deps.db, 'prog1', 'weak')!.version;
    const c = await checked(weak.id);
    expect(c.warning).toBe(true);
    expect(c.entries.find((e) => e.kind === 'reference')).toMatchObject({ ok: true, score: 1, maxScore: 1 });
    expect(c.entries.find((e) => e.name === 'writes results.json')).toMatchObject({ ok: false });
    expect(c.message).toMatch(/hostile submission "writes results.json" scored/);
    const dash = await lecturer.get('/courses/prog1/dashboard');
    expect(dash.text).toContain('Bundles that can be fooled');
    expect(dash.text).toContain('weak version 1');
    const staff = await lecturer.get('/courses/prog1/assignments/weak/staff');
    expect(staff.text).toContain('problems found');
  }, 300_000);

  it('holds a failing new version back until a lecturer confirms it', async () => {
    const before = currentVersion(t.app.deps.db, 'prog1', 'stats')!.version;
    await checked(before.id);
    // Version 2 of stats: the weak bundle's grading under stats's name.
    const dir = tempDir('lectern-weak-');
    const a = writeWeak(dir, 'stats');
    const imported = await importBundle(t.app.deps, { course: 'prog1', slug: 'stats', dir: a, source: 'cli', createdBy: 'command line' });
    expect(imported.ok).toBe(true);
    const v2 = imported.ok ? imported.version : null;
    expect(currentVersion(t.app.deps.db, 'prog1', 'stats')!.version.id).toBe(v2!.id);
    const c = await checked(v2!.id);
    expect(c).toMatchObject({ warning: true, heldBackFor: before.number });
    expect(currentVersion(t.app.deps.db, 'prog1', 'stats')!.version.id).toBe(before.id);

    await lecturer.get('/courses/prog1/assignments/stats/staff');
    const refused = await lecturer.post(`/courses/prog1/assignments/stats/versions/${v2!.number}/current`, {});
    expect(refused.status).toBe(422);
    expect(currentVersion(t.app.deps.db, 'prog1', 'stats')!.version.id).toBe(before.id);
    const confirmed = await lecturer.post(`/courses/prog1/assignments/stats/versions/${v2!.number}/current`, { confirm: 'yes' });
    expect(confirmed.status).toBe(302);
    expect(currentVersion(t.app.deps.db, 'prog1', 'stats')!.version.id).toBe(v2!.id);
    expect(getSelfCheck(t.app.deps.db, v2!.id)!.confirmedBy).toBe(lecturer.user.email);
    const dash = await lecturer.get('/courses/prog1/dashboard');
    expect(dash.text).not.toContain(`stats version ${v2!.number}`);
  }, 400_000);
});
