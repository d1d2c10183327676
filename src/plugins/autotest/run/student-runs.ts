import { chmod, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { RunLimits } from '../../assignments/config.js';
import type { Sandbox, SandboxInput, SandboxResult } from '../../../lib/sandbox/types.js';
import { mergeFlags, studentRunFlags, type TamperFlag } from './tamper.js';
import { runStudentDirPrefix } from '../../../lib/sandbox/sweep-sockets.js';

/** One call for student code: an argv run in a fresh student sandbox. */
export interface StudentCall {
  argv: string[];
  stdin?: string | Buffer;
  /** Added beside the submission's files (the harness's inputs, a compiled program...). */
  files?: Record<string, Buffer | string>;
  collect?: string[];
  /** Can only lower the bundle's student limits. */
  limits?: Partial<RunLimits>;
  /** System files (under /usr) that read as empty for this call: a module the grading forbids. */
  hide?: string[];
}

export class CallRefused extends Error {}

/** Largest request a harness may send (files and stdin, base64 in JSON). */
const MAX_REQUEST_BYTES = 64 * 1024 * 1024;
/** Time a call needs at least; with less left in the run it is refused. */
const MIN_CALL_MS = 200;

/**
 * Starts student sandboxes for one grading run: each call gets a fresh sandbox with a copy of the
 * submission and what the caller hands it, never tests/ or the verdict. Calls are bounded in
 * number and by the run's deadline, run one at a time, and are all stopped by close(), so that
 * nothing a student started is alive when the verdict is read.
 */
export class StudentRunner {
  calls = 0;
  private readonly flags: TamperFlag[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private readonly controller = new AbortController();
  private readonly inflight = new Set<Promise<unknown>>();
  private closed = false;
  /** Taken off the caller's signal at close(): a self-check's one signal outlives many runs. */
  private readonly detach: () => void;

  constructor(
    private readonly sandbox: Sandbox,
    private readonly submission: SandboxInput[],
    private readonly limits: RunLimits,
    private readonly maxCalls: number,
    /** performance.now() after which no call may run. */
    private readonly deadline: number,
    signal?: AbortSignal,
    /** The assignment's environment root and env: (every student sandbox of the run gets them). */
    private readonly extras: { root?: string; env?: Record<string, string> } = {},
  ) {
    const abort = () => this.controller.abort();
    signal?.addEventListener('abort', abort, { once: true });
    this.detach = () => signal?.removeEventListener('abort', abort);
  }

  get callsLeft(): number {
    return Math.max(0, this.maxCalls - this.calls);
  }

  get tamper(): TamperFlag[] {
    return mergeFlags(this.flags);
  }

  /** Runs a call after the ones before it; throws CallRefused when over a bound. */
  run(call: StudentCall, what = 'student code'): Promise<SandboxResult> {
    if (this.closed) return Promise.reject(new CallRefused('the grading run is over'));
    if (this.calls >= this.maxCalls) return Promise.reject(new CallRefused(`at most ${this.maxCalls} calls per run (test.max_calls)`));
    this.calls++;
    const p = this.chain.then(() => this.runNow(call, what));
    this.chain = p.catch(() => undefined);
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => undefined);
    return p;
  }

  private async runNow(call: StudentCall, what: string): Promise<SandboxResult> {
    if (this.closed || this.controller.signal.aborted) throw new CallRefused('the grading run is over');
    const left = this.deadline - performance.now();
    if (left < MIN_CALL_MS) throw new CallRefused('no time left in this run (test.limits.wall)');
    const limits: RunLimits = { ...this.limits };
    for (const [k, v] of Object.entries(call.limits ?? {}) as Array<[keyof RunLimits, number | undefined]>) {
      if (typeof v === 'number' && Number.isFinite(v) && v > 0) limits[k] = Math.min(limits[k], v);
    }
    limits.wallMs = Math.min(limits.wallMs, Math.floor(left));
    const requested = new Set(call.collect ?? []);
    // A program handed back from an earlier call (the build's output) lost its mode on the way.
    const executable = Object.entries(call.files ?? {})
      .filter(([, v]) => looksExecutable(v))
      .map(([k]) => k);
    const run = await this.sandbox.run({
      command: call.argv,
      inputs: this.submission,
      ...(this.extras.root ? { root: this.extras.root } : {}),
      ...(this.extras.env && Object.keys(this.extras.env).length ? { env: this.extras.env } : {}),
      ...(call.files ? { files: call.files, executable } : {}),
      ...(call.stdin !== undefined ? { stdin: call.stdin } : {}),
      ...(call.hide?.length ? { hide: call.hide } : {}),
      limits,
      // results.json is asked back to see whether student code tried to forge one.
      collect: [...requested, ...['results.json'].filter((n) => !requested.has(n))],
      collectBytes: 16 * 1024 * 1024,
      signal: this.controller.signal,
      // Student code: its writes to read-only mounts are a tamper sign (tamper.ts).
      observeWrites: true,
    });
    this.flags.push(...studentRunFlags(run, what, requested));
    if (!requested.has('results.json')) delete run.files['results.json'];
    return run;
  }

  /** Refuses further calls, stops running ones and waits until their sandboxes are gone. */
  async close(): Promise<void> {
    this.closed = true;
    this.detach();
    this.controller.abort();
    await Promise.allSettled([...this.inflight]);
  }
}

/** ELF binaries and scripts with a #! line are written executable. */
function looksExecutable(content: Buffer | string): boolean {
  const head = typeof content === 'string' ? Buffer.from(content.slice(0, 4)) : content.subarray(0, 4);
  return (head[0] === 0x7f && head.subarray(1, 4).toString('latin1') === 'ELF') || head.subarray(0, 2).toString('latin1') === '#!';
}

/** JSON a harness sends. */
interface WireRequest {
  argv?: unknown;
  stdin?: unknown;
  files?: unknown;
  collect?: unknown;
  limits?: unknown;
  hide?: unknown;
}

function decodeRequest(raw: WireRequest): StudentCall {
  if (!Array.isArray(raw.argv) || raw.argv.length === 0 || raw.argv.some((a) => typeof a !== 'string')) throw new CallRefused('argv must be a non-empty list of strings');
  const call: StudentCall = { argv: raw.argv as string[] };
  if (raw.stdin !== undefined) {
    if (typeof raw.stdin !== 'string') throw new CallRefused('stdin must be base64 text');
    call.stdin = Buffer.from(raw.stdin, 'base64');
  }
  if (raw.files !== undefined) {
    if (typeof raw.files !== 'object' || raw.files === null || Array.isArray(raw.files)) throw new CallRefused('files must map names to base64 contents');
    call.files = {};
    for (const [name, value] of Object.entries(raw.files)) {
      if (typeof value !== 'string') throw new CallRefused(`file ${name}: content must be base64 text`);
      call.files[name] = Buffer.from(value, 'base64');
    }
  }
  if (raw.collect !== undefined) {
    if (!Array.isArray(raw.collect) || raw.collect.some((c) => typeof c !== 'string') || raw.collect.length > 100) throw new CallRefused('collect must be a list of at most 100 file names');
    call.collect = raw.collect as string[];
  }
  if (raw.hide !== undefined) {
    const ok = (f: unknown) => typeof f === 'string' && !f.includes('\0') && f.startsWith('/usr/') && path.posix.normalize(f) === f;
    if (!Array.isArray(raw.hide) || raw.hide.length > 512 || !raw.hide.every(ok)) throw new CallRefused('hide must be a list of at most 512 absolute paths under /usr');
    call.hide = raw.hide as string[];
  }
  if (raw.limits !== undefined) {
    if (typeof raw.limits !== 'object' || raw.limits === null) throw new CallRefused('limits must be an object');
    const l = raw.limits as Record<string, unknown>;
    const n = (k: string, scale: number) => (typeof l[k] === 'number' && Number.isFinite(l[k]) && (l[k] as number) > 0 ? (l[k] as number) * scale : undefined);
    const limits: Partial<RunLimits> = {};
    const set = (k: keyof RunLimits, v: number | undefined) => {
      if (v !== undefined) limits[k] = v;
    };
    set('wallMs', n('wall', 1000));
    set('cpuSeconds', n('cpu', 1));
    set('memoryBytes', n('memory', 1));
    set('outputBytes', n('output', 1));
    set('processes', n('processes', 1));
    call.limits = limits;
  }
  return call;
}

function encodeResult(run: SandboxResult, callsLeft: number): string {
  return JSON.stringify({
    ok: run.status !== 'error',
    ...(run.status === 'error' ? { error: run.message ?? 'the student sandbox failed' } : {}),
    status: run.status,
    exit_code: run.exitCode,
    signal: run.signal,
    stdout: run.stdout,
    stderr: run.stderr,
    stdout_truncated: run.stdoutTruncated,
    stderr_truncated: run.stderrTruncated,
    wall_ms: run.wallMs,
    cpu_ms: run.cpuMs,
    message: run.message ?? null,
    calls_left: callsLeft,
    files: Object.fromEntries(Object.entries(run.files).map(([k, v]) => [k, v.toString('base64')])),
  });
}

export interface RunStudentServer {
  /** Host dir holding the socket `s` (bind it into the harness sandbox). */
  dir: string;
  socket: string;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/**
 * The runner's end of run_student: a unix socket in a private dir, bound only into the harness
 * sandbox. One JSON request per connection, one JSON answer.
 */
export async function startRunStudentServer(runner: StudentRunner, tmpDir = os.tmpdir()): Promise<RunStudentServer> {
  // The maker's pid in the name lets a later start-up sweep tell a dead run's dir from a live one.
  const dir = await mkdtemp(runStudentDirPrefix(tmpDir));
  // The harness may run as another host user (nobody, when the server is root): it needs to pass
  // through the dir and write to the socket; nobody else can list the dir.
  await chmod(dir, 0o711);
  const socket = path.join(dir, 's');
  const conns = new Set<net.Socket>();
  // Half-open: the harness shuts its side down after the request and still reads the answer.
  const server = net.createServer({ allowHalfOpen: true }, (conn) => {
    conns.add(conn);
    conn.on('close', () => conns.delete(conn));
    conn.on('error', () => undefined);
    const chunks: Buffer[] = [];
    let size = 0;
    let answered = false;
    let started = false;
    const answer = (text: string) => {
      if (answered) return;
      answered = true;
      conn.end(`${text}\n`);
    };
    const handle = () => {
      if (started) return;
      started = true;
      let raw: WireRequest;
      try {
        raw = JSON.parse(Buffer.concat(chunks).toString('utf8')) as WireRequest;
        if (typeof raw !== 'object' || raw === null) throw new Error('not an object');
      } catch {
        answer(JSON.stringify({ ok: false, error: 'the request is not a JSON object' }));
        return;
      }
      let call: StudentCall;
      try {
        call = decodeRequest(raw);
      } catch (err) {
        answer(JSON.stringify({ ok: false, error: (err as Error).message }));
        return;
      }
      runner.run(call, 'a run_student call').then(
        (run) => answer(encodeResult(run, runner.callsLeft)),
        (err: unknown) => answer(JSON.stringify({ ok: false, error: err instanceof CallRefused ? err.message : 'the student sandbox failed' })),
      );
    };
    conn.on('data', (chunk: Buffer) => {
      if (answered) return;
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        answer(JSON.stringify({ ok: false, error: `the request is larger than ${MAX_REQUEST_BYTES} bytes` }));
        return;
      }
      const nl = chunk.indexOf(10);
      if (nl >= 0) {
        chunks.push(chunk.subarray(0, nl));
        handle();
      } else chunks.push(chunk);
    });
    conn.on('end', () => {
      if (!answered && chunks.length) handle();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve());
  });
  await chmod(socket, 0o666);
  return {
    dir,
    socket,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const c of conns) c.destroy();
      });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
