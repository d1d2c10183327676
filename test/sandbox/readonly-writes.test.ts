// System test of the write observer (native/write-observer.c, src/lib/sandbox/observer.ts): real
// bubblewrap, real Python and C programs that try to write where the sandbox's mounts are
// read-only. Each attempt is refused by the kernel as before and counted with an example path;
// honest writes are not; the observer changes nothing else about a run (exit codes, signals,
// limits, kills, the count of processes left behind).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../src/lib/logger.js';
import { createSandbox, type SandboxLimits, type SandboxRequest } from '../../src/lib/sandbox/index.js';
import { studentRunFlags, unobservedIn } from '../../src/plugins/autotest/run/tamper.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

const LIMITS: Partial<SandboxLimits> = {
  wallMs: 20_000,
  cpuSeconds: 5,
  memoryBytes: 256 * MiB,
  processes: 32,
  outputBytes: 64 * 1024,
  workDirBytes: 8 * MiB,
};

const MARKER = `lectern-ro-${randomBytes(6).toString('hex')}`;

/** One attempt per argument, each refused by the kernel; prints the errno name of each. */
const PY_ATTEMPTS = `import os, sys
# The read-only input: staged into one dir when the server is root, else bound by itself.
RO_INPUT = "/.in/stage/input.txt" if os.path.exists("/.in/stage/input.txt") else "/.in/0"
def attempt(what, f):
    try:
        f()
        print(what, "succeeded")
    except OSError as e:
        print(what, os.strerror(e.errno))
ops = {
    "write-usr": lambda: open("/usr/lib/x", "w"),
    "create-etc": lambda: open("/etc/foo", "x"),
    "unlink-usr": lambda: os.unlink("/usr/bin/env"),
    "chmod-usr": lambda: os.chmod("/usr/bin/python3", 0o777),
    "rename-into-usr": lambda: (open("/work/mine", "w").close(), os.rename("/work/mine", "/usr/mine")),
    "write-input": lambda: open(RO_INPUT, "a"),
}
for name in sys.argv[1:]:
    attempt(name, ops[name])
`;

const C_ATTEMPTS = `#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
static void show(const char *what, int r) { printf("%s %s\\n", what, r < 0 ? strerror(errno) : "succeeded"); }
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *op = argv[i];
    if (!strcmp(op, "write-usr")) show(op, open("/usr/lib/x", O_WRONLY | O_CREAT, 0644));
    else if (!strcmp(op, "create-etc")) show(op, openat(AT_FDCWD, "../etc/foo", O_CREAT | O_EXCL | O_WRONLY, 0644));
    else if (!strcmp(op, "unlink-usr")) show(op, unlinkat(AT_FDCWD, "/usr/bin/env", 0));
    else if (!strcmp(op, "chmod-usr")) show(op, chmod("/usr/bin/python3", 0777));
    else if (!strcmp(op, "rename-into-usr")) { close(open("mine", O_CREAT | O_WRONLY, 0644)); show(op, rename("mine", "/usr/mine")); }
    else if (!strcmp(op, "write-input")) {
      int staged = access("/.in/stage/input.txt", F_OK) == 0;
      int d = open(staged ? "/.in/stage" : "/.in", O_RDONLY | O_DIRECTORY);
      show(op, openat(d, staged ? "input.txt" : "0", O_WRONLY | O_APPEND));
    }
  }
  return 0;
}
`;

