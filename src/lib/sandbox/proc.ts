import fs from 'node:fs/promises';

/** Linux reports times in /proc in clock ticks of 1/100 s on every architecture Node runs on. */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  pid: number;
  ppid: number;
  ticks: number;
}

async function readStat(pid: string): Promise<ProcStat | null> {
  try {
    const text = await fs.readFile(`/proc/${pid}/stat`, 'latin1');
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const num = (i: number) => Number(fields[i - 3] ?? 0);
    // Fields 14-17: utime, stime, cutime, cstime (own time plus that of waited-for children).
    return { pid: Number(pid), ppid: num(4), ticks: num(14) + num(15) + num(16) + num(17) };
  } catch {
    return null;
  }
}

/**
 * CPU used so far by every process below `rootPid` (bwrap), for a run about to be killed: the
 * wrapper then never reports its `times`. Each live process counts its own time plus the time
 * of the children it has reaped, so nothing is counted twice. Best effort: a process that exits
 * during the scan may be missed.
 */
export async function sampleTreeCpuMs(rootPid: number): Promise<number | null> {
  let names: string[];
  try {
    names = (await fs.readdir('/proc')).filter((n) => /^\d+$/.test(n));
  } catch {
    return null;
  }
  const stats = (await Promise.all(names.map(readStat))).filter((s): s is ProcStat => s !== null);
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) {
    const list = children.get(s.ppid);
    if (list) list.push(s);
    else children.set(s.ppid, [s]);
  }
  let ticks = 0;
  const queue = [...(children.get(rootPid) ?? [])];
  while (queue.length) {
    const s = queue.pop()!;
    ticks += s.ticks;
    queue.push(...(children.get(s.pid) ?? []));
  }
  return Math.round((ticks * 1000) / TICKS_PER_SECOND);
}

export interface ProcIdentity {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: with the pid, names one process even if the pid is reused. */
  startTime: string;
}

/** Start time of a live process; null when it is gone or a zombie (it runs nothing any more). */
async function liveStartTime(pid: number): Promise<string | null> {
  try {
    const text = await fs.readFile(`/proc/${pid}/stat`, 'latin1');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return null;
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

export async function procIdentity(pid: number): Promise<ProcIdentity | null> {
  const start = await liveStartTime(pid);
  return start === null ? null : { pid, startTime: start };
}

export async function stillRunning(proc: ProcIdentity): Promise<boolean> {
  return (await liveStartTime(proc.pid)) === proc.startTime;
}

/** Resolves when the process is gone (or after `maxMs`). */
export async function waitGone(proc: ProcIdentity | null, maxMs: number): Promise<boolean> {
  if (!proc) return true;
  const deadline = performance.now() + maxMs;
  while (performance.now() < deadline) {
    if (!(await stillRunning(proc))) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return false;
}
