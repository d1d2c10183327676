/**
 * Which submission counts: the one rule the gradebook, its CSV, the students page, the
 * submissions zip, "re-run counted" and review's grading queue all use (review's queue.ts
 * asks grades.ts, which asks this).
 *
 * A submission is *in the running* once what the machine decides about it is known: a gradable
 * test run when the final score uses the tests (`final: autotest` or `autotest + manual`), or at
 * once when it is manual only. Among those:
 * - `counts: last`: the newest one counts, even while it waits for staff's grading (the
 *   gradebook then says "needs grading" instead of showing the older grade it will replace, and
 *   the grading queue offers that newest one);
 * - `counts: best`: the highest final score counts; one that staff have not graded yet is ranked
 *   by the most it can still reach (full marks for the manual part), so a newer submission that
 *   could beat the best graded one is the one to grade, and one that cannot is never offered.
 *   On a tie the later submission counts.
 */

export interface Countable {
  /** The final score (review's finalScore), null while a part is missing. */
  final: number | null;
  /** The final, or, when only staff's part is missing, the most it can reach. */
  ceiling: number | null;
  /** In the running (see above). */
  ready: boolean;
}

/** From a student's submissions in hand-in order (oldest first): the one that counts, or null. */
export function countedOf<T extends Countable>(handedIn: readonly T[], counts: 'last' | 'best'): T | null {
  let chosen: T | null = null;
  for (const s of handedIn) {
    if (!s.ready) continue;
    if (counts === 'last' || chosen === null || (s.ceiling ?? -Infinity) >= (chosen.ceiling ?? -Infinity)) chosen = s;
  }
  return chosen;
}

/** The graded submission with the highest final score (the later one on a tie), whatever the rule. */
export function bestGradedOf<T extends Countable>(handedIn: readonly T[]): T | null {
  let best: T | null = null;
  for (const s of handedIn) if (s.final !== null && (best === null || s.final >= best.final!)) best = s;
  return best;
}

/** The rule in words, for the pages that show counted scores. */
export function countedRuleText(counts: 'last' | 'best'): string {
  return counts === 'last'
    ? 'the newest submission with a gradable test run (with manual grading only: the newest submission), even before staff grade it'
    : 'the submission with the highest final score after its late penalty (one not graded by staff yet is ranked by the most it can still reach; the later one on a tie)';
}
