import { execFileSync } from 'node:child_process';
import { accessSync, constants as fsConstants, lstatSync, readlinkSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ETC_FILES } from './plan.js';

/**
 * What the host offers the sandbox, found by looking: the bubblewrap binary and its features, the
 * layout of the host's root and of an assignment's custom root, and the per-user base dir the
 * runs' staging dirs and Lectern's /etc files live in.
 */

const SEARCH_DIRS = ['/usr/bin', '/usr/local/bin', '/bin', '/usr/sbin', '/usr/local/sbin'];

export function isExecutable(file: string): boolean {
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

export interface BwrapInfo {
  path: string;
  version: string;
  hasSize: boolean;
  hasDisableUserns: boolean;
}

export function probeBwrap(bwrapPath: string): BwrapInfo {
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
export function rootLayoutArgs(): string[] {
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
export async function rootHasFile(root: string, rel: string): Promise<boolean> {
  const key = `${root}\0${rel}`;
  let has = rootFiles.get(key);
  if (has === undefined) {
    has = await fs.lstat(path.join(root, rel)).then((st) => st.isFile(), () => false);
    if (rootFiles.size > 4096) rootFiles.clear();
    rootFiles.set(key, has);
  }
  return has;
}

/** bwrap arguments mounting a custom root's top-level folders read-only and recreating its symlinks. */
export async function customRootArgs(root: string): Promise<string[]> {
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

/** Runs left behind by a process that died mid-run are removed after this long. */
const STALE_RUN_MS = 24 * 3600 * 1000;

/**
 * One base dir per host user (not per process: processes killed without running exit hooks,
 * like test workers, would leave one each), refusing a path someone else could have prepared.
 */
export async function openBaseDir(tmpDir: string): Promise<string> {
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

/** Writes Lectern's /etc files (ETC_FILES) into `<base>/etc`, where every bwrap run binds them from. */
export async function writeEtcFiles(base: string): Promise<void> {
  await fs.mkdir(path.join(base, 'etc'), { mode: 0o755, recursive: true });
  await fs.chmod(path.join(base, 'etc'), 0o755);
  for (const [name, text] of Object.entries(ETC_FILES)) await writeAtomic(path.join(base, 'etc', name), text);
}
