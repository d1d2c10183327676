import type { Deps } from '../../plugin.js';
import { variantForSubmission } from '../assignments/variants.js';
import type { Job } from '../autotest/queue.js';
import { jobSpec, runSpec } from '../autotest/runner.js';
import { getSubmission } from '../submissions/store.js';
import { updateEvidence, type Evidence, type EvidenceRun } from './store.js';

/** How long a check waits for the grading queue to empty before it runs anyway. */
const YIELD_LIMIT_MS = 10 * 60_000;

/**
 * Low priority: a check runs only while no student submission waits in the grading queue, so
 * that it never delays anyone's feedback; after YIELD_LIMIT_MS it runs regardless.
 */
async function whenQueueIdle(deps: Deps, signal: AbortSignal): Promise<void> {
  const until = Date.now() + YIELD_LIMIT_MS;
  while (!signal.aborted && Date.now() < until && deps.services.grading.queue.stats().queued > 0) {
    await new Promise((r) => setTimeout(r, 1000).unref());
  }
}

function fraction(r: EvidenceRun): number | null {
  return r.gradable && r.score !== null && r.maxScore ? r.score / r.maxScore : null;
}

/** One sandboxed run of a submission's code against some student's (or team's) parameters. */
async function runAgainst(deps: Deps, code: number, paramsOf: number, signal: AbortSignal): Promise<EvidenceRun> {
  const sub = getSubmission(deps.db, code);
  const other = getSubmission(deps.db, paramsOf);
  const variant = other ? variantForSubmission(deps.db, other) : undefined;
  if (!sub || !other || !variant) return { code, paramsOf, status: 'error', score: null, maxScore: null, gradable: false };
  // The autotest runner's own entry point, with the classmate's parameters in place of the student's.
  const job = { id: 0, submissionId: sub.id, versionId: sub.versionId } as Job;
  const spec = jobSpec(deps, job, variant.params);
  await whenQueueIdle(deps, signal);
  const out = await runSpec(deps, spec, signal);
  return { code, paramsOf, status: out.grade.status, score: out.grade.score, maxScore: out.grade.maxScore, gradable: out.grade.gradable };
}

/**
 * The variant-aware check of a pair: each side's code on its own parameters and on the other's.
 * Code that does better on a classmate's parameters than on its own was most likely written for
 * them. The result is evidence shown beside the pair, never a verdict.
 */
export async function checkPair(deps: Deps, e: Evidence, labels: Record<number, string>, signal: AbortSignal): Promise<void> {
  const runs: EvidenceRun[] = [];
  updateEvidence(deps.db, e.id, { state: 'running', runs, flagged: false, summary: '' });
  try {
    for (const [code, paramsOf] of [
      [e.leftSub, e.leftSub],
      [e.leftSub, e.rightSub],
      [e.rightSub, e.rightSub],
      [e.rightSub, e.leftSub],
    ] as const) {
      if (signal.aborted) throw new Error('stopped by a restart');
      runs.push(await runAgainst(deps, code, paramsOf, signal));
      updateEvidence(deps.db, e.id, { state: 'running', runs, flagged: false, summary: '' });
    }
    const findings: string[] = [];
    const sides: Array<[EvidenceRun, EvidenceRun]> = [
      [runs[0]!, runs[1]!],
      [runs[2]!, runs[3]!],
    ];
    for (const [own, foreign] of sides) {
      const a = fraction(own);
      const b = fraction(foreign);
      if (a === null || b === null) continue;
      if (b > a) findings.push(`${labels[own.code] ?? `submission ${own.code}`}'s code scores ${(b * 100).toFixed(0)} % on ${labels[foreign.paramsOf] ?? 'the other'}'s parameters but ${(a * 100).toFixed(0)} % on its own`);
    }
    const ungradable = runs.filter((r) => fraction(r) === null).length;
    const summary = findings.length
      ? `${findings.join('; ')}. This suggests code written for the other's variant; look at it before deciding anything.`
      : `No side does better on the other's parameters than on its own${ungradable ? ` (${ungradable} of 4 runs could not be graded)` : ''}.`;
    updateEvidence(deps.db, e.id, { state: 'done', runs, flagged: findings.length > 0, summary });
  } catch (err) {
    updateEvidence(deps.db, e.id, { state: 'failed', runs, flagged: false, summary: `The check could not run: ${err instanceof Error ? err.message : String(err)}` });
  }
}
