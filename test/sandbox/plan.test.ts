// Unit tests of the sandbox's plan (src/lib/sandbox/plan.ts, unsafe.ts): the bwrap argument list,
// mounts, namespaces, the wrapper's rlimits and the cgroup hop, built without running anything.
import { describe, expect, it } from 'vitest';
import { bwrapPlan, ETC_FILES, HOST_ETC, HOST_ETC_DIRS, SANDBOX_ETC_FILES, type BwrapPlanInput, type Plan } from '../../src/lib/sandbox/plan.js';
import { unsafePlan } from '../../src/lib/sandbox/unsafe.js';
import { DEFAULT_LIMITS } from '../../src/lib/sandbox/request.js';
import { WRAPPER_SCRIPT } from '../../src/lib/sandbox/wrapper.js';
import type { SandboxLimits, SandboxRequest } from '../../src/lib/sandbox/types.js';

const MiB = 1024 * 1024;
const LIMITS: SandboxLimits = { ...DEFAULT_LIMITS };
const LAYOUT = ['--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib'];

function input(request: SandboxRequest, over: Partial<BwrapPlanInput> = {}): BwrapPlanInput {
  return {
    request,
    limits: LIMITS,
    bwrap: { path: '/usr/bin/bwrap', hasSize: true, hasDisableUserns: true },
    niceness: 10,
    etcDir: '/base/etc',
    layout: LAYOUT,
    inputs: { kind: 'bound', isDir: [], filesDir: null },
    hidden: [],
    runAs: null,
    cgroup: null,
    ...over,
  };
}

/** Operands of each bwrap option (how many each takes). */
const ARITY: Record<string, number> = {
  '--unshare-all': 0, '--unshare-user': 0, '--disable-userns': 0, '--die-with-parent': 0, '--new-session': 0, '--as-pid-1': 0, '--clearenv': 0,
  '--cap-drop': 1, '--uid': 1, '--gid': 1, '--hostname': 1, '--info-fd': 1, '--proc': 1, '--dev': 1, '--tmpfs': 1, '--size': 1, '--remount-ro': 1, '--dir': 1, '--chdir': 1,
  '--ro-bind': 2, '--ro-bind-try': 2, '--bind': 2, '--bind-try': 2, '--symlink': 2,
};

/** bwrap's options up to "--", each with its operands; throws on an option this test does not know. */
function bwrapOptions(args: string[]): string[][] {
  const out: string[][] = [];
  let i = 0;
  while (args[i] !== '--') {
    const flag = args[i]!;
    const n = ARITY[flag];
    if (n === undefined) throw new Error(`unexpected bwrap argument ${flag}`);
    out.push(args.slice(i, i + 1 + n));
    i += 1 + n;
  }
  return out;
}

/** The bwrap part of a plan (after the cgroup hop, when there is one). */
function bwrapArgs(plan: Plan): string[] {
  const at = plan.args.indexOf('/usr/bin/bwrap');
  return plan.file === '/usr/bin/bwrap' ? plan.args : plan.args.slice(at + 1);
}

function mountsOf(plan: Plan, flag: string): string[][] {
  return bwrapOptions(bwrapArgs(plan))
    .filter((o) => o[0] === flag)
    .map((o) => o.slice(1));
}

/** The wrapper's positional arguments (wrapper.ts), read back. */
function wrapperOf(plan: Plan) {
  const at = plan.args.indexOf(WRAPPER_SCRIPT);
  expect(plan.args.slice(at - 3, at + 2)).toEqual(['--noprofile', '--norc', '-c', WRAPPER_SCRIPT, 'sandbox']);
  const rest = plan.args.slice(at + 2);
  const [cpu, mem, fsize, nofile, nproc, nice, observer] = rest.splice(0, 7);
  const take = (pairs = 1) => {
    const n = Number(rest.shift());
    return rest.splice(0, n * pairs);
  };
  const copiesFlat = take(2);
  const copies: string[][] = [];
  for (let i = 0; i < copiesFlat.length; i += 2) copies.push(copiesFlat.slice(i, i + 2));
  const collect = take();
  const env = take();
  expect(rest.shift()).toBe('--');
  return { cpu, mem, fsize, nofile, nproc, nice, observer, copies, collect, env, argv: rest };
}