const C_PROGRAMS: Record<string, string> = {
  attempts: C_ATTEMPTS,
  // Hides its memory from the observer, then writes to /usr.
  nodump:
    '#include <fcntl.h>\n#include <stdio.h>\n#include <sys/prctl.h>\n' +
    'int main(void) { prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); int r = open("/usr/lib/hidden", O_WRONLY | O_CREAT, 0644); printf("%d\\n", r); return 0; }\n',
  segv: 'int main(void) { volatile int *p = 0; return *p; }\n',
  forkbomb: '#include <unistd.h>\nint main(void) { for (;;) fork(); }\n',
  // Four processes of 40 MB each: every one is under the data limit (64 MB), the tree is over it.
  treehog:
    '#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\n' +
    'int main(void) { for (int i = 0; i < 3; i++) if (fork() == 0) break; volatile char *p = malloc(40 << 20); for (int i = 0; p && i < (40 << 20); i += 4096) p[i] = 1; for (;;) pause(); }\n',
  // Kills the observer (its parent), then writes to /usr.
  killparent:
    '#include <fcntl.h>\n#include <signal.h>\n#include <stdio.h>\n#include <unistd.h>\n' +
    'int main(void) { kill(getppid(), SIGKILL); usleep(200000); int r = open("/usr/lib/after", O_WRONLY | O_CREAT, 0644); printf("%d\\n", r); return 0; }\n',
};

let tmp: string;
let bins: string;
let inputFile: string;
const { log } = memoryLogger('warn');
const sandbox = createSandbox({ unsafe: false, log, defaults: LIMITS });

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'lectern-ro-test-'));
  bins = path.join(tmp, 'bins');
  mkdirSync(bins);
  await Promise.all(
    Object.entries(C_PROGRAMS).map(async ([name, source]) => {
      writeFileSync(path.join(bins, `${name}.c`), source);
      await run('gcc', ['-O1', '-o', path.join(bins, name), path.join(bins, `${name}.c`)]);
    }),
  );
  inputFile = path.join(tmp, 'input.txt');
  writeFileSync(inputFile, 'data\n');
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function observed(request: SandboxRequest) {
  return sandbox.run({ ...request, observeWrites: true, inputs: [{ from: inputFile, to: 'input.txt' }, ...(request.inputs ?? [])] });
}

function bin(name: string): SandboxRequest['inputs'] {
  return [{ from: path.join(bins, name), to: name }];
}

/** Host processes whose command line contains `marker`. */
function processesWith(marker: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    if (Number(pid) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)) found.push(pid);
    } catch {
      // Exited meanwhile.
    }
  }
  return found;
}

const OPS: Array<[string, RegExp]> = [
  ['write-usr', /\/usr\/lib\/x/],
  ['create-etc', /etc\/foo/],
  ['unlink-usr', /\/usr\/bin\/env/],
  ['chmod-usr', /\/usr\/bin\/python3/],
  ['rename-into-usr', /\/usr\/mine/],
  ['write-input', /^(\/\.in\/0|0|\/\.in\/stage\/input\.txt|input\.txt)$/],
];

