import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, tempDir, type TestApp } from '../helpers/index.js';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { makeZip } from '../helpers/archives.js';
import { copyDemoContent } from '../helpers/content.js';
import { upload, waitForResult } from '../helpers/submit.js';
import { importBundle } from '../../src/plugins/assignments/store.js';
import { listEnvironments } from '../../src/plugins/environments/store.js';

/**
 * Real builds (mmdebstrap from the host's Debian sources, pip from a wheel the bundle ships):
 * each costs about a minute, so this file builds one environment, shared by two assignments,
 * and one that fails.
 */
const ENV_YAML = 'environment:\n  debian: [python3-pytest, python3-numpy]\n  python: [lecternhello]\n';

function assignmentYaml(title: string, extra: string): string {
  return `title: ${title}
opens: 2026-09-01T08:00:00+02:00
deadline: 2027-06-15T23:59:00+02:00
files: [mean.py]
test:
  command: [/bin/sh, tests/run.sh]
  limits:
    wall: 120s
${extra}`;
}

// pytest and numpy from the environment's Debian packages, lecternhello from the bundle's wheel.
const RUN_SH = `python3 -m pytest -q -p no:cacheprovider tests/test_mean.py > pytest.txt 2>&1
code=$?
python3 - "$code" <<'PY'
import json, sys
out = open("pytest.txt").read()
ok = sys.argv[1] == "0"
json.dump({"tests": [{"name": "pytest", "score": 1 if ok else 0, "max_score": 1, "output": out[-2000:]}]}, open("results.json", "w"))
PY
`;
const TEST_PY = `import numpy
import lecternhello
from mean import mean

def test_mean():
    assert mean([1, 2, 3, 6]) == numpy.mean([1, 2, 3, 6])

def test_wheel():
    assert lecternhello.hello() == "hello"
`;

async function writeWheel(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const info = 'lecternhello-1.0.dist-info';
  await makeZip(path.join(dir, 'lecternhello-1.0-py3-none-any.whl'), [
    { name: 'lecternhello/__init__.py', data: 'def hello():\n    return "hello"\n' },
    { name: `${info}/METADATA`, data: 'Metadata-Version: 2.1\nName: lecternhello\nVersion: 1.0\n' },
    { name: `${info}/WHEEL`, data: 'Wheel-Version: 1.0\nGenerator: lectern-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n' },
    { name: `${info}/RECORD`, data: `lecternhello/__init__.py,,\n${info}/METADATA,,\n${info}/WHEEL,,\n${info}/RECORD,,\n` },
  ]);
}

let wheel: string | undefined;

async function writeAssignment(content: string, slug: string, extra: string): Promise<string> {
  const dir = path.join(content, 'assignments', slug);
  mkdirSync(path.join(dir, 'tests'), { recursive: true });
  writeFileSync(path.join(dir, 'assignment.yaml'), assignmentYaml(slug, extra));
  writeFileSync(path.join(dir, 'statement.md'), `# ${slug}\n`);
  writeFileSync(path.join(dir, 'tests', 'run.sh'), RUN_SH);
  writeFileSync(path.join(dir, 'tests', 'test_mean.py'), TEST_PY);
  // One wheel file for all: a zip records when it was written, and two assignments share a root
  // only when their wheels are the same bytes.
  wheel ??= await (async () => {
    const at = tempDir('lectern-wheel-');
    await writeWheel(at);
    return path.join(at, 'lecternhello-1.0-py3-none-any.whl');
  })();
  mkdirSync(path.join(dir, 'environment', 'wheels'), { recursive: true });
  copyFileSync(wheel, path.join(dir, 'environment', 'wheels', path.basename(wheel)));
  return dir;
}

let t: TestApp;
let student: SignedInAgent;
let lecturer: SignedInAgent;
let content: string;

beforeAll(async () => {
  content = copyDemoContent();
  await writeAssignment(content, 'env-a', ENV_YAML);
  await writeAssignment(content, 'env-b', ENV_YAML);
  await writeAssignment(content, 'env-bad', 'environment:\n  debian: [lectern-no-such-package-xyz]\n');
  // The sandbox user (bwrap drops to it when tests run as root) passes through the data dir to the roots.
  const dataDir = tempDir('lectern-env-data-');
  chmodSync(dataDir, 0o711);
  t = await createTestApp({ dataDir, config: { graders: 2, contentDir: content } });
  student = await signIn(t, { name: 'Eva Env' });
  lecturer = await signIn(t, { role: 'lecturer' });
});
afterAll(async () => {
  await t.close();
});