describe('bwrap plan: namespaces and identity', () => {
  const plan = bwrapPlan(input({ command: ['python3', 'main.py'] }));

  it('spawns bwrap itself from / as the sandbox user, with bwrap reporting on fd 4', () => {
    expect(plan).toMatchObject({ file: '/usr/bin/bwrap', cwd: '/', infoFd: true, dropUid: true, treeMemory: true });
  });

  it('unshares every namespace (the network included: no --share-net), with no nested user namespace', () => {
    const opts = bwrapOptions(plan.args).map((o) => o.join(' '));
    expect(opts.slice(0, 14)).toEqual([
      '--unshare-all',
      '--unshare-user',
      '--disable-userns',
      '--die-with-parent',
      '--new-session',
      '--as-pid-1',
      '--cap-drop ALL',
      '--clearenv',
      '--uid 1000',
      '--gid 1000',
      '--hostname sandbox',
      '--info-fd 4',
      '--ro-bind /usr /usr',
      '--symlink usr/bin /bin',
    ]);
    expect(plan.args).not.toContain('--share-net');
  });

  it('leaves out --disable-userns and --size when this bwrap lacks them', () => {
    const old = bwrapPlan(input({ command: ['true'] }, { bwrap: { path: '/usr/bin/bwrap', hasSize: false, hasDisableUserns: false } }));
    expect(old.args).not.toContain('--disable-userns');
    expect(old.args).not.toContain('--size');
    expect(old.args).toContain('--unshare-user');
  });

  it('runs the wrapper with bash after "--", with the command last', () => {
    const at = plan.args.indexOf('--');
    expect(plan.args.slice(at, at + 2)).toEqual(['--', '/bin/bash']);
    expect(wrapperOf(plan).argv).toEqual(['python3', 'main.py']);
  });
});

describe('bwrap plan: the filesystem', () => {
  it("binds the host's /usr, its root layout and a few /etc files read-only, and Lectern's own /etc files", () => {
    const plan = bwrapPlan(input({ command: ['true'] }));
    expect(mountsOf(plan, '--symlink')).toEqual([
      ['usr/bin', '/bin'],
      ['usr/lib', '/lib'],
    ]);
    expect(mountsOf(plan, '--ro-bind-try')).toEqual([...HOST_ETC, ...HOST_ETC_DIRS].map((f) => [f, f]));
    expect(mountsOf(plan, '--ro-bind')).toEqual([['/usr', '/usr'], ...SANDBOX_ETC_FILES.map((f) => [`/base/etc/${f}`, `/etc/${f}`])]);
    expect(Object.keys(ETC_FILES).sort()).toEqual([...SANDBOX_ETC_FILES].sort());
  });

  it('has no writable bind of a host path: the writable places are size-limited tmpfs, and / and /dev end read-only', () => {
    const plan = bwrapPlan(input({ command: ['true'], limits: { workDirBytes: 8 * MiB } }, { limits: { ...LIMITS, workDirBytes: 8 * MiB } }));
    const opts = bwrapOptions(plan.args);
    expect(opts.filter((o) => o[0] === '--bind' || o[0] === '--bind-try')).toEqual([]);
    const tail = opts.slice(opts.findIndex((o) => o[0] === '--proc')).map((o) => o.join(' '));
    expect(tail).toEqual([
      '--proc /proc',
      '--dev /dev',
      `--size ${8 * MiB}`,
      '--tmpfs /dev/shm',
      '--remount-ro /dev',
      `--size ${8 * MiB}`,
      '--tmpfs /tmp',
      `--size ${8 * MiB}`,
      '--tmpfs /work',
      '--remount-ro /',
      '--chdir /work',
    ]);
  });

  it('gives each tmpfs at least 4096 bytes', () => {
    const plan = bwrapPlan(input({ command: ['true'] }, { limits: { ...LIMITS, workDirBytes: 10.5 } }));
    expect(mountsOf(plan, '--size')).toEqual([['4096'], ['4096'], ['4096']]);
  });

  it('mounts the work dir where the request asks and starts there', () => {
    const plan = bwrapPlan(input({ command: ['true'], workDir: '/autograder' }));
    expect(mountsOf(plan, '--tmpfs')).toEqual([['/dev/shm'], ['/tmp'], ['/autograder']]);
    expect(mountsOf(plan, '--chdir')).toEqual([['/autograder']]);
    expect(wrapperOf(plan).env).toContain('HOME=/autograder');
  });

  it("uses a custom root's folders instead of the host's, keeping only the /etc mount points it has", () => {
    const rootArgs = ['--symlink', 'usr/bin', '/bin', '--ro-bind', '/envs/py/etc', '/etc', '--ro-bind', '/envs/py/usr', '/usr'];
    const plan = bwrapPlan(input({ command: ['true'], root: '/envs/py' }, { rootArgs, rootEtcFiles: new Set(['passwd', 'hosts']) }));
    expect(mountsOf(plan, '--ro-bind')).toEqual([
      ['/envs/py/etc', '/etc'],
      ['/envs/py/usr', '/usr'],
      ['/base/etc/passwd', '/etc/passwd'],
      ['/base/etc/hosts', '/etc/hosts'],
    ]);
    expect(mountsOf(plan, '--ro-bind-try')).toEqual([]);
    expect(plan.args).not.toContain('usr/lib');
  });

  it('binds extra host paths read-only at their normalised targets, and hides files under /dev/null', () => {
    const plan = bwrapPlan(
      input({ command: ['true'], binds: [{ from: '/srv/harness', to: '/lectern/./h' }], hide: ['/usr/lib/python3/x.py', '/usr/missing'] }, { hidden: ['/usr/lib/python3/x.py'] }),
    );
    const opts = bwrapOptions(plan.args).map((o) => o.join(' '));
    const tail = opts.slice(opts.indexOf('--tmpfs /work') + 1);
    expect(tail).toEqual(['--ro-bind /srv/harness /lectern/h', '--ro-bind /dev/null /usr/lib/python3/x.py', '--remount-ro /', '--chdir /work']);
  });
});

