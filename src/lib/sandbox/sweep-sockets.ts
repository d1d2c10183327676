import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../logger.js';

/**
 * The private dirs of run_student sockets (`<tmp>/lectern-rs-<pid>-<six random characters>/s`, made by the grading
 * harness's runner). A process killed mid-run leaves its dir behind; at start-up the dirs of dead
 * processes go. Two servers (or a server and a `lectern worker`, or parallel tests) may share a
 * box, so a dir is removed only when it is this host user's and its maker is gone: by the pid in
 * its name, or, for a name without one (made before the pid was added), by nobody answering on
 * its socket.
 */
export const RUN_STUDENT_DIR = 'lectern-rs-';

/** The mkdtemp prefix of a run_student socket dir made by this process. */
export function runStudentDirPrefix(tmpDir: string = os.tmpdir()): string {
  return path.join(tmpDir, `${RUN_STUDENT_DIR}${process.pid}-`);
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

/** True when a server listens on the socket (a live harness run); false when it is stale or absent. */
function listening(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socket);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/** Exactly what mkdtemp makes of the prefix (six random characters), with or without the pid. */
const NAME = /^lectern-rs-(?:(\d+)-)?[A-Za-z0-9]{6}$/;

export async function sweepRunStudentDirs(log: Logger, tmpDir: string = os.tmpdir()): Promise<number> {
  let names: string[];
  try {
    names = await fs.readdir(tmpDir);
  } catch {
    return 0;
  }
  const uid = process.getuid?.();
  let removed = 0;
  for (const name of names) {
    const m = NAME.exec(name);
    if (!m) continue;
    const dir = path.join(tmpDir, name);
    const st = await fs.lstat(dir).catch(() => null);
    if (!st?.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
    const pid = m[1];
    const stale = pid !== undefined ? !alive(Number(pid)) : !(await listening(path.join(dir, 's')));
    if (!stale) continue;
    try {
      await fs.rm(dir, { recursive: true, force: true });
      removed++;
    } catch (err) {
      log.warn({ err, dir }, 'could not remove a leftover run_student socket dir');
    }
  }
  if (removed) log.info({ removed, tmpDir }, 'removed run_student socket dirs left behind by a process that died');
  return removed;
}
