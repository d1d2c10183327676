import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, lstatSync, readlinkSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from '../logger.js';
import type { Sandbox, SandboxLimits, SandboxRequest, SandboxResult, SandboxStatus } from './types.js';
import { WRAPPER_SCRIPT } from './wrapper.js';
import { runDirPrefix } from './sweep.js';
import { TarCollector } from './collect.js';
import { watchTreeMemory } from './memory-watchdog.js';
import { detectCgroup, givenCgroup, prepareParent, RunCgroup, type CgroupDetection, type CgroupSupport } from './cgroup.js';
import { procIdentity, sampleTreeCpuMs, stillRunning, waitGone, type ProcIdentity } from './proc.js';

const MiB = 1024 * 1024;

export const DEFAULT_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  wallMs: 10_000,
  cpuSeconds: 10,
  memoryBytes: 512 * MiB,
  processes: 64,
  fileSizeBytes: 64 * MiB,
  openFiles: 256,
  outputBytes: 1 * MiB,
  workDirBytes: 128 * MiB,
});

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

const SEARCH_DIRS = ['/usr/bin', '/usr/local/bin', '/bin', '/usr/sbin', '/usr/local/sbin'];

function isExecutable(file: string): boolean {
  try {
    accessSync(file, fsConstants.X_OK);
    return lstatSync(file).isFile() || lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The bubblewrap binary of this host, or null. */
export function findBwrap(): string | null {
  for (const dir of SEARCH_DIRS) {
    const candidate = path.join(dir, 'bwrap');
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

/** True when real isolation is possible on this host (bubblewrap present and able to start). */
export function sandboxAvailable(): boolean {
  const bwrap = findBwrap();
  if (!bwrap) return false;
  try {
    // As the user the sandbox will run as (see runAs): root can do more than nobody.
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    execFileSync(bwrap, ['--unshare-all', '--ro-bind', '/', '/', '--', '/bin/true'], { stdio: 'ignore', timeout: 5000, ...asNobody });
    return true;
  } catch {
    return false;
  }
}

interface BwrapInfo {
  path: string;
  version: string;
  hasSize: boolean;
  hasDisableUserns: boolean;
}

function probeBwrap(bwrapPath: string): BwrapInfo {
  let help: string;
  let version = 'unknown version';
  try {
    help = execFileSync(bwrapPath, ['--help'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    help = String((err as { stdout?: unknown }).stdout ?? '');
  }
  try {
    version = execFileSync(bwrapPath, ['--version'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // An old bwrap without --version still works; the help text decides the features.
  }
  return { path: bwrapPath, version, hasSize: /--size\b/.test(help), hasDisableUserns: /--disable-userns\b/.test(help) };
}

/** How the host's root is laid out: Debian merges /bin, /lib... into /usr as symlinks. */
function rootLayoutArgs(): string[] {
  const args: string[] = [];
  for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const host = `/${name}`;
    try {
      const st = lstatSync(host);
      if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(host), host);
      else if (st.isDirectory()) args.push('--ro-bind', host, host);
    } catch {
      // Not on this host.
    }
  }
  return args;
}

/**
 * Top-level folders of a custom root the sandbox binds (the rest, /boot, /home, /root, /srv...,
 * hold nothing a program needs); its symlinks (/bin -> usr/bin on Debian) are recreated.
 */
const ROOT_DIRS = new Set(['usr', 'etc', 'var', 'opt']);
const rootArgsCache = new Map<string, string[]>();

const rootFiles = new Map<string, boolean>();
/** Whether a (never changing) root filesystem has this regular file; asked once per root and file. */
async function rootHasFile(root: string, rel: string): Promise<boolean> {
  const key = `${root}\0${rel}`;
  let has = rootFiles.get(key);
  if (has === undefined) {
    has = await fs.lstat(path.join(root, rel)).then((st) => st.isFile(), () => false);
    if (rootFiles.size > 4096) rootFiles.clear();
    rootFiles.set(key, has);
  }
  return has;
}

async function customRootArgs(root: string): Promise<string[]> {
  const cached = rootArgsCache.get(root);
  if (cached) return cached;
  const args: string[] = [];
  for (const entry of (await fs.readdir(root, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const full = path.join(root, entry.name);
    if (entry.isSymbolicLink()) {
      const target = await fs.readlink(full);
      if (!target.startsWith('/') && !target.split('/').includes('..')) args.push('--symlink', target, `/${entry.name}`);
    } else if (entry.isDirectory() && ROOT_DIRS.has(entry.name)) args.push('--ro-bind', full, `/${entry.name}`);
  }
  if (!args.includes('/usr')) throw new Error(`${root} is not a root filesystem (it has no /usr)`);
  // Roots are immutable once built (a new spec is a new folder), so the list never goes stale.
  if (rootArgsCache.size > 256) rootArgsCache.clear();
  rootArgsCache.set(root, args);
  return args;
}

/** The names the environment builder must create as mount points in a root's /etc. */
export const SANDBOX_ETC_FILES = ['passwd', 'group', 'nsswitch.conf', 'hosts', 'resolv.conf'] as const;
const ETC_FILES: Record<(typeof SANDBOX_ETC_FILES)[number], string> = {
  passwd:
    'root:x:0:0:root:/root:/usr/sbin/nologin\n' +
    'sandbox:x:1000:1000:sandbox:/work:/bin/sh\n' +
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
  group: 'root:x:0:\nsandbox:x:1000:\nnogroup:x:65534:\n',
  'nsswitch.conf': 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nservices: files\nprotocols: files\n',
  hosts: '127.0.0.1 localhost sandbox\n::1 localhost ip6-localhost ip6-loopback\n',
  // A name lookup goes to a documentation address (RFC 5737) that no network routes: it fails at
  // once, as before, and the netns's OutNoRoutes counter records it as a network attempt.
  'resolv.conf': 'nameserver 192.0.2.53\noptions timeout:1 attempts:1\n',
};
/** Host files that programs need and that say nothing about the host beyond its distribution. */
const HOST_ETC = ['/etc/ld.so.cache', '/etc/localtime', '/etc/alternatives'];
/**
 * Host /etc folders that Debian's toolchains link into from /usr and cannot start without (the
 * JDK's conf/security/java.security and friends point into /etc/java-NN-openjdk); they hold
 * configuration only, no secrets.
 */
const HOST_ETC_DIRS = ['/etc/java-17-openjdk', '/etc/java-21-openjdk', '/etc/java-25-openjdk', '/etc/ssl/certs', '/etc/python3', '/etc/perl'];

/** Runs left behind by a process that died mid-run are removed after this long. */
const STALE_RUN_MS = 24 * 3600 * 1000;

/**
 * One base dir per host user (not per process: processes killed without running exit hooks,
 * like test workers, would leave one each), refusing a path someone else could have prepared.
 */
async function openBaseDir(tmpDir: string): Promise<string> {
  const uid = process.getuid?.() ?? 0;
  const dir = path.join(tmpDir, `lectern-sandbox-${uid}`);
  await fs.mkdir(dir, { mode: 0o711 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  const st = await fs.lstat(dir);
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) {
    throw new Error(`${dir} is not a private directory of this user: remove it`);
  }
  // The sandbox user (when dropping from root) must traverse to its bound files.
  await fs.chmod(dir, 0o711);
  const now = Date.now();
  for (const entry of await fs.readdir(dir)) {
    if (!entry.startsWith('run-')) continue;
    const full = path.join(dir, entry);
    const age = now - (await fs.stat(full).catch(() => ({ mtimeMs: now }))).mtimeMs;
    if (age > STALE_RUN_MS) await fs.rm(full, { recursive: true, force: true }).catch(() => undefined);
  }
  return dir;
}

/** Writes a file so that a concurrent reader (another server's sandbox) never sees half of it. */
async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await fs.writeFile(tmp, text, { mode: 0o644 });
  await fs.chmod(tmp, 0o644);
  await fs.rename(tmp, file);
}

/** Where the sandbox's own mounts live: a bind may not cover them. */
const RESERVED_MOUNTS = /^\/(usr|bin|sbin|lib\w*|etc|proc|dev|tmp|work|\.in)(\/|$)/;

const SAFE_REL = /^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[^\0]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A work dir is one new folder under / (Gradescope's /autograder, PrairieLearn's /grade), never a system one. */
const WORK_DIR = /^\/(?!(?:usr|bin|sbin|lib|lib32|lib64|libx32|etc|proc|dev|tmp|sys|run|var|root|boot|\.in)$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

function relPath(p: string): string | null {
  if (typeof p !== 'string' || !SAFE_REL.test(p) || p.length > 1024) return null;
  const n = path.posix.normalize(p);
  if (n.startsWith('../') || n === '..' || n.startsWith('/')) return null;
  return n.replace(/\/$/, '') || '.';
}

function validate(req: SandboxRequest): string | null {
  if (!Array.isArray(req.command) || req.command.length === 0) return 'the command is empty';
  if (req.command.some((a) => typeof a !== 'string' || a.includes('\0'))) return 'the command must be a list of strings without NUL bytes';
  for (const input of req.inputs ?? []) {
    if (typeof input.from !== 'string' || !path.isAbsolute(input.from)) return `input "${String(input.from)}" must be an absolute host path`;
    if (relPath(input.to) === null) return `input target "${String(input.to)}" must be a relative path inside the work dir`;
  }
  for (const bind of req.binds ?? []) {
    if (typeof bind.from !== 'string' || !path.isAbsolute(bind.from)) return `bind "${String(bind.from)}" must be an absolute host path`;
    const to = typeof bind.to === 'string' ? path.posix.normalize(bind.to) : '';
    if (!/^\/[A-Za-z0-9._-]/.test(to) || to.includes('/../') || RESERVED_MOUNTS.test(to)) return `bind target "${String(bind.to)}" must be an absolute path outside the system and work dirs`;
  }
  for (const file of req.hide ?? []) {
    if (typeof file !== 'string' || file.includes('\0') || path.posix.normalize(file) !== file || !file.startsWith('/usr/')) return `hidden file "${String(file)}" must be a normalised absolute path under /usr`;
  }
  for (const name of Object.keys(req.files ?? {})) {
    const rel = relPath(name);
    if (rel === null || rel === '.') return `file name "${name}" must be a relative path inside the work dir`;
  }
  for (const name of req.collect ?? []) {
    const rel = relPath(name);
    if (rel === null || rel === '.') return `collected path "${name}" must be a relative path inside the work dir`;
  }
  for (const [name, value] of Object.entries(req.env ?? {})) {
    if (!ENV_NAME.test(name)) return `environment variable name "${name}" is not valid`;
    if (typeof value !== 'string' || value.includes('\0')) return `environment variable ${name} must be a string without NUL bytes`;
  }
  for (const [name, value] of Object.entries(req.limits ?? {})) {
    if (!(name in DEFAULT_LIMITS)) return `unknown limit "${name}"`;
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return `limit ${name} must be a positive number`;
  }
  if (req.workDir !== undefined && !WORK_DIR.test(req.workDir)) return `work dir "${String(req.workDir)}" must be a folder like /work, directly under / and not a system folder`;
  if (req.root !== undefined && (typeof req.root !== 'string' || !path.isAbsolute(req.root))) return 'root must be an absolute host path';
  for (const b of req.binds ?? []) {
    if (typeof b.from !== 'string' || !path.isAbsolute(b.from)) return `bind "${String(b.from)}" must be an absolute host path`;
    if (typeof b.to !== 'string' || !path.isAbsolute(b.to) || b.to.split('/').includes('..') || /^\/(proc|dev|tmp|\.in)(\/|$)/.test(b.to) || b.to === (req.workDir ?? '/work') || b.to.startsWith(`${req.workDir ?? '/work'}/`)) {
      return `bind target "${String(b.to)}" must be an absolute path outside /proc, /dev, /tmp and the work dir`;
    }
  }
  if (req.collectBytes !== undefined && !(typeof req.collectBytes === 'number' && req.collectBytes >= 0)) return 'collectBytes must be a number of bytes';
  return null;
}

/** Limits with the ones given (leaving out those given as undefined) over the defaults. */
function mergeLimits(base: SandboxLimits, over: Partial<SandboxLimits> | undefined): SandboxLimits {
  const merged = { ...base };
  for (const [name, value] of Object.entries(over ?? {}) as Array<[keyof SandboxLimits, number | undefined]>) {
    if (typeof value === 'number' && Number.isFinite(value) && value > 0) merged[name] = value;
  }
  return merged;
}

function emptyResult(status: SandboxStatus, message: string, wallMs = 0): SandboxResult {
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

const SIGNAL_NAMES = new Map<number, string>(Object.entries(os.constants.signals).map(([name, num]) => [num, name]));

/** Messages runtimes print when an allocation fails under RLIMIT_DATA. */
const OUT_OF_MEMORY = /MemoryError|std::bad_alloc|Cannot allocate memory|out of memory|xmalloc: cannot allocate|failed to allocate|OutOfMemoryError|insufficient memory for the Java Runtime/i;

type KillReason = 'timeout' | 'output_limit' | 'aborted' | 'memory';

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
      if (this.mode.kind === 'bwrap') {
        await fs.mkdir(path.join(dir, 'etc'), { mode: 0o755, recursive: true });
        await fs.chmod(path.join(dir, 'etc'), 0o755);
        for (const [name, text] of Object.entries(ETC_FILES)) await writeAtomic(path.join(dir, 'etc', name), text);
      }
      return dir;
    })();
    return this.base;
  }

  async run(request: SandboxRequest): Promise<SandboxResult> {
    if (this.mode.kind === 'refuse') return emptyResult('error', MISSING_BWRAP);
    const problem = validate(request);
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
      const plan = this.mode.kind === 'unsafe' ? await this.planUnsafe(request, limits, runDir!) : await this.planBwrap(request, limits, runDir, cg);
      const result = await this.execute(plan, request, limits);
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

  private envList(request: SandboxRequest, home: string): string[] {
    const env: Record<string, string> = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', ...request.env };
    return Object.entries(env).map(([k, v]) => `${k}=${v}`);
  }

  private wrapperArgs(limits: SandboxLimits, copies: string[][], request: SandboxRequest, env: string[], memoryByCgroup = false): string[] {
    const collect = (request.collect ?? []).map((c) => relPath(c)!);
    return [
      String(Math.max(1, Math.ceil(limits.cpuSeconds))),
      // RLIMIT_DATA (private writable memory), not RLIMIT_AS: address space that is only reserved
      // (PROT_NONE, as JVMs, Go and sanitizers do) is not counted. With memory.max on the whole
      // sandbox neither is needed.
      memoryByCgroup ? 'unlimited' : String(Math.max(1024, Math.floor(limits.memoryBytes / 1024))),
      String(Math.max(1, Math.floor(limits.fileSizeBytes / 1024))),
      String(Math.max(8, Math.floor(limits.openFiles))),
      // The wrapper itself is counted in the namespace's processes.
      String(Math.max(2, Math.floor(limits.processes) + 1)),
      String(this.niceness),
      String(copies.length),
      ...copies.flat(),
      String(collect.length),
      ...collect,
      String(env.length),
      ...env,
      '--',
      ...request.command,
    ];
  }

  /** Host-side copies (unsafe mode: there is nothing to bind). */
  private async planUnsafe(request: SandboxRequest, limits: SandboxLimits, runDir: string): Promise<Plan> {
    const work = path.join(runDir, 'work');
    await fs.mkdir(work);
    await this.stage(request, work);
    if (this.runAs) await chownTree(runDir, this.runAs);
    const env = this.envList(request, work);
    return {
      file: '/bin/bash',
      args: ['--noprofile', '--norc', '-c', WRAPPER_SCRIPT, 'sandbox', ...this.wrapperArgs(limits, [], request, env)],
      cwd: work,
      infoFd: false,
      dropUid: true,
    };
  }

  /** Copies inputs and files into `dir` on the host. */
  private async stage(request: SandboxRequest, dir: string): Promise<void> {
    for (const input of request.inputs ?? []) {
      const target = path.join(dir, relPath(input.to)!);
      await fs.cp(input.from, target, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, force: true });
    }
    const executable = new Set(request.executable ?? []);
    for (const [name, content] of Object.entries(request.files ?? {})) {
      const target = path.join(dir, relPath(name)!);
      await fs.mkdir(path.dirname(target), { recursive: true });
      await fs.writeFile(target, content, { mode: executable.has(name) ? 0o755 : 0o644 });
    }
  }

  private async planBwrap(request: SandboxRequest, limits: SandboxLimits, runDir: string | null, cg: RunCgroup | null): Promise<Plan> {
    const info = this.mode.bwrap!;
    const base = await this.baseDir();
    const etc = path.join(base, 'etc');
    const args: string[] = [
      '--unshare-all',
      '--unshare-user',
      ...(info.hasDisableUserns ? ['--disable-userns'] : []),
      '--die-with-parent',
      '--new-session',
      '--as-pid-1',
      '--cap-drop', 'ALL',
      '--clearenv',
      '--uid', '1000',
      '--gid', '1000',
      '--hostname', 'sandbox',
      '--info-fd', '4',
    ];
    const work = request.workDir ?? '/work';
    if (request.root) {
      // The assignment's own root filesystem (its environment), read-only, instead of the host's:
      // its top-level folders one by one on bwrap's root, so that the mount points this sandbox
      // adds (/work, /tmp, /.in...) need not exist in it.
      args.push(...(await customRootArgs(request.root)));
    } else {
      args.push('--ro-bind', '/usr', '/usr', ...this.layout);
      for (const file of HOST_ETC) args.push('--ro-bind-try', file, file);
    }
    for (const name of SANDBOX_ETC_FILES) {
      // A read-only root offers no place for a mount point it lacks (a root built before this
      // file joined the list): there the root's own file, or none, stays.
      if (request.root && !(await rootHasFile(request.root, `etc/${name}`))) continue;
      args.push('--ro-bind', path.join(etc, name), `/etc/${name}`);
    }
    if (!request.root) for (const dir of HOST_ETC_DIRS) args.push('--ro-bind-try', dir, dir);
    const size = (bytes: number) => (info.hasSize ? ['--size', String(Math.max(4096, Math.floor(bytes)))] : []);
    // bwrap's /dev and its root are tmpfs owned by the sandbox user: writable and unbounded
    // unless remounted read-only (done below, once everything is in place).
    args.push('--proc', '/proc', '--dev', '/dev', ...size(limits.workDirBytes), '--tmpfs', '/dev/shm', '--remount-ro', '/dev');
    args.push(...size(limits.workDirBytes), '--tmpfs', '/tmp');
    args.push(...size(limits.workDirBytes), '--tmpfs', work);

    const copies: string[][] = [];
    const inputs = request.inputs ?? [];
    const files = Object.entries(request.files ?? {});
    if (runDir && this.copyInputs) {
      const stageDir = path.join(runDir, 'stage');
      await fs.mkdir(stageDir);
      await this.stage(request, stageDir);
      args.push('--ro-bind', stageDir, '/.in/stage');
      copies.push(['/.in/stage/.', work]);
    } else {
      const dirs = new Set<string>();
      for (const [i, input] of inputs.entries()) {
        const to = relPath(input.to)!;
        const isDir = (await fs.stat(input.from)).isDirectory();
        args.push('--ro-bind', input.from, `/.in/${i}`);
        if (isDir) {
          if (to !== '.') addDirs(dirs, to);
          copies.push([`/.in/${i}/.`, to === '.' ? work : `${work}/${to}`]);
        } else {
          if (to === '.') throw new Error(`input ${input.from} is a file: give it a file name inside the work dir`);
          addDirs(dirs, path.posix.dirname(to));
          copies.push([`/.in/${i}`, `${work}/${to}`]);
        }
      }
      for (const d of [...dirs].sort()) args.push('--dir', `${work}/${d}`);
      if (files.length && runDir) {
        const fileDir = path.join(runDir, 'files');
        await fs.mkdir(fileDir);
        const executable = new Set(request.executable ?? []);
        for (const [name, content] of files) {
          const target = path.join(fileDir, relPath(name)!);
          await fs.mkdir(path.dirname(target), { recursive: true });
          await fs.writeFile(target, content, { mode: executable.has(name) ? 0o755 : 0o644 });
        }
        args.push('--ro-bind', fileDir, '/.in/files');
        copies.push(['/.in/files/.', work]);
      }
    }
    // Binds go after the work dir and before the root turns read-only (bwrap makes their mount
    // points on its root tmpfs).
    for (const bind of request.binds ?? []) args.push('--ro-bind', bind.from, path.posix.normalize(bind.to));
    // Mounted over the file itself, so no path, copy or loader inside can reach its content.
    for (const file of request.hide ?? []) if ((await fs.lstat(file).catch(() => null))?.isFile()) args.push('--ro-bind', '/dev/null', file);
    if (runDir && this.runAs) await chownTree(runDir, this.runAs);
    args.push('--remount-ro', '/', '--chdir', work);
    const env = this.envList(request, work);
    const memoryByCgroup = cg !== null && this.cgroup.ok && this.cgroup.support.controllers.includes('memory');
    args.push('--', '/bin/bash', '--noprofile', '--norc', '-c', WRAPPER_SCRIPT, 'sandbox', ...this.wrapperArgs(limits, copies, request, env, memoryByCgroup));
    if (!cg) return { file: info.path, args, cwd: '/', infoFd: true, dropUid: true, treeMemory: true };
    // bwrap must be in the run's cgroup before it forks anything: a shell moves itself there and
    // becomes bwrap. As root it moves first and drops to the sandbox user afterwards (moving
    // needs write access to the parent cgroup).
    // --pdeathsig after the change of user (which clears it): this hop dies with the server too.
    const drop = this.runAs ? ['/usr/bin/setpriv', `--reuid=${this.runAs.uid}`, `--regid=${this.runAs.gid}`, '--clear-groups', '--pdeathsig=KILL', '--'] : [];
    return {
      file: '/bin/sh',
      args: ['-c', 'echo $$ > "$0" && exec "$@"', cg.procsFile, ...drop, info.path, ...args],
      cwd: '/',
      infoFd: true,
      dropUid: false,
      treeMemory: !memoryByCgroup,
    };
  }

  private execute(plan: Plan, request: SandboxRequest, limits: SandboxLimits): Promise<SandboxResult> {
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
          ...(this.runAs && plan.dropUid ? { uid: this.runAs.uid, gid: this.runAs.gid } : {}),
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
        // Kill the sandbox's pid 1: the kernel then kills the rest of the pid namespace, and bwrap,
        // which waits for it, exits only once the namespace is empty, after reaping it (killing
        // bwrap first would leave pid 1 to be reaped by whatever reaps orphans on this host).
        // bwrap's process group is killed as well when that did not end it promptly.
        const doKill = async () => {
          const init = sandboxInit ? await sandboxInit : null;
          if (init && exit === null && (await stillRunning(init))) {
            try {
              process.kill(init.pid, 'SIGKILL');
            } catch {
              // Already gone.
            }
            setTimeout(() => {
              if (exit === null) killGroup();
            }, 500).unref();
          } else {
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
          ...classify({ exit, killedFor, spawnError, control, limits, stderr, killCpuMs, unsafe: this.unsafe }),
          leftProcesses: killedFor ? null : control.leftProcesses,
          networkAttempts: killedFor ? null : control.networkAttempts,
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
}

interface Plan {
  file: string;
  args: string[];
  cwd: string;
  infoFd: boolean;
  /** Spawn as the sandbox user (when the server runs as root). */
  dropUid: boolean;
  /** No cgroup holds the memory limit: the server watches the whole tree (memory-watchdog.ts). */
  treeMemory?: boolean;
}

function addDirs(dirs: Set<string>, rel: string): void {
  if (rel === '.' || rel === '') return;
  const parts = rel.split('/');
  for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
}

async function chownTree(root: string, owner: { uid: number; gid: number }): Promise<void> {
  await fs.lchown(root, owner.uid, owner.gid);
  const entries = await fs.readdir(root, { withFileTypes: true, recursive: true });
  for (const entry of entries) {
    await fs.lchown(path.join(entry.parentPath, entry.name), owner.uid, owner.gid);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Fd 3 of the wrapper: "error ..." if it failed before starting the command, else "start", then
 * "exit N", the `times` lines, "data" and the tar of the collected files. The sandboxed program
 * cannot reopen this descriptor (a socket), but nothing it could write after "start" is trusted
 * beyond what it could fake anyway (its own CPU figure and files): the exit status comes from
 * bwrap, and "error" counts only before "start".
 */
class ControlChannel {
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

function classify(args: {
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

export function createSandbox(options: CreateSandboxOptions): Sandbox {
  return new HostSandbox(options);
}
