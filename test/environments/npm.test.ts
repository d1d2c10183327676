import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, tempDir, type TestApp } from '../helpers/index.js';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { copyDemoContent } from '../helpers/content.js';
import { upload, waitForResult } from '../helpers/submit.js';

/**
 * Real builds: mmdebstrap for Debian's nodejs (added because npm: is not empty), then npm from the
 * registry. One that works and one that names a package the registry does not have.
 */
function assignmentYaml(title: string, npm: string): string {
  return `title: ${title}
opens: 2026-09-01T08:00:00+02:00
deadline: 2027-06-15T23:59:00+02:00
files: [parity.js]
environment:
  npm: [${npm}]
test:
  command: [/usr/bin/node, tests/run.js]
  limits:
    wall: 120s
`;
}

// The harness and the student's file both require is-odd from the environment's global folder,
// and the harness also imports it as an ES module (which ignores the global folders).
const RUN_JS = `const fs = require('fs');
(async () => {
  let output, score = 0;
  try {
    const isOdd = require('is-odd');
    const parity = require(process.cwd() + '/parity.js');
    const got = [1, 2, 7].map(parity).join(',');
    const expected = [1, 2, 7].map((n) => (isOdd(n) ? 'odd' : 'even')).join(',');
    let imported;
    try {
      const m = await import('is-odd');
      imported = (m.default || m)(3) ? 'import works' : 'import is wrong';
    } catch (err) {
      imported = 'import failed: ' + (err && err.code);
    }
    output = 'is-odd ' + require('is-odd/package.json').version + ': ' + got + '; ' + imported;
    score = got === expected ? 1 : 0;
  } catch (err) {
    output = String(err && err.message);
  }
  fs.writeFileSync('results.json', JSON.stringify({ score, max_score: 1, output }));
})();
`;

function writeAssignment(content: string, slug: string, npm: string): void {
  const dir = path.join(content, 'assignments', slug);
  mkdirSync(path.join(dir, 'tests'), { recursive: true });
  writeFileSync(path.join(dir, 'assignment.yaml'), assignmentYaml(slug, npm));
  writeFileSync(path.join(dir, 'statement.md'), `# ${slug}\n`);
  writeFileSync(path.join(dir, 'tests', 'run.js'), RUN_JS);
}

let t: TestApp;
let student: SignedInAgent;
let lecturer: SignedInAgent;

beforeAll(async () => {
  const content = copyDemoContent();
  writeAssignment(content, 'npm-ok', 'is-odd@3.0.1');
  writeAssignment(content, 'npm-bad', 'lectern-no-such-package-xyz@1.0.0');
  // The sandbox user (bwrap drops to it when tests run as root) passes through the data dir to the roots.
  const dataDir = tempDir('lectern-npm-data-');
  chmodSync(dataDir, 0o711);
  t = await createTestApp({ dataDir, config: { graders: 2, contentDir: content } });
  student = await signIn(t, { name: 'Nora Npm' });
  lecturer = await signIn(t, { role: 'lecturer' });
});
afterAll(async () => {
  await t.close();
});

interface EnvJson {
  state: string;
  error: string | null;
  hash: string;
  log: string;
}
const envStatus = async (slug: string) => (await lecturer.fetch(`/courses/prog1/assignments/${slug}/environment`, { headers: { accept: 'application/json' } })).json() as Promise<EnvJson>;

describe('npm packages in an environment', () => {
  it('installs them from the registry; the harness and the student code require them in the sandbox', async () => {
    const right = "const isOdd = require('is-odd');\nmodule.exports = (n) => (isOdd(n) ? 'odd' : 'even');\n";
    const wrong = "module.exports = (n) => (n % 2 === 0 ? 'odd' : 'even');\n";
    const ids: number[] = [];
    for (const content of [right, wrong]) {
      const res = await upload(student, 'prog1', 'npm-ok', [{ name: 'parity.js', content }]);
      expect(res.status).toBe(201);
      ids.push(((await res.json()) as { id: number }).id);
    }
    const good = await waitForResult(lecturer, 'prog1', ids[0]!, 900_000);
    expect(good.result, JSON.stringify(good.result)).toMatchObject({ status: 'passed', score: 1, maxScore: 1, gradable: true });
    expect(good.result!.output).toContain('is-odd 3.0.1: odd,even,odd; import works');
    const bad = await waitForResult(lecturer, 'prog1', ids[1]!, 900_000);
    expect(bad.result, JSON.stringify(bad.result)).toMatchObject({ score: 0, gradable: true });
    expect(bad.result!.output).toContain('is-odd 3.0.1: even,odd,even');

    const env = await envStatus('npm-ok');
    expect(env.state).toBe('ready');
    expect(env.log).toMatch(/\$ mmdebstrap .*--include=nodejs /);
    expect(env.log).toMatch(/\$ npm install --global .*--ignore-scripts .*-- is-odd@3\.0\.1/);
    const page = await lecturer.get('/courses/prog1/assignments/npm-ok/environment');
    expect(page.text).toContain('<dt>npm packages</dt><dd>is-odd@3.0.1</dd>');
  }, 1_200_000);

  it('a package the registry does not have: a clear error, nothing half-built left', async () => {
    const end = Date.now() + 900_000;
    let failed = await envStatus('npm-bad');
    while (failed.state !== 'failed' && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 500));
      failed = await envStatus('npm-bad');
    }
    expect(failed.error).toBe('npm has no package "lectern-no-such-package-xyz" (check the names under environment: npm:)');
    expect(failed.log).toContain('npm error 404');
    const dir = path.join(t.dataDir, 'environments');
    expect(readdirSync(dir).filter((n) => n.startsWith('.build-') || n === failed.hash)).toEqual([]);
  }, 1_200_000);
});
