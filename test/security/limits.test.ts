import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { makeZip } from '../helpers/archives.js';
import { createTestApp, tempDir, type TestApp } from '../helpers/index.js';
import { upload } from '../helpers/submit.js';

/**
 * Limits count what they say: submissions_per_hour is counted inside the transaction that
 * inserts the submission (parallel uploads cannot all slip under it), and max_files counts the
 * student's files, not the folders and metadata a Mac adds to a zip.
 */
let t: TestApp;
let student: SignedInAgent;
const SOURCE = '#include <stdio.h>\nint main(void) { return 0; }\n';

beforeAll(async () => {
  t = await createTestApp({ config: { graders: 0 } });
  student = await signIn(t, { name: 'Rate Student' });
});
afterAll(async () => {
  await t?.close();
});

describe('submissions_per_hour under a parallel burst', () => {
  it('accepts exactly the limit (20 for caesar) of 30 uploads sent at once', async () => {
    // The first upload prepares the variant; the other 29 arrive together.
    const first = await upload(student, 'prog1', 'caesar', [{ name: 'caesar.c', content: SOURCE }]);
    expect(first.status).toBe(201);
    const rest = await Promise.all(Array.from({ length: 29 }, (_, i) => upload(student, 'prog1', 'caesar', [{ name: 'caesar.c', content: `${SOURCE}// ${i}\n` }])));
    const statuses = [first.status, ...rest.map((r) => r.status)];
    expect(statuses.filter((s) => s === 201)).toHaveLength(20);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10);
    const stored = t.app.deps.db.prepare('SELECT count(*) AS n FROM submissions WHERE user_id = ?').get(student.user.id) as { n: number };
    expect(stored.n).toBe(20);
  }, 120_000);
});

describe('a zip made on a Mac', () => {
  it('counts as the one file it holds (max_files: 1), without __MACOSX/ and .DS_Store', async () => {
    const other = await signIn(t, { name: 'Mac Student' });
    const dir = tempDir('lectern-maczip-');
    const file = path.join(dir, 'caesar.zip');
    await makeZip(file, [
      { name: 'caesar/' },
      { name: 'caesar/caesar.c', data: SOURCE },
      { name: 'caesar/.DS_Store', data: Buffer.alloc(6148, 1) },
      { name: '__MACOSX/' },
      { name: '__MACOSX/caesar/' },
      { name: '__MACOSX/caesar/._caesar.c', data: Buffer.alloc(163, 2) },
      { name: '__MACOSX/caesar/._.DS_Store', data: Buffer.alloc(120, 3) },
    ]);
    const res = await upload(other, 'prog1', 'caesar', [{ name: 'caesar.zip', content: await readFile(file) }]);
    const body = (await res.json()) as { files?: Array<{ name: string }>; error?: string };
    expect(body.error).toBeUndefined();
    expect(res.status).toBe(201);
    expect(body.files?.map((f) => f.name)).toEqual(['caesar.c']);
  });
});