describe('writes to read-only mounts are counted, each with an example path', () => {
  it('the observer is available on this host (cc, seccomp user notification)', async () => {
    const r = await observed({ command: ['/bin/true'] });
    expect(r.readOnlyWritesUnobserved).toBeUndefined();
    expect(r.readOnlyWrites).toEqual({ count: 0, unreadable: 0, examples: [] });
    expect(sandbox.writesUnobservable?.()).toBeNull();
  });

  for (const [lang, command] of [
    ['Python', (op: string) => ({ command: ['python3', '-c', PY_ATTEMPTS, op] })],
    ['C', (op: string) => ({ command: ['./attempts', op], inputs: bin('attempts') })],
  ] as const) {
    for (const [op, example] of OPS) {
      it(`${lang}: ${op} is refused as before and flagged`, async () => {
        // The input is the first one, bound at /.in/0.
        const r = await observed(command(op));
        expect(r.status, r.message).toBe('ok');
        // A rename across mounts fails as "cross-device" before the kernel looks at the target's
        // mount: still an attempt to write into /usr, and counted as one.
        expect(r.stdout).toMatch(new RegExp(`^${op} (Read-only file system|Invalid cross-device link)\n$`));
        expect(r.readOnlyWrites?.count, JSON.stringify(r.readOnlyWrites)).toBeGreaterThanOrEqual(1);
        expect(r.readOnlyWrites!.examples.some((e) => example.test(e)), JSON.stringify(r.readOnlyWrites)).toBe(true);
        const flags = studentRunFlags(r, 'student code', new Set());
        expect(flags.map((f) => f.kind)).toContain('readonly_write');
        expect(flags.find((f) => f.kind === 'readonly_write')!.detail).toMatch(/tried to write to a read-only mount .* \d+ times?, e\.g\. /);
      });
    }
  }

  it('an honest program that writes only in /work, /tmp and to /dev/null is not flagged', async () => {
    const honest = `import json, os, subprocess, tempfile
os.makedirs("/work/out/sub", exist_ok=True)
with open("/work/out/sub/a.txt", "w") as f: f.write("x")
os.rename("/work/out/sub/a.txt", "/work/out/b.txt")
os.chmod("/work/out/b.txt", 0o600)
os.utime("/work/out/b.txt")
with tempfile.NamedTemporaryFile("w", dir="/tmp", delete=True) as f: f.write("y")
with open("/dev/null", "w") as f: f.write("z")
os.unlink("/work/out/b.txt")
subprocess.run(["sh", "-c", "echo hi > /tmp/t && touch /work/t && cat /tmp/t >/dev/null && mkdir -p /work/deep/er /tmp/z /usr/bin && ln -sf /work/deep /work/lnk && cp /work/t /work/deep/er/"], check=True)
os.makedirs("/usr/lib", exist_ok=True)
print(json.dumps("done"))
`;
    const r = await observed({ command: ['python3', '-c', honest] });
    expect(r.status, r.stderr).toBe('ok');
    expect(r.exitCode).toBe(0);
    expect(r.readOnlyWrites).toEqual({ count: 0, unreadable: 0, examples: [] });
    expect(studentRunFlags(r, 'student code', new Set())).toEqual([]);
  });

  it('a program that hides its memory (PR_SET_DUMPABLE 0) and then writes to /usr is flagged as unreadable', async () => {
    const r = await observed({ command: ['./nodump'], inputs: bin('nodump') });
    expect(r.status).toBe('ok');
    expect(r.stdout).toBe('-1\n');
    expect(r.readOnlyWrites!.unreadable).toBeGreaterThanOrEqual(1);
    expect(studentRunFlags(r, 'student code', new Set()).map((f) => f.detail).join('\n')).toMatch(/whose path the sandbox could not read/);
  });

  it('a program that kills the observer is flagged, and its write still fails', async () => {
    const r = await observed({ command: ['./killparent'], inputs: bin('killparent') });
    // The command seen by the wrapper is the observer, which was killed: the run reads as a SIGKILL.
    expect(r.observerStopped).toBe(true);
    expect(studentRunFlags(r, 'student code', new Set()).map((f) => f.detail).join('\n')).toMatch(/write observer was killed/);
  });

  it('a write counted before the wall clock kills the run is still reported', async () => {
    const r = await sandbox.run({
      command: ['python3', '-c', 'import time\ntry: open("/usr/lib/x", "w")\nexcept OSError: pass\nprint("ready", flush=True)\ntime.sleep(100)', MARKER],
      observeWrites: true,
      limits: { wallMs: 3000 },
    });
    expect(r.status).toBe('timeout');
    expect(r.readOnlyWrites?.count).toBe(1);
    expect(processesWith(MARKER)).toEqual([]);
  });
});

