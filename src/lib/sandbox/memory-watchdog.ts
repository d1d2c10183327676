import fs from 'node:fs/promises';
import { readProcFile } from './proc.js';

/**
 * The memory limit for the whole process tree of a run where no cgroup v2 is delegated to us.
 * rlimits are per process (six processes of 200 MB each hold 1.2 GB under a 256 MB limit), so
 * the server itself watches: every `intervalMs` it sums the resident memory of every process
 * below the run's root (bwrap, and so every process of the sandbox's pid namespace, orphans
 * included: they are re-parented to the sandbox's pid 1) and calls `onExceeded` once the sum
 * passes the cap. The caller kills the run and reports it as `memory`.
 *
 * A sampler can miss a spike shorter than its interval; the per-process data rlimit (RLIMIT_DATA)
 * still bounds each process, so the tree can overshoot the cap by at most one interval's growth.
 */
export interface TreeMemoryWatch {
  stop(): void;
  /** Largest sum seen, in bytes. */
  peakBytes(): number;
}

async function ppidOf(pid: string): Promise<[number, number] | null> {
  try {
    const text = await readProcFile(`/proc/${pid}/stat`);
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return [Number(pid), Number(fields[1])];
  } catch {
    return null;
  }
}

async function residentBytes(pid: number): Promise<number> {
  try {
    const text = await readProcFile(`/proc/${pid}/status`);
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The children of every thread of `pid` (/proc/PID/task/TID/children), or null where the kernel has no such file. */
async function childrenOf(pid: number): Promise<number[] | null> {
  let tasks: string[];
  try {
    tasks = await fs.readdir(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const tid of tasks) {
    try {
      for (const c of (await readProcFile(`/proc/${pid}/task/${tid}/children`)).split(' ')) if (c) out.push(Number(c));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && tid === String(pid)) return (await exists(`/proc/${pid}`)) ? null : [];
    }
  }
  return out;
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * The process tree below `rootPid`, walked down from the root through the kernel's children
 * lists: a run's few processes cost a few reads, where a scan of /proc costs two per process on
 * the machine (hundreds, twenty times a second per run, on the web server's own event loop).
 * Kernels without the children files (CONFIG_PROC_CHILDREN) get the scan.
 */
async function treeOf(rootPid: number): Promise<number[]> {
  const tree: number[] = [];
  const queue = [rootPid];
  while (queue.length) {
    const kids = await childrenOf(queue.pop()!);
    if (kids === null) return scanTree(rootPid);
    tree.push(...kids);
    queue.push(...kids);
  }
  return tree;
}

async function scanTree(rootPid: number): Promise<number[]> {
  let names: string[];
  try {
    names = (await fs.readdir('/proc')).filter((n) => /^\d+$/.test(n));
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const pair of await Promise.all(names.map(ppidOf))) {
    if (!pair) continue;
    const list = children.get(pair[1]);
    if (list) list.push(pair[0]);
    else children.set(pair[1], [pair[0]]);
  }
  const tree: number[] = [];
  const queue = [...(children.get(rootPid) ?? [])];
  while (queue.length) {
    const pid = queue.pop()!;
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** Resident memory of every process below `rootPid` (not counting the root itself), in bytes. */
export async function treeResidentBytes(rootPid: number): Promise<number> {
  const sizes = await Promise.all((await treeOf(rootPid)).map(residentBytes));
  return sizes.reduce((a, b) => a + b, 0);
}

export function watchTreeMemory(opts: { rootPid: number; capBytes: number; intervalMs?: number; onExceeded(bytes: number): void }): TreeMemoryWatch {
  let peak = 0;
  let busy = false;
  let stopped = false;
  const timer = setInterval(() => {
    if (busy || stopped) return;
    busy = true;
    void treeResidentBytes(opts.rootPid)
      .then((bytes) => {
        peak = Math.max(peak, bytes);
        if (!stopped && bytes > opts.capBytes) {
          stopped = true;
          clearInterval(timer);
          opts.onExceeded(bytes);
        }
      })
      .finally(() => {
        busy = false;
      });
  }, opts.intervalMs ?? 50);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
    peakBytes: () => peak,
  };
}
