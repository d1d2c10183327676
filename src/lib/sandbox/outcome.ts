import os from 'node:os';
import type { ReadOnlyWrites, SandboxLimits, SandboxResult, SandboxStatus } from './types.js';
import type { TarCollector } from './collect.js';

/**
 * What a run ended as: the wrapper's report on fd 3 (ControlChannel) and the verdict drawn from
 * it, bwrap's exit and the server's own kills (classify). Pure apart from the collector it feeds.
 */

const MiB = 1024 * 1024;

/** Why the server killed a run. */
export type KillReason = 'timeout' | 'output_limit' | 'aborted' | 'memory';

export function emptyResult(status: SandboxStatus, message: string, wallMs = 0): SandboxResult {
  return {
    status,
    exitCode: null,
    signal: null,
    stdout: '',
    stderr: '',
    stdoutTruncated: false,
    stderrTruncated: false,
    wallMs,
    cpuMs: 0,
    files: {},
    message,
  };
}

// The first name of a number wins: Node lists SIGABRT before its alias SIGIOT (and SIGPOLL after
// SIGIO), and an abort() must read "SIGABRT", the name people know.
const SIGNAL_NAMES = new Map<number, string>();
for (const [name, num] of Object.entries(os.constants.signals)) if (!SIGNAL_NAMES.has(num)) SIGNAL_NAMES.set(num, name);

/** Messages runtimes print when an allocation fails under RLIMIT_DATA. */
const OUT_OF_MEMORY = /MemoryError|std::bad_alloc|Cannot allocate memory|out of memory|xmalloc: cannot allocate|failed to allocate|OutOfMemoryError|insufficient memory for the Java Runtime/i;

/**
 * Fd 3 of the wrapper: "error ..." if it failed before starting the command, else "start", then
 * "exit N", the `times` lines, "data" and the tar of the collected files. The sandboxed program
 * cannot reopen this descriptor (a socket), but nothing it could write after "start" is trusted
 * beyond what it could fake anyway (its own CPU figure and files): the exit status comes from
 * bwrap, and "error" counts only before "start".
 */
export class ControlChannel {
  private text = '';
  private inData = false;
  private dataBytes = 0;
  static readonly TEXT_CAP = 64 * 1024;
  static readonly DATA_CAP = 1024 * MiB;

  constructor(private readonly collector: TarCollector) {}

  write(chunk: Buffer): void {
    if (this.inData) {
      this.dataBytes += chunk.length;
      if (this.dataBytes <= ControlChannel.DATA_CAP) this.collector.write(chunk);
      return;
    }
    if (this.text.length > ControlChannel.TEXT_CAP) return;
    const before = this.text.length;
    this.text += chunk.toString('latin1');
    const marker = this.text.indexOf('\ndata\n');
    if (marker >= 0) {
      this.inData = true;
      const restStart = marker + 6 - before;
      this.text = this.text.slice(0, marker + 1);
      if (restStart < chunk.length) this.write(chunk.subarray(restStart));
    }
  }

  get error(): string | null {
    const start = /^start$/m.exec(this.text);
    const m = /^error (.*)$/m.exec(start ? this.text.slice(0, start.index) : this.text);
    return m ? m[1]! : null;
  }

  /** Processes the command left running (counted by the sandbox's pid 1 before it killed them). */
  get leftProcesses(): number | null {
    const m = /^left (\d+)$/m.exec(this.text);
    return m ? Number(m[1]) : null;
  }

  /**
   * Connections and packets the command (or what it left) sent towards an address the sandbox's
   * empty network cannot route, counted by the kernel and reported by pid 1 after every other
   * process is dead: the last line counts, so nothing the program wrote earlier can replace it.
   */
  get networkAttempts(): number | null {
    const all = [...this.text.matchAll(/^net (\d+)$/gm)];
    const last = all[all.length - 1];
    return last ? Number(last[1]) : null;
  }

  /**
   * The write observer's count (native/write-observer.c): its last "ro" line (it writes one as
   * the count grows, so a run killed midway still shows what was seen) and its example paths.
   * Only the observer holds fd 3 while the command runs; the command never gets it.
   */
  get readOnlyWrites(): ReadOnlyWrites | null {
    const all = [...this.text.matchAll(/^ro (\d+) (\d+)$/gm)];
    const last = all[all.length - 1];
    if (!last) return null;
    const examples = [...new Set([...this.text.matchAll(/^ro-path (.*)$/gm)].map((m) => m[1]!))].slice(0, 5);
    return { count: Number(last[1]), unreadable: Number(last[2]), examples };
  }

  /** Why the observer let the command run unobserved (it could not fork, the kernel refused). */
  get observerOff(): string | null {
    const m = /^ro-off (.*)$/m.exec(this.text);
    return m ? m[1]! : null;
  }

  /** Whether the observer ended its report (the "ro" line it writes after the command ended). */
  get observerDone(): boolean {
    return /^ro-end$/m.test(this.text);
  }

  get reported(): boolean {
    return /^exit \d+$/m.test(this.text);
  }

