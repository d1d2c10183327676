import Database from 'better-sqlite3';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentOrPending } from '../../src/plugins/assignments/store.js';
import { getSelfCheck } from '../../src/plugins/autotest/self-check-store.js';
import { copyDemoContent } from '../helpers/content.js';
import { createTestApp, type TestApp } from '../helpers/index.js';

/**
 * The self-check runs in the background for minutes; another process may hold the database's
 * write lock just when it stores its result (a long import, a bench filling a course). The result
 * waits for the lock instead of the error escaping the loop, which used to end the server.
 */
let t: TestApp;

beforeAll(async () => {
  const content = copyDemoContent();
  // Only one small bundle, so the check under test is the only one.
  for (const slug of ['caesar', 'stats']) rmSync(path.join(content, 'assignments', slug), { recursive: true, force: true });
  const a = path.join(content, 'assignments', 'answer');
  mkdirSync(path.join(a, 'tests'), { recursive: true });
  mkdirSync(path.join(a, 'solution'), { recursive: true });
  writeFileSync(
    path.join(a, 'assignment.yaml'),
    'title: Answer\nopens: 2026-09-01T08:00:00+02:00\ndeadline: 2026-10-15T23:59:00+02:00\nfiles: [main.py]\nmax_files: 1\ntest:\n  command: [/bin/sh, tests/run.sh]\n  limits: { wall: 20s }\n',
  );
  writeFileSync(path.join(a, 'statement.md'), '# Answer\n\nPrint 42.\n');
  writeFileSync(path.join(a, 'tests', 'run.sh'), '#!/bin/sh\nout=$(/usr/bin/python3 main.py)\n[ "$out" = 42 ]\n');
  chmodSync(path.join(a, 'tests', 'run.sh'), 0o755);
  writeFileSync(path.join(a, 'solution', 'main.py'), 'print(42)\n');
  t = await createTestApp({ config: { graders: 1, selfCheck: true, contentDir: content } });
});
afterAll(async () => {
  await t?.close();
});

async function until<T>(what: string, probe: () => T | undefined | null | false, timeoutMs = 300_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`waited in vain for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the self-check and a locked database', () => {
  it('keeps its result until the lock is gone, and the server goes on', async () => {
    // The first version: not current (not open to students) until its check passes.
    const versionId = currentOrPending(t.app.deps.db, 'prog1', 'answer')!.version.id;
    await until('the check to start', () => getSelfCheck(t.app.deps.db, versionId)?.state === 'running');
    const other = new Database(path.join(t.dataDir, 'lectern.db'));
    other.pragma('busy_timeout = 60000');
    other.exec('BEGIN IMMEDIATE');
    try {
      await until('the result to wait for the database', () => t.logs.some((l) => l.msg === 'bundle self-check result waits for the database'));
    } finally {
      other.exec('COMMIT');
      other.close();
    }
    const done = await until('the result to be stored', () => {
      const c = getSelfCheck(t.app.deps.db, versionId);
      return c && c.state !== 'running' ? c : undefined;
    });
    expect(done.state).toBe('done');
    expect(t.logs.some((l) => l.msg === 'bundle self-check finished' && l.versionId === versionId)).toBe(true);
    expect((await t.fetch('/healthz')).status).toBe(200);
  }, 600_000);
});
