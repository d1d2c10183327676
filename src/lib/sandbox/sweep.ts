import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../logger.js';

/**
 * What a server killed mid-run leaves behind: run dirs (named run-<pid>-… by the process that
 * made them) and, in the window before a sandbox's parent-death signal is armed, sandbox
 * processes. At start-up everything belonging to a process that is gone is removed; runs of live
 * processes (another server or a `lectern worker` on this host, parallel tests) are left alone.
 */

/** The base dir of a host user's sandboxes (the same one host.ts openBaseDir opens). */
export function sandboxBaseDir(tmpDir: string = os.tmpdir()): string {
  return path.join(tmpDir, `lectern-sandbox-${process.getuid?.() ?? 0}`);
}

/** The mkdtemp prefix of a run dir of this process. */
export function runDirPrefix(base: string): string {
  return path.join(base, `run-${process.pid}-`);
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Processes on this host whose command line names one of `dirs` (a bwrap binding a run dir). */
async function processesUsing(dirs: string[]): Promise<number[]> {
  if (!dirs.length) return [];
  const found: number[] = [];
  let entries: string[];
  try {
    entries = await fs.readdir('/proc');
  } catch {
    return [];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = await fs.readFile(`/proc/${e}/cmdline`, 'latin1');
    } catch {
      continue;
    }
    if (dirs.some((d) => cmdline.includes(`${d}/`) || cmdline.includes(`${d}\0`))) found.push(pid);
  }
  return found;
}

export interface SweepReport {
  runDirs: number;
  processes: number;
}

/**
 * Kills the sandboxes of dead processes and removes their run dirs. Killing a bwrap kills its
 * whole pid namespace; its process group is signalled too, for the moment before bwrap made one.
 */
export async function sweepLeftoverSandboxes(log: Logger, base: string = sandboxBaseDir()): Promise<SweepReport> {
  let names: string[];
  try {
    names = await fs.readdir(base);
  } catch {
    return { runDirs: 0, processes: 0 };
  }
  const orphaned = names
    .map((name) => ({ name, pid: Number(/^run-(\d+)-/.exec(name)?.[1] ?? NaN) }))
    .filter((r) => Number.isInteger(r.pid) && r.pid > 0 && !alive(r.pid))
    .map((r) => path.join(base, r.name));
  const pids = await processesUsing(orphaned);
  for (const pid of pids) {
    for (const target of [pid, -pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // gone already, or not a group leader
      }
    }
  }
  // A killed process lets go of its mounts and files at once, but its exit may take a moment.
  for (let i = 0; i < 50 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 20));
  let removed = 0;
  for (const dir of orphaned) {
    try {
      await fs.rm(dir, { recursive: true, force: true });
      removed++;
    } catch (err) {
      log.warn({ err, dir }, 'could not remove a leftover sandbox run dir');
    }
  }
  if (removed || pids.length) log.info({ runDirs: removed, processes: pids.length, base }, 'removed sandboxes left behind by a process that died');
  return { runDirs: removed, processes: pids.length };
}
