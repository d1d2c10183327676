import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../logger.js';
import type { Sandbox, SandboxLimits, SandboxRequest, SandboxResult } from './types.js';
import { runDirPrefix } from './sweep.js';
import { detectCgroup, givenCgroup, prepareParent, RunCgroup, type CgroupDetection, type CgroupSupport } from './cgroup.js';
import { DEFAULT_LIMITS, mergeLimits, validateRequest } from './request.js';
import { findBwrap, isExecutable, openBaseDir, probeBwrap, rootLayoutArgs, writeEtcFiles, type BwrapInfo } from './host.js';
import { bwrapPlan, type Plan } from './plan.js';
import { prepareBwrap } from './prepare.js';
import { planUnsafe } from './unsafe.js';
import { execute } from './execute.js';
import { emptyResult } from './outcome.js';
import { writeObserver } from './observer.js';

/** Unsafe mode mounts nothing read-only: the host's own files are protected by permissions only. */
const UNSAFE_WRITES = 'unsafe mode (LECTERN_UNSAFE_SANDBOX): there are no sandbox mounts to watch';

/**
 * The sandbox: createSandbox() picks the mode (bubblewrap, unsafe, or refusing), and run() goes
 * through the steps, each in its own file: check the request (request.ts), make the run dir and
 * cgroup, prepare the host side (prepare.ts, host.ts), build the plan (plan.ts, unsafe.ts),
 * execute it (execute.ts, outcome.ts) and clean up.
 */

export { DEFAULT_LIMITS } from './request.js';
export { findBwrap, sandboxAvailable } from './host.js';
export { SANDBOX_ETC_FILES } from './plan.js';

export const MISSING_BWRAP =
  'bubblewrap is not installed: apt-get install bubblewrap, or set LECTERN_UNSAFE_SANDBOX=1 for development only';

export interface CreateSandboxOptions {
  /** Run commands directly on the host when bubblewrap is missing (development only). */
  unsafe: boolean;
  log: Logger;
  /** Where the per-run staging dirs go (default: the OS temp dir). */
  tmpDir?: string;
  defaults?: Partial<SandboxLimits>;
  /**
   * The bwrap binary. Default: looked up in the usual system dirs. A path that is not an
   * executable makes the sandbox behave as on a host without bubblewrap.
   */
  bwrapPath?: string;
  /**
   * The host user the sandbox runs as when the server itself runs as root. Root is exempt from
   * RLIMIT_NPROC (a fork bomb would not be stopped) and a root-owned sandbox is a worse place to
   * escape from. Default: nobody (65534).
   */
  runAs?: { uid: number; gid: number };
  /**
   * How inputs reach the sandbox. 'bind' mounts each read-only and copies it into the work dir
   * inside (one copy; the sandbox user must be able to reach the path). 'copy' first copies them
   * on the host into a staging dir owned by the sandbox user. Default: 'bind', or 'copy' when
   * the server runs as root (the sandbox user then cannot reach the server's files).
   */
  inputs?: 'bind' | 'copy';
  /**
   * Niceness of the sandboxed command (0-19; 0 runs it at the server's priority). A deadline
   * burst of jobs must not starve the web server of CPU. Default 10.
   */
  niceness?: number;
  /**
   * A delegated cgroup v2 dir in which each run gets its own cgroup (memory.max, pids.max,
   * cpu.max, cgroup.kill). Default: this process's own cgroup when the host delegates it;
   * false: rlimits only.
   */
  cgroup?: string | false;
}

interface Mode {
  kind: 'bwrap' | 'unsafe' | 'refuse';
  bwrap?: BwrapInfo;
}

class HostSandbox implements Sandbox {
  readonly unsafe: boolean;
  private readonly mode: Mode;
  private readonly log: Logger;
  private readonly tmpDir: string;
  private readonly defaults: SandboxLimits;
  private readonly runAs: { uid: number; gid: number } | null;
  private readonly layout: string[];
  private readonly copyInputs: boolean;
  private readonly niceness: number;
  private base: Promise<string> | null = null;
  private cgroup: CgroupDetection;
  private cgroupReady: Promise<CgroupSupport | null> | null = null;
  /** Why the write observer cannot run here, once its first use found out. */
  private observerReason: string | null = null;

