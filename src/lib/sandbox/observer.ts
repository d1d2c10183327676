import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PROJECT_ROOT } from '../../paths.js';

/**
 * The write observer (native/write-observer.c): a small C program, compiled on demand with the
 * host's `cc` into the sandbox's base dir, that a student sandbox runs between its wrapper and the
 * command to count writes aimed at read-only mounts (a seccomp user-notification listener; the C
 * file says how). Everything here fails soft: without a compiler, or on a kernel that refuses the
 * listener, runs go on exactly as without it and the reason is kept for staff.
 */

export const OBSERVER_SOURCE = path.join(PROJECT_ROOT, 'native', 'write-observer.c');
/** Where the binary is bound inside the sandbox (bwrap makes the mount point on its root). */
export const OBSERVER_MOUNT = '/.write-observer';

export type ObserverState = { ok: true; binary: string } | { ok: false; reason: string };

/** One compile per process and base dir: every sandbox of the process shares it. */
const states = new Map<string, Promise<ObserverState>>();

function run(file: string, args: string[], options: { timeout: number; uid?: number; gid?: number }): Promise<{ ok: boolean; stdout: string; stderr: string; code: string | number | null }> {
  return new Promise((resolve) => {
    execFile(file, args, { ...options, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' }, maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ ok: !err, stdout: String(stdout), stderr: String(stderr), code: err ? ((err as NodeJS.ErrnoException).code ?? null) : 0 });
    });
  });
}

const lastLine = (text: string) => text.trim().split('\n').slice(-2).join(' ').slice(0, 300);

/**
 * The observer's binary for this base dir, compiled if its source changed (the file name holds
 * the source's hash, so a new source never finds an old binary), and probed once on this host:
 * the probe runs the same seccomp round trip a sandbox would, as the user sandboxes run as.
 * `runAs`: the sandbox user when the server is root (the binary must be readable by it).
 */
export function writeObserver(baseDir: string, runAs: { uid: number; gid: number } | null): Promise<ObserverState> {
  let state = states.get(baseDir);
  if (!state) {
    state = prepare(baseDir, runAs);
    states.set(baseDir, state);
  }
  return state;
}

async function prepare(baseDir: string, runAs: { uid: number; gid: number } | null): Promise<ObserverState> {
  if (process.arch !== 'x64' || process.platform !== 'linux') return { ok: false, reason: `the observer supports x86_64 Linux only (this is ${process.platform}/${process.arch})` };
  let source: Buffer;
  try {
    source = await fs.readFile(OBSERVER_SOURCE);
  } catch {
    return { ok: false, reason: `its source ${OBSERVER_SOURCE} is missing` };
  }
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = path.join(baseDir, 'observer');
  const binary = path.join(dir, `write-observer-${hash}`);
  try {
    await fs.mkdir(dir, { mode: 0o755, recursive: true });
    await fs.chmod(dir, 0o755);
    const exists = await fs.access(binary).then(
      () => true,
      () => false,
    );
    if (!exists) {
      // Built under a private name and renamed into place: another server compiling the same
      // source at the same moment renames an identical file over it.
      const tmp = `${binary}.${process.pid}.${Math.random().toString(36).slice(2)}`;
      // Static: the same binary then also runs in an assignment's own root, whatever its libc.
      const cc = await run('cc', ['-O2', '-static', '-o', tmp, OBSERVER_SOURCE], { timeout: 120_000 });
      if (!cc.ok) {
        await fs.rm(tmp, { force: true });
        if (cc.code === 'ENOENT') return { ok: false, reason: 'no C compiler (cc) on this host to build the write observer' };
        return { ok: false, reason: `compiling the write observer failed: ${lastLine(cc.stderr) || `cc ended with ${cc.code}`}` };
      }
      await fs.chmod(tmp, 0o755);
      await fs.rename(tmp, binary);
      await removeOld(dir, path.basename(binary));
    }
  } catch (err) {
    return { ok: false, reason: `the write observer could not be built: ${(err as Error).message}` };
  }
  const probe = await run(binary, ['--probe'], { timeout: 30_000, ...(runAs ?? {}) });
  if (!probe.ok || probe.stdout.trim() !== 'ok') {
    return { ok: false, reason: `this kernel does not let a sandbox observe them: ${lastLine(probe.stderr) || `the probe ended with ${probe.code}`}` };
  }
  return { ok: true, binary };
}

/**
 * Binaries of earlier sources, a day after they were last changed: a server of an older version
 * still running beside this one keeps its own for that long.
 */
async function removeOld(dir: string, keep: string): Promise<void> {
  const now = Date.now();
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    if (name === keep || !name.startsWith('write-observer-')) continue;
    const full = path.join(dir, name);
    const st = await fs.stat(full).catch(() => null);
    if (st && now - st.mtimeMs > 24 * 3600 * 1000) await fs.rm(full, { force: true }).catch(() => undefined);
  }
}
