import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../src/lib/logger.js';
import { createSandbox } from '../../src/lib/sandbox/index.js';
import { createTestApp, type TestApp } from '../helpers/index.js';
import { signIn } from '../helpers/accounts.js';

const BANNER = 'Unsafe sandbox mode: student code runs without isolation';

let t: TestApp;
beforeAll(async () => {
  // The operator's explicit unsafe mode on a host without bubblewrap (a missing bwrap path).
  t = await createTestApp({ config: { graders: 0 }, sandbox: createSandbox({ unsafe: true, log: memoryLogger().log, bwrapPath: '/nonexistent/bwrap' }) });
});
afterAll(async () => {
  await t.close();
});

describe('unsafe sandbox mode', () => {
  it('is flagged on every page a course lecturer or tutor sees, and to no student', async () => {
    const lecturer = await signIn(t, { role: 'lecturer' });
    const tutor = await signIn(t, { role: 'tutor' });
    const student = await signIn(t);
    for (const path of ['/courses/prog1/', '/courses/prog1/assignments/', '/courses/prog1/assignments/caesar/staff', '/courses/prog1/dashboard', '/courses/prog1/syllabus']) {
      expect((await lecturer.get(path)).text, path).toContain(BANNER);
      expect((await tutor.get(path)).text, path).toContain(BANNER);
    }
    for (const path of ['/courses/prog1/', '/courses/prog1/assignments/', '/courses/prog1/assignments/caesar/']) {
      expect((await student.get(path)).text, path).not.toContain(BANNER);
    }
    const dashboard = (await (await lecturer.fetch('/courses/prog1/dashboard', { headers: { accept: 'application/json' } })).json()) as { unsafeSandbox: boolean };
    expect(dashboard.unsafeSandbox).toBe(true);
  });
});
