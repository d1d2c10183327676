import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * A folder written once by content and then shared (an unpacked bundle, a worker's tests/): the
 * content goes into a temporary folder beside it and is renamed into place, so a reader never
 * sees half of it; a process that loses the race drops its copy (the winner's is identical).
 * Calls for the same folder while one is being written wait for that one.
 */
export class FolderPublisher {
  readonly #pending = new Map<string, Promise<string>>();

  /**
   * The folder `dir`, written by `fill` into a fresh temporary folder when it does not exist yet.
   * `onExisting` runs when it already did (the worker marks it used, for its cleanup by age).
   */
  publish(dir: string, fill: (tmp: string) => Promise<void>, onExisting?: (dir: string) => Promise<void>): Promise<string> {
    const pending = this.#pending.get(dir);
    if (pending) return pending;
    const work = (async () => {
      try {
        if ((await stat(dir)).isDirectory()) {
          await onExisting?.(dir);
          return dir;
        }
      } catch {
        // Not there yet: written below.
      }
      const parent = path.dirname(dir);
      await mkdir(parent, { recursive: true, mode: 0o755 });
      // The sandbox's user passes through the parent too, whatever umask made it.
      await chmod(parent, 0o755);
      const tmp = path.join(parent, `.tmp-${randomBytes(8).toString('hex')}`);
      try {
        await mkdir(tmp, { mode: 0o755 });
        await fill(tmp);
        // World-readable: the sandbox reads it as another user.
        await chmod(tmp, 0o755);
        try {
          await rename(tmp, dir);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          // Another process finished the same folder first: theirs is identical.
          if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
        }
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      return dir;
    })();
    this.#pending.set(dir, work);
    return work.finally(() => this.#pending.delete(dir));
  }
}
