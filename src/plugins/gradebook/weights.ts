import type { Db } from '../../db/open.js';
import type { Course } from '../../lib/content.js';
import { round3 } from '../review/score.js';
import { gradebookSettings } from './store.js';

/**
 * The one home of the gradebook's total: the page, the CSV export and the student's own grades
 * page all call weightedTotal() with the weights from assignmentWeights().
 *
 * Each assignment has a weight (default 1; 0 leaves it out) and a maximum, the points it is out
 * of (default: the maximum of the assignment's own final-score rule, as on the counted
 * submission). An assignment's fraction is its counted final score (after the late penalty)
 * divided by that maximum; missing, not yet graded or waiting for staff counts 0. The total is
 * Σ weight × fraction / Σ weight, as a percentage: a bonus past the maximum can take it past 100.
 * Both settings come from course.yaml (`gradebook: {weights: {slug: n}, max: {slug: n}}`),
 * which wins where it gives one, else from the gradebook page.
 */
export const TOTAL_RULE_TEXT =
  'Total = Σ (weight × counted score ÷ maximum) ÷ Σ weight, as a percentage. The counted score is after its late penalty; a missing or not yet graded assignment counts 0; weight 0 leaves an assignment out; a bonus can take a score past its maximum.';

export type SettingSource = 'course.yaml' | 'page' | 'default';

export interface AssignmentWeight {
  slug: string;
  weight: number;
  weightFrom: SettingSource;
  /** Null: each counted submission's own maximum. */
  max: number | null;
  maxFrom: SettingSource;
}

export function assignmentWeights(db: Db, course: Course, slugs: string[]): Map<string, AssignmentWeight> {
  const stored = gradebookSettings(db, course.slug);
  const file = course.gradebook ?? { weights: {}, max: {} };
  const out = new Map<string, AssignmentWeight>();
  for (const slug of slugs) {
    const page = stored.get(slug);
    const fw = file.weights[slug];
    const fm = file.max[slug];
    const weight = fw !== undefined ? { weight: fw, weightFrom: 'course.yaml' as const } : page?.weight != null ? { weight: page.weight, weightFrom: 'page' as const } : { weight: 1, weightFrom: 'default' as const };
    const max = fm !== undefined ? { max: fm, maxFrom: 'course.yaml' as const } : page?.maxPoints != null ? { max: page.maxPoints, maxFrom: 'page' as const } : { max: null, maxFrom: 'default' as const };
    out.set(slug, { slug, ...weight, ...max });
  }
  return out;
}

export interface TotalCell {
  slug: string;
  /** The counted final score; null when missing, not graded, or waiting for staff. */
  final: number | null;
  /** The counted submission's own maximum. */
  maxScore: number | null;
}

export interface Total {
  /** Percentage, 0..100 (more with bonuses), rounded to 0.001; null when no assignment has weight. */
  percent: number | null;
  /** Each assignment's fraction of its maximum (null: counts 0). */
  fractions: Map<string, number | null>;
}

export function weightedTotal(cells: TotalCell[], weights: Map<string, AssignmentWeight>): Total {
  let sum = 0;
  let weightSum = 0;
  const fractions = new Map<string, number | null>();
  for (const c of cells) {
    const w = weights.get(c.slug);
    const weight = w?.weight ?? 1;
    const max = w?.max ?? c.maxScore;
    const fraction = c.final !== null && max !== null && max > 0 ? c.final / max : null;
    fractions.set(c.slug, fraction);
    if (weight <= 0) continue;
    weightSum += weight;
    sum += weight * (fraction ?? 0);
  }
  return { percent: weightSum > 0 ? round3((sum / weightSum) * 100) : null, fractions };
}