  constructor(options: CreateSandboxOptions) {
    this.log = options.log;
    this.tmpDir = options.tmpDir ?? os.tmpdir();
    this.defaults = mergeLimits(DEFAULT_LIMITS, options.defaults);
    const bwrapPath = options.bwrapPath === undefined ? findBwrap() : isExecutable(options.bwrapPath) ? options.bwrapPath : null;
    if (bwrapPath) this.mode = { kind: 'bwrap', bwrap: probeBwrap(bwrapPath) };
    else if (options.unsafe) this.mode = { kind: 'unsafe' };
    else this.mode = { kind: 'refuse' };
    this.unsafe = this.mode.kind === 'unsafe';
    this.runAs = process.getuid?.() === 0 ? (options.runAs ?? { uid: 65534, gid: 65534 }) : null;
    this.layout = this.mode.kind === 'bwrap' ? rootLayoutArgs() : [];
    this.cgroup =
      this.mode.kind !== 'bwrap'
        ? { ok: false, reason: 'no bubblewrap' }
        : options.cgroup === false
          ? { ok: false, reason: 'cgroups turned off' }
          : typeof options.cgroup === 'string'
            ? givenCgroup(options.cgroup)
            : detectCgroup();
    this.niceness = Math.max(0, Math.min(19, Math.floor(options.niceness ?? 10)));
    this.copyInputs = (options.inputs ?? (this.runAs ? 'copy' : 'bind')) === 'copy';
    if (this.mode.kind === 'refuse') this.log.error(MISSING_BWRAP);
    else if (this.mode.kind === 'unsafe') this.log.warn('UNSAFE sandbox: bubblewrap is missing, student code runs directly on this host');
    else if (!this.mode.bwrap?.hasSize) this.log.warn('this bubblewrap has no --size: the work dir is not size-limited (install bubblewrap >= 0.6)');
  }

  writesUnobservable(): string | null {
    if (this.mode.kind === 'unsafe') return UNSAFE_WRITES;
    return this.observerReason;
  }

  /** The observer's binary for a run that asks for it, or null (the reason is kept). */
  private async observer(request: SandboxRequest, base: string): Promise<string | null> {
    if (!request.observeWrites || this.mode.kind !== 'bwrap') return null;
    const state = await writeObserver(base, this.runAs);
    if (state.ok) return state.binary;
    if (this.observerReason === null) this.log.warn({ reason: state.reason }, 'writes to read-only mounts cannot be observed here');
    this.observerReason = state.reason;
    return null;
  }

  describe(): string {
    if (this.mode.kind === 'refuse') return `sandbox disabled: ${MISSING_BWRAP}`;
    const limits = this.cgroup.ok
      ? `limits: cgroup v2 per run under ${this.cgroup.support.parent} (${this.cgroup.support.controllers.join(', ')}) and rlimits (CPU, processes, file size, open files, no core), wall clock and output counted by the server`
      : `limits: rlimits (CPU, processes, file size, open files, no core; memory as private writable data per process), the whole process tree's resident memory watched by the server, wall clock and output counted by the server; no cgroup v2 limits (${this.cgroup.reason})`;
    const user = this.runAs ? `; runs as host uid ${this.runAs.uid}` : '';
    if (this.mode.kind === 'unsafe') {
      return `UNSAFE development sandbox: bubblewrap is missing and LECTERN_UNSAFE_SANDBOX is set, so code runs on this host without isolation (no namespaces, work dir not size-limited); ${limits}${user}`;
    }
    const b = this.mode.bwrap!;
    const work = b.hasSize ? 'size-limited tmpfs /work' : 'tmpfs /work NOT size-limited (bwrap lacks --size)';
    return `${b.version} (${b.path}): new user/pid/net/ipc/uts/mount/cgroup namespaces, read-only /usr, ${work}; ${limits}${user}`;
  }

