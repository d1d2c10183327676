import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, tempDir, type TestApp } from '../helpers/index.js';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { copyDemoContent } from '../helpers/content.js';
import { upload, waitForResult } from '../helpers/submit.js';
import { makeImage } from '../helpers/oci-image.js';

/**
 * An assignment whose environment is an image archive the lecturer exported (`docker save`
 * output), unpacked with skopeo and umoci: the sandbox then runs on the image's root, not the
 * host's /usr. The image is made here from a handful of the host's programs and their libraries
 * (no registry, no docker), with a marker file only the image has.
 */
let t: TestApp;
let student: SignedInAgent;
let lecturer: SignedInAgent;

beforeAll(async () => {
  const content = copyDemoContent();
  const dir = path.join(content, 'assignments', 'imaged');
  mkdirSync(path.join(dir, 'tests'), { recursive: true });
  mkdirSync(path.join(dir, 'environment'), { recursive: true });
  copyFileSync(await makeImage(tempDir('lectern-oci-')), path.join(dir, 'environment', 'image.tar'));
  writeFileSync(
    path.join(dir, 'assignment.yaml'),
    `title: Imaged
opens: 2026-09-01T08:00:00+02:00
deadline: 2027-06-15T23:59:00+02:00
files: [answer.txt]
environment:
  oci: environment/image.tar
test:
  command: [/bin/sh, tests/run.sh]
  limits:
    wall: 60s
`,
  );
  writeFileSync(path.join(dir, 'statement.md'), '# Imaged\n');
  // Full marks only where the image's marker file is, and the answer is right.
  writeFileSync(
    path.join(dir, 'tests', 'run.sh'),
    'if [ -f /etc/lectern-image ] && [ "$(cat answer.txt)" = 42 ]; then s=1; else s=0; fi\n' +
      'if [ -x /usr/bin/python3 ]; then host=yes; else host=no; fi\n' +
      'echo "{\\"score\\": $s, \\"max_score\\": 1, \\"output\\": \\"host python: $host\\"}" > results.json\n',
  );
  // The sandbox user (bwrap drops to it when tests run as root) passes through the data dir to the roots.
  const dataDir = tempDir('lectern-oci-data-');
  chmodSync(dataDir, 0o711);
  t = await createTestApp({ dataDir, config: { graders: 1, contentDir: content } });
  student = await signIn(t, { name: 'Olga Oci' });
  lecturer = await signIn(t, { role: 'lecturer' });
});
afterAll(async () => {
  await t.close();
});

describe('an environment from an image archive (docker save output)', () => {
  it('is unpacked with skopeo and umoci and is the root the tests run on', async () => {
    const res = await upload(student, 'prog1', 'imaged', [{ name: 'answer.txt', content: '42' }]);
    expect(res.status).toBe(201);
    const id = ((await res.json()) as { id: number }).id;
    const s = await waitForResult(student, 'prog1', id, 600_000);
    expect(s.result, JSON.stringify((await waitForResult(lecturer, 'prog1', id)).result)).toMatchObject({ status: 'passed', score: 1, maxScore: 1, gradable: true });
    // The host's /usr (which has python3) is not there: only the image's programs are.
    expect(s.result!.output).toContain('host python: no');
    const env = (await (await lecturer.fetch('/courses/prog1/assignments/imaged/environment', { headers: { accept: 'application/json' } })).json()) as { state: string; log: string };
    expect(env.state).toBe('ready');
    expect(env.log).toContain('$ skopeo copy docker-archive:');
    expect(env.log).toContain('$ umoci unpack');
  }, 900_000);
});
