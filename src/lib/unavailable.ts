import { statfs } from 'node:fs/promises';

/**
 * A request the server cannot carry out now for a reason that passes (a full disk, a database
 * lock held elsewhere, a restart): answered 503 with Retry-After and a message saying what was
 * not done, never a generic 500. The one error middleware renders it.
 */
export class Unavailable extends Error {
  readonly status = 503;
  readonly expose = true;
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
    this.name = 'Unavailable';
  }
}

const FULL_CODES = new Set(['SQLITE_FULL', 'ENOSPC', 'EDQUOT', 'SQLITE_IOERR_WRITE', 'SQLITE_IOERR_FSYNC', 'SQLITE_IOERR_SHMSIZE']);
const BUSY_CODES = new Set(['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_TIMEOUT', 'SQLITE_LOCKED']);

function codeOf(err: unknown): string {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : '';
}

export function isStorageFull(err: unknown): boolean {
  return FULL_CODES.has(codeOf(err));
}

export function isDatabaseBusy(err: unknown): boolean {
  return BUSY_CODES.has(codeOf(err));
}

export const DISK_FULL_MESSAGE = "The server's disk is full: nothing was stored. Please try again later; the teachers can see this on their dashboard.";
export const BUSY_MESSAGE = 'The server is busy with maintenance (its database is locked): nothing was stored. Please try again in a few seconds.';

/** The 503 a full disk or a held database lock becomes; null for anything else. */
export function unavailableFor(err: unknown): Unavailable | null {
  if (err instanceof Unavailable) return err;
  if (isStorageFull(err)) return new Unavailable(DISK_FULL_MESSAGE, 60);
  if (isDatabaseBusy(err)) return new Unavailable(BUSY_MESSAGE, 5);
  return null;
}

export interface DiskSpace {
  freeBytes: number;
  totalBytes: number;
  reserveBytes: number;
  /** Free space is below the reserve: uploads are refused. */
  low: boolean;
}

/** Free space on the file system holding `dir`, as unprivileged writers see it. */
export async function diskSpace(dir: string, reserveMb: number): Promise<DiskSpace> {
  const s = await statfs(dir);
  const freeBytes = s.bavail * s.bsize;
  const reserveBytes = reserveMb * 1024 * 1024;
  return { freeBytes, totalBytes: s.blocks * s.bsize, reserveBytes, low: freeBytes < reserveBytes };
}

/**
 * Refuses before reading a body that the disk cannot take: free space minus what the request
 * declares must stay above the reserve.
 */
export async function requireDiskSpace(dir: string, reserveMb: number, declaredBytes = 0): Promise<void> {
  const space = await diskSpace(dir, reserveMb);
  if (space.freeBytes - declaredBytes < space.reserveBytes) {
    throw new Unavailable("The server's disk is nearly full, so your files were not stored. Please send them again later; the teachers can see this on their dashboard.", 300);
  }
}

/**
 * Runs a synchronous write, waiting for a database lock held elsewhere without blocking the
 * event loop: the connection's own busy timeout is short (src/server.ts), and between tries this
 * yields to other requests. Past `waitMs` the lock is reported as a 503.
 */
export async function retryBusy<T>(write: () => T, waitMs = 4_000): Promise<T> {
  const until = performance.now() + waitMs;
  let pause = 20;
  for (;;) {
    try {
      return write();
    } catch (err) {
      if (!isDatabaseBusy(err)) throw err;
      if (performance.now() + pause > until) throw new Unavailable(BUSY_MESSAGE, 5);
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, 250);
  }
}
