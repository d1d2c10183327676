import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureVariant } from '../../src/plugins/assignments/variants.js';
import { renderText } from '../../src/plugins/assignments/render.js';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { copyDemoContent, writeShellAssignment } from '../helpers/content.js';
import { memoryLogger } from '../../src/lib/logger.js';
import { createSandbox } from '../../src/lib/sandbox/index.js';
import { ROOT, createTestApp, type TestApp } from '../helpers/index.js';
import { upload, waitForResult, type StatusJson } from '../helpers/submit.js';

/**
 * Grading students cannot fool (issue 13): every forgery a hostile submission can try against
 * the two demos (caesar: declarative I/O cases; stats: harness + run_student) and a declarative
 * Python assignment scores at most what the honest wrong submission scores, is flagged to staff
 * where the sandbox can see it, and no hidden test text reaches anything the student can fetch.
 * Real sandbox, real HTTP, upload -> queue -> result.
 */

const solution = (name: string) => readFileSync(path.join(ROOT, 'examples/solutions', name), 'utf8');

/** Text only the bundles' hidden parts hold: none of it may reach a student. */
const HIDDEN = ['HARNESS-SECRET-PRINT', 'encrypts 200 000 characters', 'def ref_variance', 'a list of 20 000 random numbers', 'ZEBRA-CANARY', 'secret upper case'];

function content(): string {
  const dir = copyDemoContent();
  // A declarative Python assignment: upper-case stdin. The hidden case's expected output is the canary.
  const upper = path.join(dir, 'assignments', 'upper');
  mkdirSync(upper, { recursive: true });
  writeFileSync(
    path.join(upper, 'assignment.yaml'),
    `title: Upper case
opens: 2026-09-01T08:00:00+02:00
deadline: 2026-10-15T23:59:00+02:00
files: [upper.py]
max_files: 1
test:
  run: [/usr/bin/python3, upper.py]
  limits: { wall: 40s }
  student_limits: { wall: 4s }
  cases:
    - name: shouts hello
      stdin: "hello\\n"
      expected: "HELLO\\n"
      points: 2
    - name: secret upper case
      stdin: "zebra-canary\\n"
      expected: "ZEBRA-CANARY\\n"
      points: 3
      visibility: hidden
`,
  );
  writeFileSync(path.join(upper, 'statement.md'), '# Upper case\n\nPrint standard input in upper case.\n');
  // A harness that calls run_student more often than its bundle allows.
  const many = path.join(dir, 'assignments', 'many');
  mkdirSync(path.join(many, 'tests'), { recursive: true });
  writeFileSync(
    path.join(many, 'assignment.yaml'),
    `title: Many calls
opens: 2026-09-01T08:00:00+02:00
deadline: 2026-10-15T23:59:00+02:00
files: [prog.sh]
max_files: 1
test:
  harness: [/usr/bin/python3, tests/harness.py]
  limits: { wall: 120s }
  student_limits: { wall: 2s }
  max_calls: 50
`,
  );
  writeFileSync(path.join(many, 'statement.md'), '# Many calls\n');
  writeFileSync(
    path.join(many, 'tests', 'harness.py'),
    `import time
from lectern import RunStudentError, run_student, write_results
ok = refused = timeouts = 0
started = time.monotonic()
for i in range(49):
    r = run_student(["/bin/sh", "prog.sh"], stdin="%d\\n" % i)
    ok += r.ok and r.stdout.strip() == str(i)
slow = run_student(["/bin/sh", "-c", "sleep 100"], wall=300)
timeouts += slow.status == "timeout"
for i in range(10):
    try:
        run_student(["/bin/true"])
    except RunStudentError:
        refused += 1
write_results([{"name": "calls", "score": 1 if (ok, timeouts, refused) == (49, 1, 10) else 0, "max_score": 1,
                "output": "ok=%d timeouts=%d refused=%d slow=%dms" % (ok, timeouts, refused, slow.wall_ms)}])
`,
  );
  // A harness that prints its secrets and writes a bare score: the printing is for staff only.
  const quiet = path.join(dir, 'assignments', 'quiet');
  mkdirSync(path.join(quiet, 'tests'), { recursive: true });
  writeFileSync(
    path.join(quiet, 'assignment.yaml'),
    'title: Quiet\nopens: 2026-09-01T08:00:00+02:00\ndeadline: 2026-10-15T23:59:00+02:00\nfiles: [answer.txt]\ntest:\n  harness: [/bin/sh, tests/h.sh]\n',
  );
  writeFileSync(path.join(quiet, 'statement.md'), '# Quiet\n');
  writeFileSync(path.join(quiet, 'tests', 'h.sh'), 'echo "expected answer: HARNESS-SECRET-PRINT"\necho "HARNESS-SECRET-PRINT" >&2\necho \'{"score": 1, "max_score": 2}\' > results.json\n');
  writeShellAssignment(dir, 'oldstyle', {
    title: 'Old style',
    opens: '2026-09-01T08:00:00+02:00',
    deadline: '2026-10-15T23:59:00+02:00',
    wall: '5s',
    script: 'grep -q right answer.txt\n',
  });
  // Legacy bundles whose test command runs the student's program itself, in its own sandbox.
  writeShellAssignment(dir, 'oldnet', {
    title: 'Old style, runs the program',
    opens: '2026-09-01T08:00:00+02:00',
    deadline: '2026-10-15T23:59:00+02:00',
    wall: '6s',
    script: 'python3 answer.txt > out.txt 2>/dev/null; grep -q right out.txt\n',
  });
  return dir;
}

