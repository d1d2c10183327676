import { randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { SandboxLimits } from './types.js';

/**
 * cgroup v2 limits for each run, used only when the host delegates a cgroup v2 subtree to the
 * server (systemd: `Delegate=yes` in lectern.service). They are what rlimits cannot be: a memory
 * limit on the whole sandbox (not per process, and counting its tmpfs pages), a process limit
 * per sandbox, one CPU per job, a reliable out-of-memory verdict (memory.events) and
 * cgroup.kill. On a cgroup v1 or hybrid host, or without delegation, the sandbox falls back to
 * rlimits alone and says why in describe().
 */
export interface CgroupSupport {
  /** The delegated cgroup each run's cgroup is created in. */
  parent: string;
  /** Controllers available to runs (among memory, pids, cpu). */
  controllers: string[];
}

export type CgroupDetection = { ok: true; support: CgroupSupport } | { ok: false; reason: string };

const WANTED = ['memory', 'pids', 'cpu'];

function readWords(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** Finds this process's cgroup v2 and checks that it may create and limit child cgroups. */
export function detectCgroup(mount = '/sys/fs/cgroup'): CgroupDetection {
  if (!existsSync(path.join(mount, 'cgroup.controllers'))) {
    return { ok: false, reason: `${mount} is not a cgroup v2 (unified) mount` };
  }
  let own: string | undefined;
  try {
    own = readFileSync('/proc/self/cgroup', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('0::'))
      ?.slice(3);
  } catch {
    own = undefined;
  }
  if (!own) return { ok: false, reason: 'this process is in no cgroup v2' };
  const dir = path.join(mount, own);
  const controllers = readWords(path.join(dir, 'cgroup.controllers')).filter((c) => WANTED.includes(c));
  if (!controllers.includes('memory') || !controllers.includes('pids')) {
    return { ok: false, reason: `the cgroup ${own} has no memory and pids controllers delegated` };
  }
  try {
    accessSync(dir, fsConstants.W_OK);
    accessSync(path.join(dir, 'cgroup.subtree_control'), fsConstants.W_OK);
    accessSync(path.join(dir, 'cgroup.procs'), fsConstants.W_OK);
  } catch {
    return { ok: false, reason: `the cgroup ${own} is not delegated to this user (systemd: Delegate=yes)` };
  }
  return { ok: true, support: { parent: dir, controllers } };
}

/** A cgroup dir given by the operator (or a test) instead of the detected one. */
export function givenCgroup(dir: string): CgroupDetection {
  if (!existsSync(path.join(dir, 'cgroup.procs'))) return { ok: false, reason: `${dir} is not a cgroup v2 dir` };
  return { ok: true, support: { parent: dir, controllers: readWords(path.join(dir, 'cgroup.controllers')).filter((c) => WANTED.includes(c)) } };
}

/**
 * Makes the parent able to hold limited children. A cgroup with controllers enabled for its
 * children may hold no processes itself, so the processes in it (this server and, under the
 * deploy loop, its shell) move first into a leaf, `lectern-server`.
 */
export async function prepareParent(support: CgroupSupport): Promise<void> {
  const enabled = readWords(path.join(support.parent, 'cgroup.subtree_control'));
  const missing = support.controllers.filter((c) => !enabled.includes(c));
  if (missing.length === 0) return;
  const leaf = path.join(support.parent, 'lectern-server');
  await fs.mkdir(leaf, { recursive: true });
  const procs = readWords(path.join(support.parent, 'cgroup.procs'));
  for (const pid of procs) {
    try {
      await fs.writeFile(path.join(leaf, 'cgroup.procs'), pid);
    } catch (err) {
      // A process that exited meanwhile is fine; anything else makes the setup fail.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  await fs.writeFile(path.join(support.parent, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
}

/** One run's cgroup. */
export class RunCgroup {
  private constructor(readonly dir: string) {}

  get procsFile(): string {
    return path.join(this.dir, 'cgroup.procs');
  }

  static async create(support: CgroupSupport, limits: SandboxLimits): Promise<RunCgroup> {
    const dir = path.join(support.parent, `lectern-run-${randomBytes(6).toString('hex')}`);
    await fs.mkdir(dir);
    const cg = new RunCgroup(dir);
    try {
      const has = (c: string) => support.controllers.includes(c);
      // bwrap, the sandbox's pid 1 (the wrapper), the subshell and the write observer count too.
      if (has('pids')) await fs.writeFile(path.join(dir, 'pids.max'), String(Math.floor(limits.processes) + 4));
      if (has('memory')) {
        await fs.writeFile(path.join(dir, 'memory.max'), String(Math.floor(limits.memoryBytes)));
        await fs.writeFile(path.join(dir, 'memory.swap.max'), '0').catch(() => undefined);
      }
      // One CPU per job: a multi-threaded job cannot take every core of the machine.
      if (has('cpu')) await fs.writeFile(path.join(dir, 'cpu.max'), '100000 100000');
    } catch (err) {
      await cg.destroy();
      throw err;
    }
    return cg;
  }

  /** True when the kernel's OOM killer killed something in this cgroup at memory.max. */
  async oomKilled(): Promise<boolean> {
    try {
      const events = await fs.readFile(path.join(this.dir, 'memory.events'), 'utf8');
      return Number(/^oom_kill (\d+)$/m.exec(events)?.[1] ?? 0) > 0;
    } catch {
      return false;
    }
  }

  /** Kills whatever is left and removes the cgroup. */
  async destroy(): Promise<void> {
    await fs.writeFile(path.join(this.dir, 'cgroup.kill'), '1').catch(() => undefined);
    for (let i = 0; i < 100; i++) {
      try {
        await fs.rmdir(this.dir);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        if (code !== 'EBUSY') throw err;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    throw new Error(`cgroup ${this.dir} still busy`);
  }
}
