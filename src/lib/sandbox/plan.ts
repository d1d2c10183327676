import path from 'node:path';
import type { SandboxInput, SandboxLimits, SandboxRequest } from './types.js';
import { WRAPPER_SCRIPT } from './wrapper.js';
import { relPath } from './request.js';
import { OBSERVER_MOUNT } from './observer.js';

/**
 * The plan of a run: which program the server spawns with which arguments (bwrap's mounts and
 * namespaces, the wrapper's rlimits, the cgroup hop). Pure functions of a validated request and
 * of what the host was found to hold (prepare.ts and host.ts look; nothing here touches the host),
 * so that the sandbox's shape can be checked without running anything (test/sandbox/plan.test.ts).
 */

export interface Plan {
  file: string;
  args: string[];
  cwd: string;
  infoFd: boolean;
  /** Spawn as the sandbox user (when the server runs as root). */
  dropUid: boolean;
  /** No cgroup holds the memory limit: the server watches the whole tree (memory-watchdog.ts). */
  treeMemory?: boolean;
  /** The command runs under the write observer. */
  observed?: boolean;
}

/** The names the environment builder must create as mount points in a root's /etc. */
export const SANDBOX_ETC_FILES = ['passwd', 'group', 'nsswitch.conf', 'hosts', 'resolv.conf'] as const;
/** The content of Lectern's own /etc files (written once into the base dir, bound read-only). */
export const ETC_FILES: Record<(typeof SANDBOX_ETC_FILES)[number], string> = {
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
export const HOST_ETC = ['/etc/ld.so.cache', '/etc/localtime', '/etc/alternatives'];
/**
 * Host /etc folders that Debian's toolchains link into from /usr and cannot start without (the
 * JDK's conf/security/java.security and friends point into /etc/java-NN-openjdk); they hold
 * configuration only, no secrets.
 */
export const HOST_ETC_DIRS = ['/etc/java-17-openjdk', '/etc/java-21-openjdk', '/etc/java-25-openjdk', '/etc/ssl/certs', '/etc/python3', '/etc/perl'];

/** The whole environment of the command: PATH, HOME and LANG, then the request's own. */
export function envList(request: SandboxRequest, home: string): string[] {
  const env: Record<string, string> = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', ...request.env };
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

/**
 * The wrapper's positional arguments (wrapper.ts): the rlimits, niceness, the write observer's
 * path inside the sandbox ('' for none), copies, collected paths, env, argv.
 */
export function wrapperArgs(limits: SandboxLimits, niceness: number, copies: string[][], request: SandboxRequest, env: string[], memoryByCgroup = false, observer = ''): string[] {
  const collect = (request.collect ?? []).map((c) => relPath(c)!);
  return [
    String(Math.max(1, Math.ceil(limits.cpuSeconds))),
    // RLIMIT_DATA (private writable memory), not RLIMIT_AS: address space that is only reserved
    // (PROT_NONE, as JVMs, Go and sanitizers do) is not counted. With memory.max on the whole
    // sandbox neither is needed.
    memoryByCgroup ? 'unlimited' : String(Math.max(1024, Math.floor(limits.memoryBytes / 1024))),
    String(Math.max(1, Math.floor(limits.fileSizeBytes / 1024))),
    String(Math.max(8, Math.floor(limits.openFiles))),
    // The wrapper itself is counted in the namespace's processes, and so is the observer.
    String(Math.max(2, Math.floor(limits.processes) + 1 + (observer ? 1 : 0))),
    String(niceness),
    observer,
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

/** The arguments of the /bin/bash that runs the wrapper script with these positional arguments. */
export function bashWrapperArgs(wrapper: string[]): string[] {
  return ['--noprofile', '--norc', '-c', WRAPPER_SCRIPT, 'sandbox', ...wrapper];
}

/** A single file cannot become the whole work dir. */
export function checkInputKind(input: SandboxInput, isDir: boolean): void {
  if (!isDir && relPath(input.to) === '.') throw new Error(`input ${input.from} is a file: give it a file name inside the work dir`);
}

function addDirs(dirs: Set<string>, rel: string): void {
  if (rel === '.' || rel === '') return;
  const parts = rel.split('/');
  for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
}

/** How the inputs and files reach the sandbox. */
export type PlanInputs =
  /** Copied on the host into one staging dir (inputs: 'copy'), bound at /.in/stage. */
  | { kind: 'staged'; dir: string }
  /** Each input bound at /.in/<i> (isDir: what each input is), the files written into `filesDir` (or none). */
  | { kind: 'bound'; isDir: boolean[]; filesDir: string | null };

/** Everything a bwrap plan depends on: the request and what the host was found to hold. */
export interface BwrapPlanInput {
  /** A request that passed validateRequest. */
  request: SandboxRequest;
  limits: SandboxLimits;
  bwrap: { path: string; hasSize: boolean; hasDisableUserns: boolean };
  niceness: number;
  /** The host dir holding Lectern's /etc files (ETC_FILES). */
  etcDir: string;
  /** The host's root layout (host.ts rootLayoutArgs), used without a custom root. */
  layout: string[];
  /** With request.root: its top-level folders and symlinks (host.ts customRootArgs). */
  rootArgs?: string[];
  /** With request.root: which of SANDBOX_ETC_FILES it has a mount point for. */
  rootEtcFiles?: ReadonlySet<string>;
  inputs: PlanInputs;
  /** The files of request.hide that exist (regular files). */
  hidden: string[];
  /** The host user bwrap runs as when the server is root, else null. */
  runAs: { uid: number; gid: number } | null;
  /** This run's cgroup (its cgroup.procs, and whether it holds the memory limit), or null: rlimits only. */
  cgroup: { procsFile: string; memory: boolean } | null;
  /** The write observer's host binary, when the request asked for it and the host has one. */
  observer?: string | null;
}

export function bwrapPlan(input: BwrapPlanInput): Plan {
  const { request, limits, bwrap: info } = input;
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
    args.push(...(input.rootArgs ?? []));
  } else {
    args.push('--ro-bind', '/usr', '/usr', ...input.layout);
    for (const file of HOST_ETC) args.push('--ro-bind-try', file, file);
  }
  for (const name of SANDBOX_ETC_FILES) {
    // A read-only root offers no place for a mount point it lacks (a root built before this
    // file joined the list): there the root's own file, or none, stays.
    if (request.root && !input.rootEtcFiles?.has(name)) continue;
    args.push('--ro-bind', path.join(input.etcDir, name), `/etc/${name}`);
  }
  if (!request.root) for (const dir of HOST_ETC_DIRS) args.push('--ro-bind-try', dir, dir);
  const size = (bytes: number) => (info.hasSize ? ['--size', String(Math.max(4096, Math.floor(bytes)))] : []);
  // bwrap's /dev and its root are tmpfs owned by the sandbox user: writable and unbounded
  // unless remounted read-only (done below, once everything is in place).
  args.push('--proc', '/proc', '--dev', '/dev', ...size(limits.workDirBytes), '--tmpfs', '/dev/shm', '--remount-ro', '/dev');
  args.push(...size(limits.workDirBytes), '--tmpfs', '/tmp');
  args.push(...size(limits.workDirBytes), '--tmpfs', work);

  const copies: string[][] = [];
  if (input.inputs.kind === 'staged') {
    args.push('--ro-bind', input.inputs.dir, '/.in/stage');
    copies.push(['/.in/stage/.', work]);
  } else {
    const dirs = new Set<string>();
    for (const [i, one] of (request.inputs ?? []).entries()) {
      const to = relPath(one.to)!;
      const isDir = input.inputs.isDir[i] ?? false;
      checkInputKind(one, isDir);
      args.push('--ro-bind', one.from, `/.in/${i}`);
      if (isDir) {
        if (to !== '.') addDirs(dirs, to);
        copies.push([`/.in/${i}/.`, to === '.' ? work : `${work}/${to}`]);
      } else {
        addDirs(dirs, path.posix.dirname(to));
        copies.push([`/.in/${i}`, `${work}/${to}`]);
      }
    }
    for (const d of [...dirs].sort()) args.push('--dir', `${work}/${d}`);
    if (input.inputs.filesDir) {
      args.push('--ro-bind', input.inputs.filesDir, '/.in/files');
      copies.push(['/.in/files/.', work]);
    }
  }
  // Binds go after the work dir and before the root turns read-only (bwrap makes their mount
  // points on its root tmpfs).
  for (const bind of request.binds ?? []) args.push('--ro-bind', bind.from, path.posix.normalize(bind.to));
  const observer = request.observeWrites && input.observer ? OBSERVER_MOUNT : '';
  if (observer) args.push('--ro-bind', input.observer!, observer);
  // Mounted over the file itself, so no path, copy or loader inside can reach its content.
  for (const file of input.hidden) args.push('--ro-bind', '/dev/null', file);
  args.push('--remount-ro', '/', '--chdir', work);
  const env = envList(request, work);
  const memoryByCgroup = input.cgroup?.memory ?? false;
  args.push('--', '/bin/bash', ...bashWrapperArgs(wrapperArgs(limits, input.niceness, copies, request, env, memoryByCgroup, observer)));
  const observed = observer ? { observed: true } : {};
  if (!input.cgroup) return { file: info.path, args, cwd: '/', infoFd: true, dropUid: true, treeMemory: true, ...observed };
  // bwrap must be in the run's cgroup before it forks anything: a shell moves itself there and
  // becomes bwrap. As root it moves first and drops to the sandbox user afterwards (moving
  // needs write access to the parent cgroup).
  // --pdeathsig after the change of user (which clears it): this hop dies with the server too.
  const drop = input.runAs ? ['/usr/bin/setpriv', `--reuid=${input.runAs.uid}`, `--regid=${input.runAs.gid}`, '--clear-groups', '--pdeathsig=KILL', '--'] : [];
  return {
    file: '/bin/sh',
    args: ['-c', 'echo $$ > "$0" && exec "$@"', input.cgroup.procsFile, ...drop, info.path, ...args],
    cwd: '/',
    infoFd: true,
    dropUid: false,
    treeMemory: !memoryByCgroup,
    ...observed,
  };
}