let t: TestApp;
let student: SignedInAgent;
let tutor: SignedInAgent;

beforeAll(async () => {
  t = await createTestApp({ config: { graders: 2, contentDir: content() } });
  student = await signIn(t, { name: 'Mallory Student' });
  tutor = await signIn(t, { role: 'tutor' });
});
afterAll(async () => {
  await t.close();
});

async function personal(slug: string, source: string): Promise<string> {
  const variant = await ensureVariant(t.app.deps, { course: 'prog1', slug, user: { id: student.user.id, name: student.user.name } });
  return renderText(source, { params: variant!.params, student: { id: String(student.user.id), name: student.user.name } });
}

interface Graded {
  id: number;
  mine: StatusJson;
  staff: StatusJson;
}

async function grade(slug: string, name: string, source: string): Promise<Graded> {
  const res = await upload(student, 'prog1', slug, [{ name, content: source }]);
  expect(res.status, await res.clone().text()).toBe(201);
  const { id } = (await res.json()) as { id: number };
  const mine = await waitForResult(student, 'prog1', id, 120_000);
  const staff = await waitForResult(tutor, 'prog1', id, 120_000);
  return { id, mine, staff };
}

/** Everything the student can fetch about a submission: status JSON, the page, the event stream. */
async function studentTexts(id: number): Promise<string> {
  const status = await (await student.fetch(`/courses/prog1/submissions/${id}/status`)).text();
  const page = (await student.get(`/courses/prog1/submissions/${id}`)).text;
  const events = await (await student.fetch(`/courses/prog1/submissions/${id}/events`)).text();
  return [status, page, events].join('\n');
}

async function expectNothingHiddenShown(id: number): Promise<void> {
  const texts = await studentTexts(id);
  for (const canary of HIDDEN) expect(texts).not.toContain(canary);
  // Tamper signs are for staff: the student is never accused.
  expect(texts).not.toMatch(/tamper sign/i);
  const status = (await (await student.fetch(`/courses/prog1/submissions/${id}/status`)).json()) as StatusJson;
  expect(status.result!.tamper).toEqual([]);
}

const kinds = (g: Graded) => new Set(g.staff.result!.tamper.map((f) => f.kind));

// C: added to the honest wrong solution, run before main.
const C_FORGE_RESULTS = `
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void forge(void)
{
    FILE *f = fopen("results.json", "w");
    if (f) { fputs("{\\"score\\": 10, \\"max_score\\": 10, \\"gradable\\": true}", f); fclose(f); }
}
`;
const C_DETACHED = `
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void detach(void)
{
    if (fork() == 0) {
        setsid();
        if (fork() == 0) {
            sleep(1);
            FILE *f = fopen("results.json", "w");
            if (f) { fputs("{\\"score\\": 10, \\"max_score\\": 10}", f); fclose(f); }
            sleep(60);
        }
        _exit(0);
    }
}
`;
const C_UNGRADABLE = `
__attribute__((constructor)) static void exempt(void)
{
    FILE *f = fopen("results.json", "w");
    if (f) { fputs("{\\"score\\": 0, \\"gradable\\": false}", f); fclose(f); }
}
`;