  private baseDir(): Promise<string> {
    this.base ??= (async () => {
      const dir = await openBaseDir(this.tmpDir);
      if (this.mode.kind === 'bwrap') await writeEtcFiles(dir);
      return dir;
    })();
    return this.base;
  }

  async run(request: SandboxRequest): Promise<SandboxResult> {
    if (this.mode.kind === 'refuse') return emptyResult('error', MISSING_BWRAP);
    const problem = validateRequest(request);
    if (problem) return emptyResult('error', `bad sandbox request: ${problem}`);
    if (request.signal?.aborted) return emptyResult('error', 'aborted before it started');
    const limits = mergeLimits(this.defaults, request.limits);
    let runDir: string | null = null;
    let cg: RunCgroup | null = null;
    try {
      const base = await this.baseDir();
      const needsDir = this.mode.kind === 'unsafe' || (request.inputs?.length ?? 0) > 0 || Object.keys(request.files ?? {}).length > 0;
      // Named by this pid, so that a start-up sweep can tell the runs of a dead server (sweep.ts).
      if (needsDir) runDir = await fs.mkdtemp(runDirPrefix(base));
      cg = await this.runCgroup(limits);
      const observer = await this.observer(request, base);
      const plan = this.mode.kind === 'unsafe' ? await planUnsafe(request, limits, runDir!, this.niceness, this.runAs) : await this.planBwrap(request, limits, base, runDir, cg, observer);
      let result = await execute(plan, request, limits, { runAs: this.runAs, unsafe: this.unsafe });
      if (request.observeWrites && !plan.observed) result = { ...result, readOnlyWrites: null, readOnlyWritesUnobserved: this.writesUnobservable() ?? 'not observed' };
      if (cg && (result.status === 'ok' || result.status === 'crashed' || result.status === 'memory') && (await cg.oomKilled())) {
        return { ...result, status: 'memory', message: `killed by the out-of-memory killer at the memory limit of ${limits.memoryBytes} bytes` };
      }
      return result;
    } catch (err) {
      this.log.error({ err }, 'sandbox run failed to start');
      return emptyResult('error', `the sandbox could not start: ${(err as Error).message}`);
    } finally {
      if (cg) await cg.destroy().catch((err: unknown) => this.log.warn({ err }, 'could not remove a sandbox cgroup'));
      if (runDir) await fs.rm(runDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** This run's cgroup, or null to rely on rlimits (a cgroup failure never fails the run). */
  private async runCgroup(limits: SandboxLimits): Promise<RunCgroup | null> {
    const detection = this.cgroup;
    if (!detection.ok) return null;
    this.cgroupReady ??= prepareParent(detection.support).then(
      () => detection.support,
      (err: unknown) => {
        this.log.warn({ err }, 'the delegated cgroup cannot be used: falling back to rlimits');
        this.cgroup = { ok: false, reason: `setting up ${detection.support.parent} failed: ${(err as Error).message}` };
        return null;
      },
    );
    const support = await this.cgroupReady;
    if (!support) return null;
    try {
      return await RunCgroup.create(support, limits);
    } catch (err) {
      this.log.warn({ err }, 'could not create a cgroup for a sandbox run: rlimits only for this run');
      return null;
    }
  }

  /** Prepares the host side of a bwrap run, then builds its plan from what was found. */
  private async planBwrap(request: SandboxRequest, limits: SandboxLimits, base: string, runDir: string | null, cg: RunCgroup | null, observer: string | null): Promise<Plan> {
    const prepared = await prepareBwrap(request, runDir, this.copyInputs, this.runAs);
    const memory = cg !== null && this.cgroup.ok && this.cgroup.support.controllers.includes('memory');
    return bwrapPlan({
      request,
      limits,
      bwrap: this.mode.bwrap!,
      niceness: this.niceness,
      etcDir: path.join(base, 'etc'),
      layout: this.layout,
      ...prepared,
      runAs: this.runAs,
      cgroup: cg ? { procsFile: cg.procsFile, memory } : null,
      observer,
    });
  }
}

export function createSandbox(options: CreateSandboxOptions): Sandbox {
  return new HostSandbox(options);
}
