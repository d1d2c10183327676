import { penalised } from '../assignments/deadline.js';
import type { FinalMode, GradingConfig } from './config.js';

/**
 * The one home of the final-score rule. Everything that shows or exports a score (the student's
 * breakdown, the staff view, the gradebook, the CSV, the histogram, the students page) calls
 * finalScore(); nothing else combines parts or applies the late penalty.
 *
 * - autotest: the autotest score, out of the autotest maximum.
 * - manual: the rubric total (each group's items summed and held within [0, group max]), out of
 *   the sum of the groups' maxima.
 * - both: weights.autotest × autotest fraction + weights.manual × manual fraction, out of the
 *   weights' sum.
 * Then free adjustments (in the final's points) are added, the sum is held at 0 or more (a bonus
 * may pass the maximum), and the late penalty recorded on the submission is applied, once.
 * A part the rule needs and that is missing (no gradable run; not marked graded) makes the final
 * null: "not graded yet", never a zero.
 */

export interface Part {
  score: number;
  max: number;
}

export interface GroupScoreInput {
  max: number;
  scoring: 'positive' | 'negative';
  /** Points of the items applied in this group. */
  applied: number[];
}

export interface FinalBreakdown {
  mode: FinalMode;
  autotest: Part | null;
  manual: Part | null;
  weights: { autotest: number; manual: number };
  /** Sum of the free adjustments. */
  adjustments: number;
  /** Before the penalty: the combined parts plus adjustments, at least 0. */
  beforePenalty: number | null;
  penaltyPct: number;
  /** What the penalty took. */
  penaltyPoints: number | null;
  final: number | null;
  max: number | null;
  /** Why final is null, for people. */
  missing: string | null;
}

export function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** A group's total: items add from 0 (positive) or take away from max (negative), held in [0, max]. */
export function groupScore(g: GroupScoreInput): number {
  const sum = g.applied.reduce((t, p) => t + p, 0);
  const start = g.scoring === 'negative' ? g.max : 0;
  return round3(Math.min(g.max, Math.max(0, start + sum)));
}

/** The manual part from the rubric's groups. */
export function manualPart(groups: GroupScoreInput[]): Part {
  return { score: round3(groups.reduce((t, g) => t + groupScore(g), 0)), max: round3(groups.reduce((t, g) => t + g.max, 0)) };
}

function fraction(p: Part): number {
  return p.max > 0 ? p.score / p.max : 0;
}

export function finalScore(
  grading: Pick<GradingConfig, 'final' | 'weights'>,
  parts: { autotest: Part | null; manual: Part | null; adjustments: number; penaltyPct: number },
): FinalBreakdown {
  const mode = grading.final;
  const base: Omit<FinalBreakdown, 'beforePenalty' | 'penaltyPoints' | 'final' | 'max' | 'missing'> = {
    mode,
    autotest: parts.autotest,
    manual: parts.manual,
    weights: grading.weights,
    adjustments: round3(parts.adjustments),
    penaltyPct: parts.penaltyPct,
  };
  const empty = (missing: string, max: number | null): FinalBreakdown => ({ ...base, beforePenalty: null, penaltyPoints: null, final: null, max, missing });
  let combined: number;
  let max: number;
  if (mode === 'autotest') {
    if (!parts.autotest) return empty('no gradable test run yet', null);
    combined = parts.autotest.score;
    max = parts.autotest.max;
  } else if (mode === 'manual') {
    if (!parts.manual) return empty('not graded by staff yet', null);
    combined = parts.manual.score;
    max = parts.manual.max;
  } else {
    max = grading.weights.autotest + grading.weights.manual;
    if (!parts.autotest) return empty('no gradable test run yet', max);
    if (!parts.manual) return empty('not graded by staff yet', max);
    combined = grading.weights.autotest * fraction(parts.autotest) + grading.weights.manual * fraction(parts.manual);
  }
  const beforePenalty = round3(Math.max(0, combined + parts.adjustments));
  const final = penalised(beforePenalty, parts.penaltyPct);
  return { ...base, beforePenalty, penaltyPoints: round3(beforePenalty - final), final, max: round3(max), missing: null };
}