  /** CPU of the command's waited-for process tree, from bash's `times` (second line: children). */
  get cpuMs(): number | null {
    const lines = [...this.text.matchAll(/^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/gm)];
    const children = lines[lines.length - 1];
    if (lines.length < 2 || !children) return null;
    const secs = Number(children[1]) * 60 + Number(children[2]) + Number(children[3]) * 60 + Number(children[4]);
    return Math.round(secs * 1000);
  }
}

export function classify(args: {
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
  killedFor: KillReason | null;
  spawnError: Error | null;
  control: ControlChannel;
  limits: SandboxLimits;
  stderr: string;
  killCpuMs: number | null;
  unsafe: boolean;
}): Pick<SandboxResult, 'status' | 'exitCode' | 'signal' | 'cpuMs' | 'message'> {
  const { exit, killedFor, spawnError, control, limits, stderr } = args;
  const cpuMs = control.cpuMs ?? args.killCpuMs ?? 0;
  if (killedFor === 'timeout') {
    return { status: 'timeout', exitCode: null, signal: 'SIGKILL', cpuMs, message: `killed after the wall-clock limit of ${limits.wallMs} ms` };
  }
  if (killedFor === 'output_limit') {
    return { status: 'output_limit', exitCode: null, signal: 'SIGKILL', cpuMs, message: `killed after writing more than ${limits.outputBytes} bytes of output` };
  }
  if (killedFor === 'aborted') return { status: 'error', exitCode: null, signal: 'SIGKILL', cpuMs, message: 'aborted by the server' };
  if (killedFor === 'memory') {
    return { status: 'memory', exitCode: null, signal: 'SIGKILL', cpuMs, message: `killed when its processes together held more than the memory limit of ${limits.memoryBytes} bytes` };
  }
  if (spawnError) return { status: 'error', exitCode: null, signal: null, cpuMs, message: `the sandbox could not start: ${spawnError.message}` };
  if (control.error) return { status: 'error', exitCode: null, signal: null, cpuMs, message: control.error };
  const code = exit?.code ?? null;
  if (!control.reported) {
    // The wrapper never reported: bwrap could not build the sandbox, or the wrapper (pid 1 of the
    // sandbox, whose own limits are not lowered) was killed from outside, which in practice is
    // the kernel's out-of-memory killer.
    if (exit?.signal === 'SIGKILL' || code === 128 + 9) {
      return { status: 'memory', exitCode: null, signal: 'SIGKILL', cpuMs, message: 'the sandbox was killed by SIGKILL from outside: most likely the out-of-memory killer' };
    }
    const tail = stderr.trim().split('\n').slice(-3).join(' ');
    return { status: 'error', exitCode: code, signal: exit?.signal ?? null, cpuMs, message: `the sandbox could not start${tail ? `: ${tail}` : ''}` };
  }
  if (code !== null && code > 128 && code < 128 + 65) {
    // bash reports a command killed by signal N as 128+N (and so does every shell).
    const num = code - 128;
    const name = SIGNAL_NAMES.get(num) ?? `signal ${num}`;
    // SIGXCPU comes at the soft CPU limit, SIGKILL one second later at the hard one (when
    // SIGXCPU was ignored). The rusage figure can read lower than the time the limit counts
    // (steal time on a VM), hence the margin.
    const cpuLimitMs = Math.ceil(limits.cpuSeconds) * 1000;
    if (name === 'SIGXCPU' || (name === 'SIGKILL' && cpuMs >= cpuLimitMs * 0.9)) {
      return { status: 'timeout', exitCode: null, signal: name, cpuMs, message: `killed by ${name} at the CPU limit of ${Math.ceil(limits.cpuSeconds)} s` };
    }
    if (name === 'SIGKILL') {
      return { status: 'memory', exitCode: null, signal: name, cpuMs, message: 'killed by SIGKILL that the sandbox did not send: most likely the out-of-memory killer' };
    }
    if (name === 'SIGXFSZ') {
      return { status: 'crashed', exitCode: null, signal: name, cpuMs, message: `killed by SIGXFSZ: a file grew past the limit of ${limits.fileSizeBytes} bytes` };
    }
    if (OUT_OF_MEMORY.test(stderr.slice(-4096))) {
      return { status: 'memory', exitCode: null, signal: name, cpuMs, message: `killed by ${name} after an allocation failed (memory limit ${limits.memoryBytes} bytes of data)` };
    }
    const hint = name === 'SIGSEGV' || name === 'SIGBUS' || name === 'SIGABRT'
      ? ` (under the data limit of ${limits.memoryBytes} bytes a failed allocation can also end this way)`
      : '';
    return { status: 'crashed', exitCode: null, signal: name, cpuMs, message: `killed by ${name}${hint}` };
  }
  if (code !== 0 && OUT_OF_MEMORY.test(stderr.slice(-4096))) {
    return { status: 'memory', exitCode: code, signal: null, cpuMs, message: `exited with ${code} after an allocation failed (memory limit ${limits.memoryBytes} bytes of data)` };
  }
  if (code === 0) return { status: 'ok', exitCode: 0, signal: null, cpuMs };
  const full = /No space left on device/.test(stderr.slice(-4096))
    ? ` (no space left on a device: the work dir, /tmp and /dev/shm hold ${limits.workDirBytes} bytes each)`
    : '';
  return { status: 'ok', exitCode: code, signal: null, cpuMs, message: `exited with code ${code}${full}` };
}
