// System test of lib/sandbox: real bubblewrap, real hostile programs (shell, C compiled here with
// the system gcc, Python), a real HTTP server in this process that must keep answering.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../src/lib/logger.js';
import { createSandbox, findBwrap, sandboxAvailable, type SandboxLimits, type SandboxRequest, type SandboxResult } from '../../src/lib/sandbox/index.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** Small limits for hostile programs: everything must end within a couple of seconds. */
const HOSTILE: Partial<SandboxLimits> = {
  wallMs: 2000,
  cpuSeconds: 1,
  memoryBytes: 256 * MiB,
  processes: 32,
  outputBytes: 64 * 1024,
  workDirBytes: 8 * MiB,
  fileSizeBytes: 16 * MiB,
};

const MARKER = `lectern-sbx-${randomBytes(6).toString('hex')}`;
const SECRET = `secret-${randomBytes(8).toString('hex')}`;

const C_PROGRAMS: Record<string, string> = {
  forkbomb: '#include <unistd.h>\nint main(void) { for (;;) fork(); }\n',
  threadbomb:
    '#include <pthread.h>\n#include <unistd.h>\n' +
    'static void *idle(void *a) { (void)a; for (;;) pause(); return 0; }\n' +
    'int main(void) { pthread_t t; for (;;) pthread_create(&t, 0, idle, 0); }\n',
  memhog:
    '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n' +
    'int main(void) { for (;;) { char *p = malloc(1 << 20); if (!p) { perror("malloc"); return 1; } memset(p, 1, 1 << 20); } }\n',
  spin: 'int main(void) { volatile unsigned long i = 0; for (;;) i++; }\n',
};

let tmp: string;
let bins: string;
let server: http.Server;
let serverUrl: string;
let serverPort: number;
let requests = 0;
const { log } = memoryLogger('warn');
const sandbox = createSandbox({ unsafe: false, log, defaults: HOSTILE });

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'lectern-sandbox-test-'));
  bins = path.join(tmp, 'bins');
  mkdirSync(bins);
  await Promise.all(
    Object.entries(C_PROGRAMS).map(async ([name, source]) => {
      writeFileSync(path.join(bins, `${name}.c`), source);
      await run('gcc', ['-O1', '-pthread', '-o', path.join(bins, name), path.join(bins, `${name}.c`)]);
    }),
  );
  server = http.createServer((_req, res) => {
    requests++;
    res.end('pong');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  serverPort = (server.address() as AddressInfo).port;
  serverUrl = `http://127.0.0.1:${serverPort}/`;
  process.env.LECTERN_SANDBOX_TEST_SECRET = SECRET;
});

afterAll(async () => {
  delete process.env.LECTERN_SANDBOX_TEST_SECRET;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(tmp, { recursive: true, force: true });
});

/** Host processes whose command line contains `marker` (other than this test process). */
function processesWith(marker: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.includes(marker)) found.push(`${pid}: ${cmdline.replace(/\0/g, ' ')}`);
    } catch {
      // Exited meanwhile.
    }
  }
  return found;
}

/**
 * Runs a job and, half a second in, asks the HTTP server in this process for a page: the answer
 * must arrive while the job is still running.
 */
async function runWhileServing(request: SandboxRequest): Promise<{ result: SandboxResult; answeredDuringRun: boolean }> {
  let done = false;
  const job = sandbox.run(request).finally(() => {
    done = true;
  });
  await new Promise((r) => setTimeout(r, 500));
  const before = requests;
  const body = await (await fetch(serverUrl)).text();
  const answeredDuringRun = !done && body === 'pong' && requests === before + 1;
  return { result: await job, answeredDuringRun };
}

function bin(name: string): SandboxRequest['inputs'] {
  return [{ from: path.join(bins, name), to: name }];
}

describe('sandbox on this host', () => {
  it('finds bubblewrap and uses it', () => {
    expect(findBwrap(), 'bubblewrap must be installed for these tests: apt-get install bubblewrap').toMatch(/bwrap$/);
    expect(sandboxAvailable()).toBe(true);
    expect(sandbox.unsafe).toBe(false);
    expect(sandbox.describe()).toMatch(/bubblewrap/);
  });
});

