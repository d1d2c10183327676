import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentOrPending, currentVersion, getVersionByNumber } from '../../src/plugins/assignments/store.js';
import { getSelfCheck, type SelfCheck } from '../../src/plugins/autotest/self-check-store.js';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { makeZip, type ArchiveEntry } from '../helpers/archives.js';
import { copyDemoContent } from '../helpers/content.js';
import { createTestApp, tempDir, type TestApp } from '../helpers/index.js';
import { makeImage } from '../helpers/oci-image.js';

/**
 * The self-check of a version that names an environment runs where its real jobs run: in the
 * built root (an image archive here, built in seconds), with the bundle's env: variables, after
 * waiting for the build in the background. A version whose environment cannot be built fails its
 * check with the build's message and is never made current.
 */

const YAML_HEAD = `title: Imaged
opens: 2026-09-01T08:00:00+02:00
deadline: 2027-06-15T23:59:00+02:00
files: [answer.txt]
max_files: 1
`;

/** A bundle of the assignment `imaged`: its reference answer is 42; `environment` is YAML under environment:, or none. */
function bundle(dir: string, environment: string | null, check: string): string {
  const a = path.join(dir, 'imaged');
  mkdirSync(path.join(a, 'tests'), { recursive: true });
  mkdirSync(path.join(a, 'solution'), { recursive: true });
  writeFileSync(
    path.join(a, 'assignment.yaml'),
    `${YAML_HEAD}${environment ? `environment:\n${environment}` : ''}env:
  EXPECTED: 42
test:
  command: [/bin/sh, tests/run.sh]
  limits: { wall: 60s }
`,
  );
  writeFileSync(path.join(a, 'statement.md'), '# Imaged\n\nAnswer 42.\n');
  writeFileSync(path.join(a, 'tests', 'run.sh'), `${check}[ "$(cat answer.txt)" = "$EXPECTED" ]\n`);
  writeFileSync(path.join(a, 'solution', 'answer.txt'), '42\n');
  return a;
}

function filesOf(dir: string, prefix = ''): ArchiveEntry[] {
  const out: ArchiveEntry[] = [];
  for (const name of readdirSync(dir).sort()) {
    const abs = path.join(dir, name);
    const st = statSync(abs);
    if (st.isDirectory()) out.push(...filesOf(abs, `${prefix}${name}/`));
    else out.push({ name: `${prefix}${name}`, data: readFileSync(abs), mode: st.mode & 0o111 ? 0o100755 : 0o100644 });
  }
  return out;
}

async function uploadBundle(agent: SignedInAgent, dir: string): Promise<Response> {
  const zip = path.join(tempDir('lectern-imaged-zip-'), 'imaged.zip');
  await makeZip(zip, filesOf(dir, 'imaged/'));
  const form = new FormData();
  form.append('bundle', new Blob([readFileSync(zip)]), 'imaged.zip');
  return agent.fetch(`/courses/prog1/assignments/imaged/upload?_csrf=${encodeURIComponent(agent.csrf)}`, { method: 'POST', body: form });
}

let t: TestApp;
let lecturer: SignedInAgent;
let image: string;

beforeAll(async () => {
  image = await makeImage(tempDir('lectern-selfcheck-oci-'));
  const content = copyDemoContent();
  // Only this test's assignment: the demo assignments' own self-checks would queue before it.
  for (const demo of ['caesar', 'stats']) rmSync(path.join(content, 'assignments', demo), { recursive: true, force: true });
  // Version 1 runs on the host's /usr: no marker file needed.
  bundle(path.join(content, 'assignments'), null, '');
  // The sandbox user (bwrap drops to it when tests run as root) passes through the data dir to the roots.
  const dataDir = tempDir('lectern-selfcheck-env-data-');
  chmodSync(dataDir, 0o711);
  t = await createTestApp({ dataDir, config: { graders: 1, selfCheck: true, contentDir: content } });
  lecturer = await signIn(t, { role: 'lecturer' });
});
afterAll(async () => {
  await t.close();
});