describe('caesar (declarative I/O): forgeries score at most the honest wrong submission', () => {
  let wrongScore: number;
  beforeAll(async () => {
    const right = await grade('caesar', 'caesar.c', await personal('caesar', solution('caesar/caesar.c')));
    expect(right.mine.result).toMatchObject({ status: 'passed', gradable: true, score: 10, maxScore: 10 });
    expect(right.staff.result!.tamper).toEqual([]);
    const wrong = await grade('caesar', 'caesar.c', await personal('caesar', solution('caesar-wrong/caesar.c')));
    expect(wrong.mine.result).toMatchObject({ status: 'failed', gradable: true });
    wrongScore = wrong.mine.result!.score!;
    expect(wrongScore).toBeLessThan(10);
    expect(wrong.staff.result!.tamper).toEqual([]);
  });

  it.each([
    ['a results.json written by the program', C_FORGE_RESULTS, ['results_file']],
    ['a detached child rewriting results.json after the run', C_DETACHED, ['processes_left']],
    ['"gradable": false written by the program', C_UNGRADABLE, ['results_file']],
  ])('%s', async (_what, forge, flags) => {
    const source = (await personal('caesar', solution('caesar-wrong/caesar.c'))) + forge;
    const g = await grade('caesar', 'caesar.c', source);
    expect(g.mine.result!.gradable).toBe(true);
    expect(g.mine.result!.score!).toBeLessThanOrEqual(wrongScore);
    for (const f of flags) expect(kinds(g)).toContain(f);
    await expectNothingHiddenShown(g.id);
  });

  it('#include of a test file fails to build, and the build output names only the student file', async () => {
    const source = `#include "tests/run.py"\n#include "../tests/harness.py"\n${await personal('caesar', solution('caesar/caesar.c'))}`;
    const g = await grade('caesar', 'caesar.c', source);
    expect(g.mine.result).toMatchObject({ gradable: true, score: 0 });
    expect(g.mine.result!.output).toMatch(/build/i);
    expect(g.mine.result!.output).toContain('caesar.c');
    await expectNothingHiddenShown(g.id);
  });
});

// Python: appended to the honest wrong stats.py.
const PY_ATEXIT = `
import atexit as _atexit, json as _json
def _forge():
    with open("results.json", "w") as f:
        _json.dump({"score": 10, "max_score": 10, "tests": [{"name": "all", "score": 10, "max_score": 10}]}, f)
_atexit.register(_forge)
`;
const PY_PLANT = `
import os as _os
_os.makedirs("tests", exist_ok=True)
for _name in ("tests/harness.py", "tests/call.py", "lectern.py", "tests/run.py"):
    with open(_name, "w") as _f:
        _f.write("import json\\njson.dump({'score': 10, 'max_score': 10}, open('results.json', 'w'))\\n")
`;
const PY_DETACHED = `
import os as _os, time as _time
if _os.fork() == 0:
    _os.setsid()
    if _os.fork() == 0:
        _time.sleep(1)
        with open("results.json", "w") as _f:
            _f.write('{"score": 10, "max_score": 10}')
        _time.sleep(60)
    _os._exit(0)
`;
const PY_UNGRADABLE = `
import atexit as _atexit
def _exempt():
    with open("results.json", "w") as f:
        f.write('{"score": 0, "gradable": false}')
_atexit.register(_exempt)
`;
const PY_PEEK = `
import os as _os
_seen = []
for _p in ("tests/harness.py", "../tests/harness.py", "/work/tests/harness.py", "/lectern", "submission", "params.json", "results.json"):
    _seen.append("%s=%s" % (_p, _os.path.exists(_p)))
raise RuntimeError("peek: " + " ".join(_seen))
`;