describe('hostile programs are contained', () => {
  it('fork bomb: stopped by the process limit and the clock, the server keeps answering, nothing remains', async () => {
    const { result, answeredDuringRun } = await runWhileServing({ command: ['./forkbomb', MARKER], inputs: bin('forkbomb') });
    expect(result.status).toBe('timeout');
    expect(answeredDuringRun).toBe(true);
    expect(processesWith(MARKER)).toEqual([]);
  });

  it('thread bomb: threads count against the process limit', async () => {
    const result = await sandbox.run({ command: ['./threadbomb', MARKER], inputs: bin('threadbomb') });
    expect(result.status).toBe('timeout');
    expect(processesWith(MARKER)).toEqual([]);
  });

  it('memory hog in C: the allocation fails at the memory limit', async () => {
    const result = await sandbox.run({ command: ['./memhog'], inputs: bin('memhog') });
    expect(result.status).toBe('memory');
    expect(result.stderr).toMatch(/Cannot allocate memory/);
  });

  it('memory hog in Python', async () => {
    const result = await sandbox.run({ command: ['python3', '-c', 'a = []\nwhile True: a.append(bytearray(10**7))'] });
    expect(result.status).toBe('memory');
    expect(result.stderr).toMatch(/MemoryError/);
  });

  it('CPU spin: killed at the CPU limit while the server keeps answering', async () => {
    // The wall clock is generous here so that the CPU limit, not the clock, ends it on a busy machine.
    const { result, answeredDuringRun } = await runWhileServing({ command: ['./spin'], inputs: bin('spin'), limits: { wallMs: 15_000 } });
    expect(result.status).toBe('timeout');
    expect(result.signal).toBe('SIGXCPU');
    expect(result.cpuMs).toBeGreaterThan(500);
    expect(answeredDuringRun).toBe(true);
  });

  it('a program that ignores SIGXCPU is killed at the hard CPU limit', async () => {
    const result = await sandbox.run({
      command: ['python3', '-c', 'import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True: pass'],
      limits: { wallMs: 20_000 },
    });
    expect(result).toMatchObject({ status: 'timeout', signal: 'SIGKILL' });
  });

  it('sleep forever: killed by the wall clock', async () => {
    const result = await sandbox.run({ command: ['bash', '-c', `exec -a ${MARKER} sleep 1000`] });
    expect(result.status).toBe('timeout');
    expect(result.wallMs).toBeGreaterThanOrEqual(2000);
    expect(processesWith(MARKER)).toEqual([]);
  });

  it('1 GB to stdout: killed at the output cap, output kept up to the cap', async () => {
    const result = await sandbox.run({ command: ['head', '-c', '1000000000', '/dev/zero'] });
    expect(result.status).toBe('output_limit');
    expect(result.stdoutTruncated).toBe(true);
    expect(Buffer.byteLength(result.stdout)).toBe(64 * 1024);
  });

  it('filling the work dir: the tmpfs is full at its size', async () => {
    const result = await sandbox.run({
      command: ['sh', '-c', 'i=0; while head -c 1000000 /dev/zero > f$i; do i=$((i+1)); done; echo "$i files"; exit 1'],
    });
    expect(result.status).toBe('ok');
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/No space left on device/);
    expect(Number(/(\d+) files/.exec(result.stdout)?.[1])).toBeLessThanOrEqual(8);
    expect(result.message).toMatch(/no space left/);
  });

  it('a setsid double-forked child does not outlive a job that exits', async () => {
    const escape = `import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(300)\n    os._exit(0)\nprint("parent done")`;
    const result = await sandbox.run({ command: ['python3', '-c', escape, MARKER] });
    expect(result.status).toBe('ok');
    expect(result.stdout).toBe('parent done\n');
    expect(processesWith(MARKER)).toEqual([]);
  });

  it('a setsid child does not outlive a job killed by the clock', async () => {
    const result = await sandbox.run({ command: ['bash', '-c', `setsid -f bash -c 'exec -a ${MARKER} sleep 300'; exec -a ${MARKER} sleep 300`] });
    expect(result.status).toBe('timeout');
    expect(processesWith(MARKER)).toEqual([]);
  });

  it('no network: neither the server port on 127.0.0.1 nor another address is reachable', async () => {
    const probe = (host: string, port: number) =>
      `import socket\ntry:\n    socket.create_connection((${JSON.stringify(host)}, ${port}), timeout=1)\n    print("connected")\nexcept OSError as e:\n    print("failed", e.errno)`;
    const local = await sandbox.run({ command: ['python3', '-c', probe('127.0.0.1', serverPort)] });
    const remote = await sandbox.run({ command: ['python3', '-c', probe('192.0.2.1', 80)] });
    expect(local.stdout).toMatch(/^failed/);
    expect(remote.stdout).toMatch(/^failed/);
    // The server itself is up: the sandbox, not the server, refused.
    expect(await (await fetch(serverUrl)).text()).toBe('pong');
  });

  it("nothing of the host is visible: database, restart token, /etc/shadow, other submissions, the server's environment", async () => {
    const data = path.join(tmp, 'data');
    mkdirSync(path.join(data, 'submissions', 'alice'), { recursive: true });
    mkdirSync(path.join(data, 'submissions', 'bob'), { recursive: true });
    const db = new Database(path.join(data, 'lectern.db'));
    db.exec(`CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('${SECRET}-db')`);
    db.close();
    writeFileSync(path.join(data, 'restart.token'), `${SECRET}-token`, { mode: 0o640 });
    writeFileSync(path.join(data, 'submissions', 'alice', 'main.py'), 'print("alice")\n');
    writeFileSync(path.join(data, 'submissions', 'bob', 'main.py'), `print("${SECRET}-bob")\n`);
    const script = [
      `cat ${data}/lectern.db ${data}/restart.token ${data}/submissions/bob/main.py`,
      'cat ../bob/main.py ../../restart.token /etc/shadow',
      'ls -R /.in',
      'env; cat /proc/1/environ; echo',
      'python3 main.py',
      'grep -rs "secret-" /work /tmp /etc /.in /dev/shm /proc/1/environ',
      'true',
    ].join('; ');
    const result = await sandbox.run({ command: ['sh', '-c', script], inputs: [{ from: path.join(data, 'submissions', 'alice'), to: '.' }] });
    expect(result.status).toBe('ok');
    expect(result.stdout).toMatch(/^alice$/m);
    expect(result.stdout + result.stderr).not.toContain(SECRET);
    expect(result.stdout).not.toContain('SQLite format 3');
    expect(result.stderr).toMatch(/lectern\.db: No such file or directory/);
    expect(result.stderr).toMatch(/\/etc\/shadow: No such file or directory/);
  });

  it('only fds 0-2 reach the program (/proc/self/fd lists them and its own directory)', async () => {
    const result = await sandbox.run({ command: ['ls', '/proc/self/fd'] });
    expect(result.stdout.split('\n').filter(Boolean)).toEqual(['0', '1', '2', '3']);
  });

  it('fds the server inherited without close-on-exec do not leak in', async () => {
    // A server started by systemd socket activation holds its listening socket on fd 3 without
    // close-on-exec, and Node passes such descriptors to every child: run the sandbox from a
    // process that has extra inherited descriptors.
    const script = `
      import { readdirSync } from 'node:fs';
      import { createSandbox } from ${JSON.stringify(path.join(ROOT, 'src/lib/sandbox/index.ts'))};
      import { memoryLogger } from ${JSON.stringify(path.join(ROOT, 'src/lib/logger.ts'))};
      const own = readdirSync('/proc/self/fd');
      const sandbox = createSandbox({ unsafe: false, log: memoryLogger().log });
      const r = await sandbox.run({ command: ['ls', '/proc/self/fd'] });
      process.stdout.write(JSON.stringify({ own, inside: r.stdout.split('\\n').filter(Boolean) }));
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, err).toBe(0);
    const { own, inside } = JSON.parse(out) as { own: string[]; inside: string[] };
    expect(own).toEqual(expect.arrayContaining(['3', '4', '5', '6']));
    expect(inside).toEqual(['0', '1', '2', '3']);
  });

  it('cannot create a nested user namespace', async () => {
    const result = await sandbox.run({ command: ['unshare', '-U', 'true'] });
    expect(result.status).toBe('ok');
    expect(result.exitCode).not.toBe(0);
  });

  it('cannot write to /usr, /, /dev or /etc', async () => {
    const result = await sandbox.run({
      command: ['sh', '-c', 'for f in /usr/x /x /dev/x /etc/x /etc/passwd; do (echo x >> $f) 2>/dev/null && echo "wrote $f"; done; id -un'],
    });
    expect(result.status).toBe('ok');
    expect(result.stdout).toBe('sandbox\n');
  });
});

describe('the normal path', () => {
  const normal = createSandbox({ unsafe: false, log });

  it('passes stdin', async () => {
    const input = randomBytes(200_000).toString('base64');
    const result = await normal.run({ command: ['cat'], stdin: input });
    expect(result.status).toBe('ok');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(input);
  });

  it('copies inputs and files into a writable work dir, leaving the host copies alone', async () => {
    const src = path.join(tmp, 'inputs');
    mkdirSync(path.join(src, 'sub'), { recursive: true });
    writeFileSync(path.join(src, 'sub', 'f.txt'), 'from a dir\n');
    writeFileSync(path.join(src, 'run.sh'), '#!/bin/sh\necho running\n', { mode: 0o755 });
    const single = path.join(tmp, 'single.txt');
    writeFileSync(single, 'a single file\n');
    const result = await normal.run({
      command: ['sh', '-c', 'cat sub/f.txt data/in.txt a/b.txt && ./run.sh && echo changed > sub/f.txt && cat sub/f.txt && pwd'],
      inputs: [
        { from: src, to: '.' },
        { from: single, to: 'data/in.txt' },
      ],
      files: { 'a/b.txt': 'a written file\n' },
    });
    expect(result.status).toBe('ok');
    expect(result.stdout).toBe('from a dir\na single file\na written file\nrunning\nchanged\n/work\n');
    expect(readFileSync(path.join(src, 'sub', 'f.txt'), 'utf8')).toBe('from a dir\n');
  });

  it('copies inputs with read-only binds too (the mode of a server that does not run as root)', async () => {
    // As root the sandbox user cannot traverse 0700 temp dirs: use a world-readable tree here.
    const open = path.join(tmp, 'open');
    mkdirSync(path.join(open, 'mine', 'sub'), { recursive: true });
    mkdirSync(path.join(open, 'other'));
    chmodSync(tmp, 0o755);
    writeFileSync(path.join(open, 'mine', 'sub', 'x.txt'), 'mine\n');
    writeFileSync(path.join(open, 'other', 'y.txt'), `${SECRET}-other\n`);
    const binding = createSandbox({ unsafe: false, log, inputs: 'bind' });
    const result = await binding.run({
      command: ['sh', '-c', 'cat code/sub/x.txt extra.txt; echo more >> code/sub/x.txt; ls /.in; cat /.in/*/../other/y.txt 2>/dev/null; true'],
      inputs: [{ from: path.join(open, 'mine'), to: 'code' }],
      files: { 'extra.txt': 'extra\n' },
    });
    chmodSync(tmp, 0o700);
    expect(result.status).toBe('ok');
    expect(result.stdout).toMatch(/^mine\nextra\n/);
    expect(result.stdout).not.toContain(SECRET);
    expect(readFileSync(path.join(open, 'mine', 'sub', 'x.txt'), 'utf8')).toBe('mine\n');
  });

  it('collects the files asked for: capped, missing ones absent, symlinks not followed', async () => {
    const result = await normal.run({
      command: ['sh', '-c', 'echo \'{"score": 1}\' > results.json; mkdir out; head -c 5000 /dev/zero > out/big; ln -s /etc/passwd link'],
      collect: ['results.json', 'out/big', 'missing.txt', 'link'],
      collectBytes: 1000,
    });
    expect(result.status).toBe('ok');
    expect(Object.keys(result.files).sort()).toEqual(['out/big', 'results.json']);
    expect(result.files['results.json']!.toString()).toBe('{"score": 1}\n');
    expect(result.files['out/big']!.length).toBe(1000);
  });

  it('caps stdout and stderr together', async () => {
    const result = await normal.run({
      command: ['sh', '-c', 'head -c 6000 /dev/zero | tr "\\0" e >&2; head -c 6000 /dev/zero | tr "\\0" o; sleep 5'],
      limits: { outputBytes: 10_000 },
    });
    expect(result.status).toBe('output_limit');
    expect(result.stderr).toBe('e'.repeat(6000));
    expect(result.stdout).toBe('o'.repeat(4000));
    expect(result.stdoutTruncated).toBe(true);
    expect(result.stderrTruncated).toBe(false);
  });

  it('gives the program only the environment it is given (plus PATH, HOME, LANG)', async () => {
    const result = await normal.run({ command: ['python3', '-c', 'import json, os; print(json.dumps(sorted(os.environ.items())))'], env: { FOO: 'bar baz' } });
    expect(JSON.parse(result.stdout)).toEqual([
      ['FOO', 'bar baz'],
      ['HOME', '/work'],
      ['LANG', 'C.UTF-8'],
      ['PATH', '/usr/local/bin:/usr/bin:/bin'],
    ]);
  });

  it('reports exit codes and signals', async () => {
    const exited = await normal.run({ command: ['sh', '-c', 'exit 3'] });
    expect(exited).toMatchObject({ status: 'ok', exitCode: 3, signal: null });
    const crashed = await normal.run({ command: ['sh', '-c', 'kill -SEGV $$'] });
    expect(crashed).toMatchObject({ status: 'crashed', exitCode: null, signal: 'SIGSEGV' });
    const missing = await normal.run({ command: ['./no-such-program'] });
    expect(missing).toMatchObject({ status: 'ok', exitCode: 127 });
  });

  it('compiles and runs C with gcc, and runs Python', async () => {
    const result = await normal.run({
      command: ['sh', '-c', 'gcc -O2 -o hello hello.c && ./hello && python3 -c "print(6 * 7)"'],
      files: { 'hello.c': '#include <stdio.h>\nint main(void) { puts("hello from C"); return 0; }\n' },
    });
    expect(result.status).toBe('ok');
    expect(result.stdout).toBe('hello from C\n42\n');
    expect(result.cpuMs).toBeGreaterThan(0);
  });

  it('runs the command at a lower priority than the server (niceness 10 unless told)', async () => {
    const niceOf = 'read -r line < /proc/self/stat; set -- ${line##*) }; echo ${17}';
    expect((await normal.run({ command: ['bash', '-c', niceOf] })).stdout).toBe('10\n');
    const plain = createSandbox({ unsafe: false, log, niceness: 0 });
    expect((await plain.run({ command: ['bash', '-c', niceOf] })).stdout).toBe('0\n');
  });

  it('runs jobs concurrently', async () => {
    const results = await Promise.all([1, 2, 3, 4].map((i) => normal.run({ command: ['sh', '-c', `sleep 0.3; echo ${i}`] })));
    expect(results.map((r) => [r.status, r.stdout])).toEqual([1, 2, 3, 4].map((i) => ['ok', `${i}\n`]));
  });

  it('stops a job when the caller aborts it', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const result = await normal.run({ command: ['bash', '-c', `exec -a ${MARKER} sleep 100`], signal: controller.signal });
    expect(result.status).toBe('error');
    expect(result.message).toMatch(/aborted/);
    expect(processesWith(MARKER)).toEqual([]);
  });

  it('reports inputs that do not fit in the work dir as a sandbox error', async () => {
    const big = path.join(tmp, 'big.bin');
    writeFileSync(big, Buffer.alloc(2 * MiB));
    const result = await normal.run({ command: ['true'], inputs: [{ from: big, to: 'big.bin' }], limits: { workDirBytes: 1 * MiB } });
    expect(result.status).toBe('error');
    expect(result.message).toMatch(/copying the inputs into the work dir failed: .*No space left on device/);
  });

  it('refuses bad requests with status error', async () => {
    expect((await normal.run({ command: [] })).status).toBe('error');
    expect((await normal.run({ command: ['true'], collect: ['../x'] })).message).toMatch(/collected path/);
    expect((await normal.run({ command: ['true'], inputs: [{ from: tmp, to: '/abs' }] })).message).toMatch(/input target/);
    expect((await normal.run({ command: ['true'], env: { 'A-B': '1' } })).message).toMatch(/environment variable/);
    expect((await normal.run({ command: ['true'], limits: { wallMs: -1 } })).message).toMatch(/limit wallMs/);
    // A limit left undefined keeps its default.
    expect((await normal.run({ command: ['true'], limits: { wallMs: undefined } })).status).toBe('ok');
  });
});

describe('cgroup v2', () => {
  it('puts each run in its own cgroup under a delegated one, and removes it afterwards', async () => {
    // This host may not delegate a cgroup v2 (cgroup v1 or hybrid): mount a cgroup2 hierarchy in
    // a private mount namespace of a child process and give the sandbox a dir in it.
    const mount = mkdtempSync(path.join(os.tmpdir(), 'lectern-cg-'));
    const parent = path.join(mount, `lectern-test-${randomBytes(4).toString('hex')}`);
    const script = `
      import { mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
      import { createSandbox } from ${JSON.stringify(path.join(ROOT, 'src/lib/sandbox/index.ts'))};
      import { memoryLogger } from ${JSON.stringify(path.join(ROOT, 'src/lib/logger.ts'))};
      const parent = ${JSON.stringify(parent)};
      mkdirSync(parent);
      const runs = () => readdirSync(parent).filter((d) => d.startsWith('lectern-run-'));
      const sandbox = createSandbox({ unsafe: false, log: memoryLogger().log, cgroup: parent, defaults: { wallMs: 1500 } });
      const job = sandbox.run({ command: ['sh', '-c', 'sleep 0.6; echo done'] });
      await new Promise((r) => setTimeout(r, 300));
      const during = runs().map((d) => readFileSync(parent + '/' + d + '/cgroup.procs', 'utf8').trim().split('\\n').length);
      const result = await job;
      const killed = await sandbox.run({ command: ['bash', '-c', 'setsid -f sleep 300; sleep 300'] });
      const after = runs();
      rmdirSync(parent);
      process.stdout.write(JSON.stringify({ describe: sandbox.describe(), during, result, killed: killed.status, after }));
    `;
    const child = spawn(
      'unshare',
      ['-m', 'sh', '-c', 'mount -t cgroup2 none "$0" && exec "$@"', mount, process.execPath, '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    rmSync(mount, { recursive: true, force: true });
    expect(code, `needs root allowed to mount (CAP_SYS_ADMIN): ${err}`).toBe(0);
    const report = JSON.parse(out) as { describe: string; during: number[]; result: SandboxResult; killed: string; after: string[] };
    expect(report.describe).toContain(`cgroup v2 per run under ${parent}`);
    // bwrap, the sandbox's pid 1, sh and sleep.
    expect(report.during).toHaveLength(1);
    expect(report.during[0]).toBeGreaterThanOrEqual(3);
    expect(report.result).toMatchObject({ status: 'ok', stdout: 'done\n' });
    expect(report.killed).toBe('timeout');
    expect(report.after).toEqual([]);
  });
});

describe('without bubblewrap', () => {
  const missing = path.join(os.tmpdir(), 'no-such-dir', 'bwrap');

  it('refuses to run code, with a clear message, and does not throw at creation', async () => {
    const refusing = createSandbox({ unsafe: false, log, bwrapPath: missing });
    expect(refusing.unsafe).toBe(false);
    expect(refusing.describe()).toMatch(/bubblewrap is not installed: apt-get install bubblewrap, or set LECTERN_UNSAFE_SANDBOX=1/);
    const result = await refusing.run({ command: ['true'] });
    expect(result.status).toBe('error');
    expect(result.message).toMatch(/bubblewrap is not installed/);
  });

  it('runs directly in unsafe mode, still with limits, a temp work dir and a clean environment', async () => {
    const unsafe = createSandbox({ unsafe: true, log, bwrapPath: missing, defaults: HOSTILE });
    expect(unsafe.unsafe).toBe(true);
    expect(unsafe.describe()).toMatch(/UNSAFE/);
    const src = path.join(tmp, 'unsafe-in');
    mkdirSync(src, { recursive: true });
    writeFileSync(path.join(src, 'in.txt'), 'input\n');
    const result = await unsafe.run({
      command: ['sh', '-c', 'cat in.txt; cat; echo done > results.json; pwd; env | sort'],
      inputs: [{ from: src, to: '.' }],
      stdin: 'stdin\n',
      collect: ['results.json'],
    });
    expect(result.status).toBe('ok');
    const [first, second, cwd, ...env] = result.stdout.trim().split('\n');
    expect([first, second]).toEqual(['input', 'stdin']);
    expect(cwd).toMatch(new RegExp(`^${os.tmpdir()}/lectern-sandbox-`));
    expect(env.map((l) => l.split('=')[0])).toEqual(['HOME', 'LANG', 'PATH', 'PWD']);
    expect(result.stdout).not.toContain(SECRET);
    expect(result.files['results.json']!.toString()).toBe('done\n');
    await expect(fs.stat(cwd!)).rejects.toThrow();
    const spin = await unsafe.run({ command: ['./spin'], inputs: bin('spin') });
    expect(spin.status).toBe('timeout');
  });
});