interface EnvJson {
  state: string;
  progress: string;
  error: string | null;
  hash: string;
  log: string;
}
const envStatus = async (slug: string) => (await lecturer.fetch(`/courses/prog1/assignments/${slug}/environment`, { headers: { accept: 'application/json' } })).json() as Promise<EnvJson>;

async function until<T>(what: string, probe: () => Promise<T | null>, ms = 600_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('per-assignment environments', () => {
  it('builds one root for two assignments naming the same set, shows progress, and grades in it', async () => {
    const a = await envStatus('env-a');
    const b = await envStatus('env-b');
    expect(a.hash).toBe(b.hash);
    // Progress is visible while the build runs (it takes about a minute).
    const building = await until('the build to report progress', async () => {
      const s = await envStatus('env-a');
      return s.state === 'building' && s.progress ? s : s.state === 'ready' || s.state === 'failed' ? s : null;
    });
    expect(building.state, JSON.stringify(building)).toBe('building');
    const page = await lecturer.get('/courses/prog1/assignments/env-a/staff');
    expect(page.text).toMatch(/Environment<\/dt><dd>(queued|building)/);

    const right = 'def mean(xs):\n    return sum(xs) / len(xs)\n';
    const ids: number[] = [];
    for (const slug of ['env-a', 'env-b']) {
      const res = await upload(student, 'prog1', slug, [{ name: 'mean.py', content: right }]);
      expect(res.status).toBe(201);
      ids.push(((await res.json()) as { id: number }).id);
    }
    for (const id of ids) {
      const s = await waitForResult(student, 'prog1', id, 600_000);
      expect(s.result, JSON.stringify(s.result)).toMatchObject({ status: 'passed', score: 1, maxScore: 1, gradable: true });
    }
    const ready = await envStatus('env-b');
    expect(ready.state).toBe('ready');
    expect(ready.log).toContain('mmdebstrap');
    // Built once: one row and one root for the two assignments.
    const rows = listEnvironments(t.app.deps.db).filter((r) => r.hash === a.hash);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.log.match(/\$ mmdebstrap/g)).toHaveLength(1);
    expect(existsSync(path.join(t.dataDir, 'environments', a.hash, 'root', 'usr'))).toBe(true);
  }, 900_000);

  it('a package Debian does not have: a clear error, nothing half-built left, submissions not counted', async () => {
    const failed = await until('the bad build to fail', async () => {
      const s = await envStatus('env-bad');
      return s.state === 'failed' ? s : null;
    });
    expect(failed.error).toBe('Debian has no package "lectern-no-such-package-xyz" (check the names under environment: debian:)');
    const dir = path.join(t.dataDir, 'environments');
    expect(readdirSync(dir).filter((n) => n.startsWith('.build-') || n === failed.hash)).toEqual([]);
    const res = await upload(student, 'prog1', 'env-bad', [{ name: 'mean.py', content: 'x = 1\n' }]);
    const s = await waitForResult(lecturer, 'prog1', ((await res.json()) as { id: number }).id);
    expect(s.result).toMatchObject({ gradable: false, score: null });
    expect(s.result!.problem).toContain('Debian has no package');
  }, 900_000);

  it('is removed once no current version uses it', async () => {
    const { hash } = await envStatus('env-a');
    for (const slug of ['env-a', 'env-b']) {
      const dir = path.join(tempDir('lectern-env-'), slug);
      mkdirSync(path.join(dir, 'tests'), { recursive: true });
      writeFileSync(path.join(dir, 'assignment.yaml'), assignmentYaml(slug, ''));
      writeFileSync(path.join(dir, 'statement.md'), `# ${slug}\n`);
      writeFileSync(path.join(dir, 'tests', 'run.sh'), 'echo \'{"score": 1, "max_score": 1}\' > results.json\n');
      const r = await importBundle(t.app.deps, { course: 'prog1', slug, dir, source: 'cli', createdBy: 'test' });
      expect(r.ok).toBe(true);
    }
    await until('the environment to be collected', async () => (listEnvironments(t.app.deps.db).some((r) => r.hash === hash) ? null : true), 60_000);
    expect(existsSync(path.join(t.dataDir, 'environments', hash))).toBe(false);
  }, 120_000);
});
