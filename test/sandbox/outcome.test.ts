// Unit tests of how a run's end is read (src/lib/sandbox/outcome.ts): the wrapper's report on fd 3
// and the verdict drawn from it and from the server's own kills.
import { describe, expect, it } from 'vitest';
import { classify, ControlChannel, type KillReason } from '../../src/lib/sandbox/outcome.js';
import { TarCollector } from '../../src/lib/sandbox/collect.js';
import { DEFAULT_LIMITS } from '../../src/lib/sandbox/request.js';

function channel(text: string): ControlChannel {
  const control = new ControlChannel(new TarCollector(new Set(), 1024));
  control.write(Buffer.from(text, 'latin1'));
  return control;
}

const REPORT = 'start\nleft 2\nnet 1\nnet 3\nexit 0\n0m0.010s 0m0.000s\n0m1.500s 0m0.250s\n';

function verdict(opts: { code?: number | null; signal?: NodeJS.Signals | null; killedFor?: KillReason; report?: string; stderr?: string; killCpuMs?: number }) {
  return classify({
    exit: { code: opts.code ?? null, signal: opts.signal ?? null },
    killedFor: opts.killedFor ?? null,
    spawnError: null,
    control: channel(opts.report ?? REPORT),
    limits: { ...DEFAULT_LIMITS, cpuSeconds: 2 },
    stderr: opts.stderr ?? '',
    killCpuMs: opts.killCpuMs ?? null,
    unsafe: false,
  });
}

describe('the control channel', () => {
  it("reads the wrapper's report: left processes, the last network count, the children's CPU time", () => {
    const control = channel(REPORT);
    expect([control.reported, control.leftProcesses, control.networkAttempts, control.cpuMs, control.error]).toEqual([true, 2, 3, 1750, null]);
  });

  it("reads the write observer's lines: the last count, the example paths once each, the end mark, a refusal", () => {
    const control = channel('start\nro 1 0\nro-path /usr/lib/x\nro 2 0\nro-path /etc/foo\nro-path /usr/lib/x\nro 3 1\nro-end\nleft 0\nexit 0\n');
    expect(control.readOnlyWrites).toEqual({ count: 3, unreadable: 1, examples: ['/usr/lib/x', '/etc/foo'] });
    expect([control.observerDone, control.observerOff]).toEqual([true, null]);
    const killed = channel('start\nro 1 0\nro-path /usr/x\n');
    expect([killed.readOnlyWrites?.count, killed.observerDone]).toEqual([1, false]);
    expect(channel('start\nro-off the kernel refused the seccomp listener: Invalid argument\nexit 0\n').observerOff).toMatch(/refused/);
    expect(channel(REPORT).readOnlyWrites).toBeNull();
  });

  it('counts an error only before "start"', () => {
    expect(channel('error copying failed\nstart\n').error).toBe('copying failed');
    expect(channel('start\nerror faked by the program\n').error).toBeNull();
  });
});

describe('classify', () => {
  it('names the server-side kills', () => {
    expect(verdict({ killedFor: 'timeout' })).toMatchObject({ status: 'timeout', signal: 'SIGKILL', message: `killed after the wall-clock limit of ${DEFAULT_LIMITS.wallMs} ms` });
    expect(verdict({ killedFor: 'output_limit' })).toMatchObject({ status: 'output_limit' });
    expect(verdict({ killedFor: 'aborted' })).toMatchObject({ status: 'error', message: 'aborted by the server' });
    expect(verdict({ killedFor: 'memory' })).toMatchObject({ status: 'memory' });
  });

  it('reads exit codes 129-192 as signals: SIGXCPU and a late SIGKILL are the CPU limit, an early SIGKILL the OOM killer', () => {
    expect(verdict({ code: 128 + 24 })).toMatchObject({ status: 'timeout', signal: 'SIGXCPU', message: 'killed by SIGXCPU at the CPU limit of 2 s' });
    expect(verdict({ code: 128 + 9, report: 'start\nexit 137\n0m0s 0m0s\n0m1.900s 0m0s\n' })).toMatchObject({ status: 'timeout', signal: 'SIGKILL' });
    expect(verdict({ code: 128 + 9 })).toMatchObject({ status: 'memory', signal: 'SIGKILL' });
    expect(verdict({ code: 128 + 25 })).toMatchObject({ status: 'crashed', signal: 'SIGXFSZ' });
    expect(verdict({ code: 128 + 11 }).message).toMatch(/^killed by SIGSEGV \(under the data limit/);
    // abort() is SIGABRT, not its alias SIGIOT, and gets the same hint as a crash.
    expect(verdict({ code: 128 + 6 })).toMatchObject({ status: 'crashed', signal: 'SIGABRT' });
    expect(verdict({ code: 128 + 6 }).message).toMatch(/^killed by SIGABRT \(under the data limit/);
  });

  it('reads allocation failures in stderr as the memory limit', () => {
    expect(verdict({ code: 1, stderr: 'MemoryError\n' })).toMatchObject({ status: 'memory', exitCode: 1 });
    expect(verdict({ code: 128 + 6, stderr: "terminate called after throwing an instance of 'std::bad_alloc'" })).toMatchObject({ status: 'memory', exitCode: null });
  });

  it('leaves other exit codes to the caller, with a hint when a device was full', () => {
    expect(verdict({ code: 0 })).toEqual({ status: 'ok', exitCode: 0, signal: null, cpuMs: 1750 });
    expect(verdict({ code: 3 })).toMatchObject({ status: 'ok', exitCode: 3, message: 'exited with code 3' });
    expect(verdict({ code: 1, stderr: 'write: No space left on device' }).message).toMatch(/no space left on a device/);
  });

  it('without a report: the sandbox did not start, or was killed from outside', () => {
    expect(verdict({ code: 1, report: '', stderr: 'bwrap: execvp /bin/bash: No such file or directory\n' })).toMatchObject({
      status: 'error',
      message: 'the sandbox could not start: bwrap: execvp /bin/bash: No such file or directory',
    });
    expect(verdict({ code: null, signal: 'SIGKILL', report: '' })).toMatchObject({ status: 'memory' });
  });
});
