import type { Deps } from '../../plugin.js';
import type { Current } from '../assignments/store.js';
import { runReport, type RunningReport } from './analysis.js';
import { checkPair } from './evidence.js';
import type { Evidence } from './store.js';

/**
 * This process's background work for similarity: reports one after another (each in its own
 * child process), variant checks one after another (each a few sandbox runs). Stopping kills a
 * running analysis and aborts a check; what was unfinished is marked so at the next start.
 */
export interface SimilarityWork {
  report(req: { id: number; current: Current; course: string; maxShare: number }): void;
  evidence(e: Evidence, labels: Record<number, string>): void;
  busy(reportId: number): boolean;
  busyEvidence(evidenceId: number): boolean;
  /** Resolves when everything queued so far has finished (tests and benchmarks wait on it). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export function createWork(deps: Deps): SimilarityWork {
  let reports: Promise<void> = Promise.resolve();
  let checks: Promise<void> = Promise.resolve();
  const pendingReports = new Set<number>();
  const pendingChecks = new Set<number>();
  let running: RunningReport | null = null;
  const abort = new AbortController();
  let stopped = false;
  return {
    report(req) {
      if (stopped) return;
      pendingReports.add(req.id);
      reports = reports.then(async () => {
        if (stopped) return;
        running = runReport(deps, req);
        await running.done;
        running = null;
        pendingReports.delete(req.id);
      });
    },
    evidence(e, labels) {
      if (stopped) return;
      pendingChecks.add(e.id);
      checks = checks.then(async () => {
        if (!stopped) await checkPair(deps, e, labels, abort.signal);
        pendingChecks.delete(e.id);
      });
    },
    busy: (id) => pendingReports.has(id),
    busyEvidence: (id) => pendingChecks.has(id),
    async idle() {
      await Promise.all([reports, checks]);
    },
    async stop() {
      stopped = true;
      abort.abort();
      running?.child?.kill('SIGKILL');
      await Promise.all([reports, checks]);
    },
  };
}