describe('stats (harness + run_student): forgeries score at most the honest wrong submission', () => {
  let wrongScore: number;
  beforeAll(async () => {
    const right = await grade('stats', 'stats.py', solution('stats/stats.py'));
    expect(right.mine.result).toMatchObject({ status: 'passed', gradable: true, score: 10, maxScore: 10 });
    expect(right.staff.result!.tamper).toEqual([]);
    const wrong = await grade('stats', 'stats.py', solution('stats-wrong/stats.py'));
    expect(wrong.mine.result).toMatchObject({ status: 'failed', gradable: true });
    wrongScore = wrong.mine.result!.score!;
    expect(wrongScore).toBeLessThan(10);
  });

  it.each([
    ['an atexit handler rewriting results.json', PY_ATEXIT, ['results_file']],
    ['a module planted in tests/', PY_PLANT, [] as string[]],
    ['a detached child rewriting results.json after the harness', PY_DETACHED, ['processes_left']],
    ['"gradable": false written by the submission', PY_UNGRADABLE, ['results_file']],
  ])('%s', async (_what, forge, flags) => {
    const g = await grade('stats', 'stats.py', solution('stats-wrong/stats.py') + forge);
    expect(g.mine.result!.gradable).toBe(true);
    expect(g.mine.result!.score!).toBeLessThanOrEqual(wrongScore);
    for (const f of flags) expect(kinds(g)).toContain(f);
    await expectNothingHiddenShown(g.id);
  });

  it('student code sees neither tests/, the harness helpers, params.json nor a results file', async () => {
    const g = await grade('stats', 'stats.py', solution('stats-wrong/stats.py') + PY_PEEK);
    const shown = g.mine.result!.tests.map((x) => x.output).join('\n');
    expect(shown).toContain('peek:');
    expect(shown).not.toMatch(/=True/);
    expect(g.mine.result!.score).toBeLessThanOrEqual(wrongScore);
    await expectNothingHiddenShown(g.id);
  });
});

/** stats.py bodies that compute with the statistics module while hiding it from any check in the student's process. */
const STATS_VIA = (get: string) => `${get}
def mean(xs): return _s.mean(xs)
def median(xs): return _s.median(xs)
def mode(xs): return min(_s.multimode(xs))
def variance(xs): return _s.variance(xs) if len(xs) > 1 else 0.0
def stdev(xs): return _s.stdev(xs) if len(xs) > 1 else 0.0
`;
const HIDDEN_IMPORT = STATS_VIA(`import sys
_s = __import__("statis" + "tics")
sys.modules.pop("statis" + "tics", None)`);
const EXEC_SOURCE = STATS_VIA(`import importlib.util as _u, types as _t
_s = _t.ModuleType("_s")
_src = _u.find_spec("statis" + "tics").origin
exec(compile(open(_src).read(), _src, "exec"), _s.__dict__)`);
const LOAD_BYTECODE = STATS_VIA(`import importlib.util as _u, importlib.machinery as _m, sys
_pyc = _u.cache_from_source(_u.find_spec("statis" + "tics").origin)
_s = _m.SourcelessFileLoader("_s", _pyc).load_module()
sys.modules.pop("_s", None)`);
const FORGED_REPORT = STATS_VIA(`import json
_s = __import__("statis" + "tics")
_dumps = json.dumps
# The driver's report, rewritten on its way out: "statistics was never imported".
json.dumps = lambda o, *a, **k: _dumps({**o, "uses_statistics": False} if isinstance(o, dict) else o, *a, **k)`);

describe('stats: "does not use the statistics module" cannot be evaded', () => {
  it.each([
    ['an import the source check cannot see, dropped from sys.modules', HIDDEN_IMPORT],
    ['the module\'s source read and run with exec', EXEC_SOURCE],
    ['the module\'s cached bytecode loaded directly', LOAD_BYTECODE],
    ['the driver\'s report rewritten from inside', FORGED_REPORT],
  ])('%s: scores nothing', async (_what, source) => {
    const g = await grade('stats', 'stats.py', source);
    expect(g.mine.result!.gradable).toBe(true);
    expect(g.mine.result!.score).toBe(0);
    const avoid = g.mine.result!.tests.find((x) => x.name === 'does not use the statistics module');
    expect(avoid).toMatchObject({ score: 0 });
  });

  it('the honest solution still gets full marks with the module hidden', async () => {
    const g = await grade('stats', 'stats.py', solution('stats/stats.py'));
    expect(g.mine.result).toMatchObject({ score: 10, maxScore: 10 });
  });
});

