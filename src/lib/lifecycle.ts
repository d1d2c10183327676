import type { IncomingMessage } from 'node:http';

const COMMITTED = Symbol('lectern.committed');

/**
 * Says that this request's write has committed: if a drain ends now, its own answer (a receipt)
 * is waited for instead of the "nothing was stored" 503 (src/app.ts).
 */
export function markCommitted(req: IncomingMessage): void {
  (req as unknown as Record<symbol, boolean>)[COMMITTED] = true;
}

export function isCommitted(req: IncomingMessage): boolean {
  return COMMITTED in req;
}

/**
 * Lets long-lived responses (server-sent events) and background loops learn that the process is
 * draining, so they end promptly instead of holding the drain open until its timeout.
 */
export class Lifecycle {
  #closing = false;
  readonly #handlers = new Set<() => void>();

  get closing(): boolean {
    return this.#closing;
  }

  /** Runs `handler` when draining begins (at once if it already has); returns an unsubscribe. */
  onClosing(handler: () => void): () => void {
    if (this.#closing) {
      handler();
      return () => undefined;
    }
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  /** Called once by the app's close(). */
  beginClosing(): void {
    if (this.#closing) return;
    this.#closing = true;
    for (const handler of this.#handlers) {
      try {
        handler();
      } catch {
        // A handler that throws must not stop the others or the shutdown.
      }
    }
    this.#handlers.clear();
  }
}

/**
 * Tells the respawn loop that started this server (deploy/webservice sets LECTERN_HANDOFF_PID to
 * its own pid) that a restart has stopped accepting: the loop starts the next server at once
 * instead of waiting for this one's drain and exit, so serving resumes after one start-up
 * whatever this process still finishes. Only the direct parent is told, so a stray variable
 * inherited from elsewhere never signals an unrelated process. Returns whether it was told.
 */
export function handOver(loopPid: number, parentPid: number = process.ppid): boolean {
  if (loopPid <= 1 || loopPid !== parentPid) return false;
  try {
    process.kill(loopPid, 'SIGUSR1');
    return true;
  } catch {
    return false;
  }
}