describe('bwrap plan: inputs and files', () => {
  it('binds a host staging dir (inputs: copy) at /.in/stage and copies it into the work dir', () => {
    const request = { command: ['true'], inputs: [{ from: '/subs/1', to: '.' }], files: { 'a.txt': 'x' } };
    const plan = bwrapPlan(input(request, { inputs: { kind: 'staged', dir: '/base/run-1/stage' } }));
    expect(mountsOf(plan, '--ro-bind').at(-1)).toEqual(['/base/run-1/stage', '/.in/stage']);
    expect(mountsOf(plan, '--dir')).toEqual([]);
    expect(wrapperOf(plan).copies).toEqual([['/.in/stage/.', '/work']]);
  });

  it('binds each input read-only under /.in, makes the folders of their targets, and binds the files dir', () => {
    const request = {
      command: ['true'],
      inputs: [
        { from: '/subs/1', to: '.' },
        { from: '/subs/1/code', to: 'code/x/' },
        { from: '/data/in.txt', to: 'data/deep/in.txt' },
      ],
      files: { 'a.txt': 'x' },
    };
    const plan = bwrapPlan(input(request, { inputs: { kind: 'bound', isDir: [true, true, false], filesDir: '/base/run-1/files' } }));
    expect(mountsOf(plan, '--ro-bind').slice(-4)).toEqual([
      ['/subs/1', '/.in/0'],
      ['/subs/1/code', '/.in/1'],
      ['/data/in.txt', '/.in/2'],
      ['/base/run-1/files', '/.in/files'],
    ]);
    expect(mountsOf(plan, '--dir')).toEqual([['/work/code'], ['/work/code/x'], ['/work/data'], ['/work/data/deep']]);
    expect(wrapperOf(plan).copies).toEqual([
      ['/.in/0/.', '/work'],
      ['/.in/1/.', '/work/code/x'],
      ['/.in/2', '/work/data/deep/in.txt'],
      ['/.in/files/.', '/work'],
    ]);
  });

  it('refuses a single file as the whole work dir', () => {
    const request = { command: ['true'], inputs: [{ from: '/data/in.txt', to: '.' }] };
    expect(() => bwrapPlan(input(request, { inputs: { kind: 'bound', isDir: [false], filesDir: null } }))).toThrow('input /data/in.txt is a file: give it a file name inside the work dir');
  });
});

