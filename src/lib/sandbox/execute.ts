import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { SandboxLimits, SandboxRequest, SandboxResult } from './types.js';
import type { Plan } from './plan.js';
import { relPath } from './request.js';
import { TarCollector } from './collect.js';
import { watchTreeMemory } from './memory-watchdog.js';
import { procIdentity, sampleTreeCpuMs, stillRunning, waitGone, type ProcIdentity } from './proc.js';
import { classify, ControlChannel, emptyResult, type KillReason } from './outcome.js';

/**
 * Running a plan: spawning it, feeding stdin, counting and capping the output, the wall-clock
 * timer and the memory watchdog, killing the sandbox (its pid 1, then bwrap's process group),
 * reading the wrapper's report and resolving once nothing of the run is left.
 */

const MiB = 1024 * 1024;
/** How long a killed run's pid 1 has to kill the rest and report before it is killed itself. */
const REPORT_GRACE_MS = 2000;

export interface ExecuteOptions {
  /** The host user to spawn as when the plan drops to it (server running as root), else null. */
  runAs: { uid: number; gid: number } | null;
  unsafe: boolean;
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The write observer's part of a result (observer.ts). */
function observed(plan: Plan, request: SandboxRequest, control: ControlChannel, killedFor: KillReason | null): Pick<SandboxResult, 'readOnlyWrites' | 'readOnlyWritesUnobserved' | 'observerStopped'> {
  if (!request.observeWrites || !plan.observed || control.error) return {};
  const off = control.observerOff;
  if (off) return { readOnlyWrites: null, readOnlyWritesUnobserved: off };
  // The command ran (the wrapper reported its exit) but the observer never wrote its end: it was
  // killed while the command went on. A run the server killed took the observer with it.
  const stopped = !killedFor && control.reported && !control.error && !control.observerDone;
  return { readOnlyWrites: control.readOnlyWrites ?? (stopped || killedFor ? null : { count: 0, unreadable: 0, examples: [] }), ...(stopped ? { observerStopped: true } : {}) };
}

export function execute(plan: Plan, request: SandboxRequest, limits: SandboxLimits, options: ExecuteOptions): Promise<SandboxResult> {
  return new Promise((resolve) => {
    const started = performance.now();
    let child: ChildProcess;
    try {
      child = spawn(plan.file, plan.args, {
        cwd: plan.cwd,
        env: {},
        detached: true,
        // fd 3: the wrapper's report; fd 4: bwrap's --info-fd (the sandbox's pid 1 on the host).
        stdio: ['pipe', 'pipe', 'pipe', 'pipe', plan.infoFd ? 'pipe' : 'ignore'],
        ...(options.runAs && plan.dropUid ? { uid: options.runAs.uid, gid: options.runAs.gid } : {}),
      });
    } catch (err) {
      resolve(emptyResult('error', `the sandbox could not start: ${(err as Error).message}`));
      return;
    }
    const pid = child.pid;
    const out = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    const dropped = { stdout: false, stderr: false };
    let kept = 0;
    let total = 0;
    let killedFor: KillReason | null = null;
    let killCpuMs: number | null = null;
    let spawnError: Error | null = null;

    const wanted = new Set((request.collect ?? []).map((c) => relPath(c)!));
    const collector = new TarCollector(wanted, request.collectBytes ?? 1 * MiB);
    const control = new ControlChannel(collector);

    const kill = (reason: KillReason) => {
      if (killedFor || pid === undefined) return;
      killedFor = reason;
      const killGroup = () => {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      };
      // Ask the sandbox's pid 1 (the wrapper) to end the run: it kills every other process of
      // the pid namespace, and once they are dead reports the network namespace's counters
      // (a program that tried the network, then looped or allocated until killed, is still
      // flagged) and exits. When it does not end promptly (it was stopped, or the signal came
      // before it could take it), pid 1 is killed outright: the kernel then kills the rest of the
      // namespace, and bwrap, which waits for it, exits only once the namespace is empty, after
      // reaping it (killing bwrap first would leave pid 1 to be reaped by whatever reaps orphans
      // on this host). bwrap's process group is killed as well when that did not end it either.
      const doKill = async () => {
        const init = sandboxInit ? await sandboxInit : null;
        if (init && exit === null && (await stillRunning(init))) {
          const signalInit = (signal: NodeJS.Signals) => {
            try {
              process.kill(init.pid, signal);
            } catch {
              // Already gone.
            }
          };
          signalInit('SIGUSR1');
          setTimeout(() => {
            if (exit !== null) return;
            void stillRunning(init).then((alive) => {
              if (alive) signalInit('SIGKILL');
              setTimeout(() => {
                if (exit === null) killGroup();
              }, 500).unref();
            });
          }, REPORT_GRACE_MS).unref();
        } else if (exit === null) {
          // Only while bwrap is unreaped: its pid, and so its group's id, is then still ours. This
          // host's pid_max may be 32768, so a pid freed 100 ms ago can already be another process.
          killGroup();
        }
      };
      // Sample the CPU used so far (the wrapper never reports it for a killed run), but never
      // let the sampling delay the kill by more than a moment.
      const sample = sampleTreeCpuMs(pid).then((ms) => {
        killCpuMs = ms;
      });
      void Promise.race([sample, delay(100)]).then(doKill);
    };

    const onOutput = (which: 'stdout' | 'stderr') => (chunk: Buffer) => {
      total += chunk.length;
      const room = limits.outputBytes - kept;
      if (room > 0) {
        const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
        out[which].push(piece);
        kept += piece.length;
      }
      if (chunk.length > room) dropped[which] = true;
      if (total > limits.outputBytes) kill('output_limit');
    };
    child.stdout!.on('data', onOutput('stdout'));
    child.stderr!.on('data', onOutput('stderr'));
    const ctl = child.stdio[3] as Readable | null;
    ctl?.on('data', (chunk: Buffer) => control.write(chunk));
    const info = plan.infoFd ? (child.stdio[4] as Readable | null) : null;
    let infoText = '';
    let sandboxInit: Promise<ProcIdentity | null> | null = null;
    info?.on('data', (chunk: Buffer) => {
      if (infoText.length < 4096) infoText += chunk.toString('utf8');
      const m = /"child-pid"\s*:\s*(\d+)/.exec(infoText);
      if (m && !sandboxInit) sandboxInit = procIdentity(Number(m[1]));
    });
    for (const stream of [child.stdout, child.stderr, ctl, info]) stream?.on('error', () => undefined);

    child.stdin!.on('error', () => undefined);
    if (request.stdin !== undefined && request.stdin.length > 0) child.stdin!.end(request.stdin);
    else child.stdin!.end();

    const wallTimer = setTimeout(() => kill('timeout'), limits.wallMs);
    // The tree's resident memory also holds bwrap, the wrapper and every shared library, while a
    // single process's RLIMIT_DATA counts only its own data: a little headroom lets a lone
    // process reach its limit first and fail with its runtime's own message (MemoryError,
    // OutOfMemoryError), while the tree as a whole stays bounded.
    const memoryWatch = plan.treeMemory && pid !== undefined ? watchTreeMemory({ rootPid: pid, capBytes: limits.memoryBytes + Math.min(64 * MiB, Math.floor(limits.memoryBytes / 8)), onExceeded: () => kill('memory') }) : null;
    const onAbort = () => kill('aborted');
    request.signal?.addEventListener('abort', onAbort, { once: true });

    child.on('error', (err) => {
      spawnError = err;
    });

    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let finished = false;
    const finish = async () => {
      if (finished) return;
      finished = true;
      clearTimeout(wallTimer);
      memoryWatch?.stop();
      request.signal?.removeEventListener('abort', onAbort);
      for (const stream of [child.stdout, child.stderr, ctl, info]) stream?.destroy();
      // When bwrap itself had to be killed, the kernel kills the sandbox's pid 1 and with it the
      // pid namespace a moment later: resolve only once it is gone, so that nothing started by
      // this run outlives run().
      if (killedFor && sandboxInit) await waitGone(await sandboxInit, 2000);
      const wallMs = Math.round(performance.now() - started);
      const stdout = Buffer.concat(out.stdout).toString('utf8');
      const stderr = Buffer.concat(out.stderr).toString('utf8');
      const base = {
        stdout,
        stderr,
        stdoutTruncated: dropped.stdout,
        stderrTruncated: dropped.stderr,
        wallMs,
        files: collector.files,
      };
      resolve({
        ...base,
        ...classify({ exit, killedFor, spawnError, control, limits, stderr, killCpuMs, unsafe: options.unsafe }),
        leftProcesses: killedFor ? null : control.leftProcesses,
        // Read by pid 1 once every other process was dead, on a kill as well (it is null only
        // when pid 1 itself had to be killed, and in unsafe mode, where there is no namespace).
        networkAttempts: control.networkAttempts,
        ...observed(plan, request, control, killedFor),
      });
    };
    child.on('close', (code, signal) => {
      exit ??= { code, signal };
      void finish();
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      // With bwrap, nothing in the sandbox outlives it and the pipes close right after (the
      // long wait only guards against the unforeseen); in unsafe mode a process that left the
      // process group could keep them open, so do not wait for it long.
      setTimeout(() => void finish(), plan.infoFd ? 5000 : 250).unref();
    });
    if (pid === undefined) setImmediate(() => void finish());
  });
}