describe('the observer changes nothing else about a run', () => {
  it('exit codes pass through', async () => {
    const r = await observed({ command: ['sh', '-c', 'echo out; echo err >&2; exit 3'] });
    expect([r.status, r.exitCode, r.signal, r.stdout, r.stderr]).toEqual(['ok', 3, null, 'out\n', 'err\n']);
  });

  it('stdin reaches the command untouched', async () => {
    const r = await observed({ command: ['cat'], stdin: 'line one\nline two\n' });
    expect(r.stdout).toBe('line one\nline two\n');
  });

  it('a death by SIGSEGV passes through as a crash', async () => {
    const r = await observed({ command: ['./segv'], inputs: bin('segv') });
    expect([r.status, r.signal]).toEqual(['crashed', 'SIGSEGV']);
  });

  it('a process tree over the memory limit is killed (SIGKILL), as without the observer', async () => {
    const r = await observed({ command: ['./treehog', MARKER], inputs: bin('treehog'), limits: { memoryBytes: 64 * MiB } });
    expect(r.status).toBe('memory');
    expect(r.signal).toBe('SIGKILL');
    expect(processesWith(MARKER)).toEqual([]);
  });

  it('the CPU limit still applies and the CPU time is still counted', async () => {
    const r = await observed({ command: ['python3', '-c', 'while True: pass'], limits: { cpuSeconds: 1 } });
    expect(r.status).toBe('timeout');
    expect(r.signal).toMatch(/SIGXCPU|SIGKILL/);
    // The kernel's figure for the limit and bash's `times` differ by ticks on a loaded machine.
    expect(r.cpuMs).toBeGreaterThanOrEqual(500);
  });

  it('a fork bomb is stopped by the process limit and the clock, and nothing remains', async () => {
    const r = await observed({ command: ['./forkbomb', MARKER], inputs: bin('forkbomb'), limits: { wallMs: 3000, processes: 16 } });
    expect(r.status).toBe('timeout');
    expect(processesWith(MARKER)).toEqual([]);
  });

  it('the process limit leaves the student as many processes as without the observer', async () => {
    const forks = `import os, signal, time
kids = []
for i in range(20):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    kids.append(pid)
print(len(kids))
for k in kids:
    os.kill(k, signal.SIGKILL)
    os.waitpid(k, 0)
`;
    const plain = await sandbox.run({ command: ['python3', '-c', forks], limits: { processes: 6 } });
    const seen = await observed({ command: ['python3', '-c', forks], limits: { processes: 6 } });
    expect(plain.status, plain.stderr).toBe('ok');
    expect(Number(plain.stdout)).toBeGreaterThan(0);
    expect(Number(plain.stdout)).toBeLessThan(20);
    expect(seen.stdout).toBe(plain.stdout);
  });

  it('a detached child is counted as left behind and killed; the observer is not counted', async () => {
    // The child says it is running (and in its own session) before the command exits.
    const detach = `import os, time
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    os.write(w, b"x")
    time.sleep(1000)
os.close(w)
os.read(r, 1)
`;
    const r = await observed({ command: ['python3', '-c', detach, MARKER] });
    expect([r.status, r.exitCode]).toEqual(['ok', 0]);
    expect(r.leftProcesses).toBe(1);
    expect(processesWith(MARKER)).toEqual([]);
  });

  it('a run that does not ask for it is not observed', async () => {
    const r = await sandbox.run({ command: ['python3', '-c', 'open("/usr/lib/x", "w")'] });
    expect(r.readOnlyWrites).toBeUndefined();
  });
});

describe('where the host cannot observe', () => {
  it('without a C compiler, runs work as before and staff are told why', async () => {
    // Reachable by the sandbox user (nobody, when the tests run as root).
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lectern-ro-nocc-'));
    chmodSync(dir, 0o755);
    const blind = createSandbox({ unsafe: false, log, tmpDir: dir, defaults: LIMITS });
    const saved = process.env.PATH;
    process.env.PATH = path.join(dir, 'empty');
    let r;
    try {
      r = await blind.run({ command: ['/bin/sh', '-c', 'echo hi; exit 4'], observeWrites: true });
    } finally {
      process.env.PATH = saved;
    }
    expect([r.status, r.exitCode, r.stdout]).toEqual(['ok', 4, 'hi\n']);
    expect(r.readOnlyWrites).toBeNull();
    expect(r.readOnlyWritesUnobserved).toMatch(/no C compiler/);
    expect(unobservedIn(blind)).toEqual([expect.stringMatching(/^writes to read-only mounts: not observable here \(no C compiler/)]);
    rmSync(dir, { recursive: true, force: true });
  });
});