describe('bwrap plan: limits', () => {
  it('turns the limits into the wrapper rlimits: CPU seconds rounded up, memory, file size in KiB, files, processes + 1, niceness', () => {
    const limits = { ...LIMITS, cpuSeconds: 1.2, memoryBytes: 300 * MiB, fileSizeBytes: 5000, openFiles: 3, processes: 10.5 };
    const w = wrapperOf(bwrapPlan(input({ command: ['true'] }, { limits, niceness: 0 })));
    expect([w.cpu, w.mem, w.fsize, w.nofile, w.nproc, w.nice]).toEqual(['2', String(300 * 1024), '4', '8', '11', '0']);
  });

  it('starts the command through the write observer only when asked and available: bound read-only, one more process allowed for it', () => {
    const limits = { ...LIMITS, processes: 10 };
    const asked = bwrapPlan(input({ command: ['true'], observeWrites: true }, { limits, observer: '/base/observer/write-observer-abc' }));
    expect(mountsOf(asked, '--ro-bind')).toContainEqual(['/base/observer/write-observer-abc', '/.write-observer']);
    expect(asked.observed).toBe(true);
    const w = wrapperOf(asked);
    expect([w.observer, w.nproc]).toEqual(['/.write-observer', '12']);
    for (const plan of [bwrapPlan(input({ command: ['true'] }, { limits, observer: '/base/observer/write-observer-abc' })), bwrapPlan(input({ command: ['true'], observeWrites: true }, { limits, observer: null }))]) {
      expect(mountsOf(plan, '--ro-bind').map((m) => m[1])).not.toContain('/.write-observer');
      expect(plan.observed).toBeUndefined();
      expect([wrapperOf(plan).observer, wrapperOf(plan).nproc]).toEqual(['', '11']);
    }
  });

  it('has floors for tiny limits (1 s of CPU, 1 MiB of data, 1 KiB files, 2 processes)', () => {
    const limits = { ...LIMITS, cpuSeconds: 0.001, memoryBytes: 10, fileSizeBytes: 10, openFiles: 1, processes: 0.5 };
    const w = wrapperOf(bwrapPlan(input({ command: ['true'] }, { limits })));
    expect([w.cpu, w.mem, w.fsize, w.nofile, w.nproc]).toEqual(['1', '1024', '1', '8', '2']);
  });

  it('gives the command PATH, HOME and LANG, then its own environment, and the normalised paths to collect', () => {
    const w = wrapperOf(bwrapPlan(input({ command: ['env'], env: { FOO: 'bar', LANG: 'en' }, collect: ['out.txt', 'a/./b.txt', 'dir/'] })));
    expect(w.env).toEqual(['PATH=/usr/local/bin:/usr/bin:/bin', 'HOME=/work', 'LANG=en', 'FOO=bar']);
    expect(w.collect).toEqual(['out.txt', 'a/b.txt', 'dir']);
  });

  it('without a cgroup: RLIMIT_DATA holds the memory and the server watches the tree', () => {
    const plan = bwrapPlan(input({ command: ['true'] }));
    expect(wrapperOf(plan).mem).toBe(String(LIMITS.memoryBytes / 1024));
    expect(plan.treeMemory).toBe(true);
  });

  it("with a cgroup holding memory: bwrap starts in the run's cgroup, and no data rlimit nor tree watch", () => {
    const plan = bwrapPlan(input({ command: ['true'] }, { cgroup: { procsFile: '/cg/run-1/cgroup.procs', memory: true } }));
    expect(plan).toMatchObject({ file: '/bin/sh', cwd: '/', infoFd: true, dropUid: false, treeMemory: false });
    expect(plan.args.slice(0, 4)).toEqual(['-c', 'echo $$ > "$0" && exec "$@"', '/cg/run-1/cgroup.procs', '/usr/bin/bwrap']);
    expect(plan.args[4]).toBe('--unshare-all');
    expect(wrapperOf(plan).mem).toBe('unlimited');
  });

  it('with a cgroup without the memory controller: RLIMIT_DATA and the tree watch stay', () => {
    const plan = bwrapPlan(input({ command: ['true'] }, { cgroup: { procsFile: '/cg/run-1/cgroup.procs', memory: false } }));
    expect(plan.treeMemory).toBe(true);
    expect(wrapperOf(plan).mem).toBe(String(LIMITS.memoryBytes / 1024));
  });

  it('as root with a cgroup: moves into it first, then drops to the sandbox user with setpriv', () => {
    const plan = bwrapPlan(input({ command: ['true'] }, { runAs: { uid: 65534, gid: 65534 }, cgroup: { procsFile: '/cg/run-1/cgroup.procs', memory: true } }));
    expect(plan.args.slice(2, 10)).toEqual(['/cg/run-1/cgroup.procs', '/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--pdeathsig=KILL', '--', '/usr/bin/bwrap']);
    expect(plan.dropUid).toBe(false);
  });
});

describe('unsafe plan', () => {
  it('runs the wrapper directly on the host in the work dir, with the same rlimits and nothing to copy', () => {
    const plan = unsafePlan({ command: ['cat'], env: { A: 'b' } }, { ...LIMITS, cpuSeconds: 2.5 }, 10, '/base/run-1/work');
    expect(plan).toEqual({ file: '/bin/bash', args: expect.any(Array), cwd: '/base/run-1/work', infoFd: false, dropUid: true });
    expect(plan.args.slice(0, 3)).toEqual(['--noprofile', '--norc', '-c']);
    const w = wrapperOf(plan);
    expect([w.cpu, w.nice, w.copies, w.argv]).toEqual(['3', '10', [], ['cat']]);
    expect(w.env).toEqual(['PATH=/usr/local/bin:/usr/bin:/bin', 'HOME=/base/run-1/work', 'LANG=C.UTF-8', 'A=b']);
  });
});