async function checked(versionId: number, each?: () => void): Promise<SelfCheck> {
  const until = Date.now() + 840_000;
  for (;;) {
    each?.();
    const c = getSelfCheck(t.app.deps.db, versionId);
    if (c && c.state !== 'running') return c;
    if (Date.now() > until) throw new Error(`no self-check of version ${versionId}: ${JSON.stringify(c)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const currentId = () => currentVersion(t.app.deps.db, 'prog1', 'imaged')!.version.id;

describe('the self-check of a version with an environment', () => {
  it('waits for the build and runs in its root: a solution that passes only there makes the version current', async () => {
    // The first version waits for its check too (the assignment is not open until then).
    const v1 = currentOrPending(t.app.deps.db, 'prog1', 'imaged')!.version;
    expect(await checked(v1.id)).toMatchObject({ state: 'done', warning: false });
    expect(currentId()).toBe(v1.id);
    // The marker exists only in the image: on the host's /usr this reference would fail.
    expect(existsSync('/etc/lectern-image')).toBe(false);
    const dir = bundle(tempDir('lectern-imaged-v2-'), '  oci: environment/image.tar\n', '[ -f /etc/lectern-image ] || exit 1\n');
    mkdirSync(path.join(dir, 'environment'));
    copyFileSync(image, path.join(dir, 'environment', 'image.tar'));
    const r = await uploadBundle(lecturer, dir);
    expect(r.status).toBe(302);
    expect(r.headers.get('location')).toBe('/courses/prog1/assignments/imaged/staff?done=held&v=2');
    const v2 = getVersionByNumber(t.app.deps.db, v1.assignmentId, 2)!;
    const seen = new Set<number>();
    const c = await checked(v2.id, () => seen.add(currentId()));
    expect(c.entries.find((e) => e.kind === 'reference'), JSON.stringify(c)).toMatchObject({ ok: true, score: 1, maxScore: 1, gradable: true });
    expect(c.entries.filter((e) => e.kind === 'hostile').length).toBeGreaterThan(0);
    expect(c).toMatchObject({ state: 'done', warning: false, message: null });
    // Held until the check passed, then current.
    expect(seen.has(v1.id)).toBe(true);
    expect(currentId()).toBe(v2.id);
    const env = (await (await lecturer.fetch('/courses/prog1/assignments/imaged/environment', { headers: { accept: 'application/json' } })).json()) as { state: string; log: string };
    expect(env.state).toBe('ready');
    expect(env.log).toContain('$ umoci unpack');
  }, 900_000);

  it('fails with the build\'s message when the environment cannot be built, and the version stays held', async () => {
    const v2 = currentVersion(t.app.deps.db, 'prog1', 'imaged')!.version;
    const dir = bundle(tempDir('lectern-imaged-v3-'), '  debian: [lectern-no-such-package]\n', '');
    const r = await uploadBundle(lecturer, dir);
    expect(r.status).toBe(302);
    expect(r.headers.get('location')).toBe(`/courses/prog1/assignments/imaged/staff?done=held&v=${v2.number + 1}`);
    const v3 = getVersionByNumber(t.app.deps.db, v2.assignmentId, v2.number + 1)!;
    const seen = new Set<number>();
    const c = await checked(v3.id, () => seen.add(currentId()));
    expect(c).toMatchObject({ state: 'done', warning: true, entries: [], heldBackFor: v2.number });
    expect(c.message).toContain('could not be built');
    expect(c.message).toContain('Debian has no package "lectern-no-such-package"');
    expect([...seen]).toEqual([v2.id]);
    expect(currentId()).toBe(v2.id);
    const staff = await lecturer.get('/courses/prog1/assignments/imaged/staff');
    expect(staff.text).toContain('(waiting: self-check failed)');
    expect(staff.text).toContain('Debian has no package &quot;lectern-no-such-package&quot;');
    expect(staff.text).toContain('It was never made current');
  }, 900_000);
});
