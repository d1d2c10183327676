import fs from 'node:fs/promises';

/**
 * A /proc file (stat, status, children: usually well under 4 KB) read with one small buffer. fs.readFile
 * sizes its buffer by the file, and /proc files report size 0, so it takes 64 KiB for each read:
 * the memory watchdog reads every process's stat 20 times a second while a sandbox runs, which
 * made megabytes of short-lived buffers a second and grew the server's resident memory by the
 * space the allocator kept for them (bench/soak.mjs). Below 4 KiB, Buffer.allocUnsafe takes a
 * slice of its shared pool.
 */
export async function readProcFile(file: string): Promise<string> {
  const handle = await fs.open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(PROC_READ_BYTES);
    const { bytesRead } = await handle.read(buf, 0, PROC_READ_BYTES, 0);
    // A longer file (a children list of hundreds of pids) is read whole, never cut short.
    if (bytesRead === PROC_READ_BYTES) return await fs.readFile(file, 'latin1');
    return buf.toString('latin1', 0, bytesRead);
  } finally {
    await handle.close();
  }
}
const PROC_READ_BYTES = 4095;

/** Linux reports times in /proc in clock ticks of 1/100 s on every architecture Node runs on. */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  pid: number;
  ppid: number;
  ticks: number;
}

async function readStat(pid: string): Promise<ProcStat | null> {
  try {
    const text = await readProcFile(`/proc/${pid}/stat`);
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
    const text = await readProcFile(`/proc/${pid}/stat`);
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