describe('a declarative Python assignment', () => {
  it('judges outside the sandbox: right, wrong, and every forgery', async () => {
    const right = await grade('upper', 'upper.py', 'import sys\nsys.stdout.write(sys.stdin.read().upper())\n');
    expect(right.mine.result).toMatchObject({ status: 'passed', score: 5, maxScore: 5 });
    const wrong = await grade('upper', 'upper.py', 'import sys\nsys.stdout.write(sys.stdin.read())\n');
    expect(wrong.mine.result).toMatchObject({ status: 'failed', score: 0 });
    await expectNothingHiddenShown(wrong.id);
    const honest = 'import sys\nsys.stdout.write(sys.stdin.read())\n';
    let flagged = 0;
    for (const [forge, flag] of [
      [PY_ATEXIT, 'results_file'],
      [PY_DETACHED, 'processes_left'],
      [PY_UNGRADABLE, 'results_file'],
      [PY_PLANT, null],
    ] as const) {
      const g = await grade('upper', 'upper.py', forge + honest);
      expect(g.mine.result!.gradable).toBe(true);
      expect(g.mine.result!.score).toBe(0);
      if (flag) expect(kinds(g)).toContain(flag);
      if (flag) flagged = g.id;
      await expectNothingHiddenShown(g.id);
    }
    // Staff see the hidden case; the dashboard lists the flagged runs.
    expect(wrong.staff.result!.tests.map((x) => x.name)).toContain('secret upper case');
    const dash = await tutor.get('/courses/prog1/dashboard');
    expect(dash.text).toContain('tamper signs');
    const page = await tutor.get(`/courses/prog1/submissions/${flagged}`);
    expect(page.text).toContain('For staff: tamper signs');
  });

  it('flags an attempt to reach the network (by address and by name) for staff, without changing the score', async () => {
    const reach = `import socket
for target in (("1.1.1.1", 80), ("example.org", 443), ("2606:4700::1111", 80)):
    try:
        socket.create_connection(target, timeout=2).close()
    except OSError:
        pass
`;
    const g = await grade('upper', 'upper.py', `${reach}import sys\nsys.stdout.write(sys.stdin.read().upper())\n`);
    expect(g.mine.result).toMatchObject({ status: 'passed', score: 5 });
    const network = g.staff.result!.tamper.filter((f) => f.kind === 'network');
    expect(network.length).toBeGreaterThan(0);
    expect(network[0]!.detail).toMatch(/tried to reach the network \d+ times? \(refused/);
    await expectNothingHiddenShown(g.id);
    // An honest run that touches no network is not flagged.
    const honest = await grade('upper', 'upper.py', 'import socket, sys\nsocket.gethostname()\nsys.stdout.write(sys.stdin.read().upper())\n');
    expect(honest.staff.result!.tamper).toEqual([]);
  });
});

/** Python that tries 10.1.2.3:80 by address and a name through the sandbox's resolver. */
const REACH_OUT = `import socket
try:
    socket.create_connection(("10.1.2.3", 80), timeout=1).close()
except OSError:
    pass
try:
    socket.getaddrinfo("example.com", 80)
except OSError:
    pass
`;

describe('network attempts are flagged however the run ends', () => {
  const networkFlags = (g: Graded) => g.staff.result!.tamper.filter((f) => f.kind === 'network');

  it('a student run that tries the network and then loops until killed: the limit\'s verdict, the score of any wrong answer, and the flag', async () => {
    const g = await grade('upper', 'upper.py', `${REACH_OUT}while True:\n    pass\n`);
    expect(g.mine.result).toMatchObject({ gradable: true, score: 0 });
    expect(g.staff.result!.tests.every((x) => x.status === 'failed')).toBe(true);
    expect(networkFlags(g).length).toBeGreaterThan(0);
    await expectNothingHiddenShown(g.id);
  });

  it('a legacy bundle whose test command runs the student\'s program: flagged, the score unchanged', async () => {
    const right = await grade('oldnet', 'answer.txt', `${REACH_OUT}print("right")\n`);
    expect(right.mine.result).toMatchObject({ status: 'passed', score: 1 });
    expect(networkFlags(right).length).toBeGreaterThan(0);
    const honest = await grade('oldnet', 'answer.txt', 'print("right")\n');
    expect(honest.mine.result).toMatchObject({ status: 'passed', score: 1 });
    expect(networkFlags(honest)).toEqual([]);
  });

  it('a legacy run killed by the wall clock after trying the network is still flagged', async () => {
    const g = await grade('oldnet', 'answer.txt', `${REACH_OUT}import time\nwhile True:\n    time.sleep(1)\n`);
    expect(g.staff.result!.status).toBe('timeout');
    expect(networkFlags(g).length).toBeGreaterThan(0);
  });
});

describe('unsafe mode (no namespaces)', () => {
  it('says to staff that network attempts are not observable, and flags nothing it cannot see', async () => {
    const unsafeApp = await createTestApp({
      config: { graders: 1, contentDir: content() },
      sandbox: createSandbox({ unsafe: true, log: memoryLogger('warn').log, bwrapPath: '/nonexistent/bwrap' }),
    });
    try {
      const mallory = await signIn(unsafeApp, { name: 'Unsafe Student' });
      const staff = await signIn(unsafeApp, { role: 'tutor' });
      const res = await upload(mallory, 'prog1', 'oldnet', [{ name: 'answer.txt', content: 'print("right")\n' }]);
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as { id: number };
      const mine = await waitForResult(mallory, 'prog1', id, 120_000);
      const seen = await waitForResult(staff, 'prog1', id, 120_000);
      expect(mine.result).toMatchObject({ status: 'passed', score: 1 });
      expect(seen.result!.tamper.filter((f) => f.kind === 'network')).toEqual([]);
      const page = await staff.get(`/courses/prog1/submissions/${id}`);
      expect(page.text).toContain('network attempts not observable in unsafe mode');
      expect((await mallory.get(`/courses/prog1/submissions/${id}`)).text).not.toContain('not observable');
    } finally {
      await unsafeApp.close();
    }
  });
});

describe('run_student bounds', () => {
  it('a harness calling run_student 60 times gets 50 calls, the rest refused, each within the student limits', async () => {
    const g = await grade('many', 'prog.sh', 'read n; echo "$n"\n');
    expect(g.staff.result!.problem).toBeNull();
    expect(g.staff.result!.tests[0]!.output).toMatch(/^ok=49 timeouts=1 refused=10 slow=\d+ms$/);
    const slow = Number(/slow=(\d+)ms/.exec(g.staff.result!.tests[0]!.output)![1]);
    expect(slow).toBeLessThan(30_000);
    expect(g.mine.result).toMatchObject({ score: 1, maxScore: 1 });
  });
});

describe('the harness\'s own output', () => {
  it('reaches staff only when the run could not grade, never the student', async () => {
    const g = await grade('quiet', 'answer.txt', 'anything');
    expect(g.mine.result).toMatchObject({ gradable: true, score: 1, maxScore: 2 });
    await expectNothingHiddenShown(g.id);
  });
});

describe('legacy bundles', () => {
  it('still run, are marked on their staff page, and a results file cannot exempt them from grading', async () => {
    const ok = await grade('oldstyle', 'answer.txt', 'right');
    expect(ok.mine.result).toMatchObject({ status: 'passed', score: 1 });
    const lecturer = await signIn(t, { role: 'lecturer' });
    const page = await lecturer.get('/courses/prog1/assignments/oldstyle/staff');
    expect(page.text).toContain('legacy: student code shares the test sandbox');
    const demo = await lecturer.get('/courses/prog1/assignments/stats/staff');
    expect(demo.text).not.toContain('legacy: student code shares the test sandbox');
  });
});
