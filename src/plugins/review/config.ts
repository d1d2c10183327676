import { z } from 'zod';

/**
 * The `grading:` section of assignment.yaml: how the final score is made, the regrade window and
 * the rubric. Parsed here and plugged into the assignment schema, so that the one validator
 * reports its problems with the file and the field like every other field.
 *
 * ```yaml
 * grading:
 *   final: autotest + manual     # autotest | manual | autotest + manual
 *   weights: { autotest: 70, manual: 30 }   # what each part is worth, in points
 *   regrade_window: 7d           # after release; 0 turns regrade requests off
 *   rubric:
 *     - group: Style
 *       max: 5
 *       scoring: negative        # starts at max, items take points away
 *       items:
 *         - { key: names, title: Unclear names, points: -1 }
 * ```
 */

export type FinalMode = 'autotest' | 'manual' | 'both';

export interface RubricItemConfig {
  key: string;
  title: string;
  description: string;
  points: number;
}

export interface RubricGroupConfig {
  key: string;
  title: string;
  max: number;
  scoring: 'positive' | 'negative';
  items: RubricItemConfig[];
}

export interface GradingConfig {
  final: FinalMode;
  /** Points of each part in `both`; their sum is the final maximum. */
  weights: { autotest: number; manual: number };
  /** How long after release a student may ask for a regrade; 0: never. */
  regradeWindowMs: number;
  /** Null: assignment.yaml says nothing about a rubric (the web editor's rubric stands). */
  rubric: RubricGroupConfig[] | null;
}

export const DEFAULT_GRADING: GradingConfig = { final: 'autotest', weights: { autotest: 100, manual: 0 }, regradeWindowMs: 7 * 86_400_000, rubric: null };

/** "Code style" -> "code-style": a key for a group or item named only by its title. */
export function keyOf(title: string): string {
  const k = title
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60);
  return k || 'item';
}

const KEY = /^[a-z0-9][a-z0-9_-]{0,59}$/;
const points = z.number({ error: 'must be a number of points' }).finite().min(-1000, 'must be at least -1000').max(1000, 'must be at most 1000');
const DURATION = /^(\d+(?:\.\d+)?)\s*(m|min|h|d)$/i;
const UNIT: Record<string, number> = { m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

const item = z.strictObject({
  key: z.string().regex(KEY, 'must be lowercase letters, digits, "-" or "_" (at most 60)').optional(),
  title: z.string({ error: 'is required: what the item says' }).trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  description: z.string().max(2000, 'must be at most 2000 characters').default(''),
  points,
});

const group = z.strictObject({
  group: z.string({ error: 'is required: the group title' }).trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  key: z.string().regex(KEY, 'must be lowercase letters, digits, "-" or "_" (at most 60)').optional(),
  max: z.number({ error: 'must be the most points the group can give' }).finite().min(0, 'must be at least 0').max(1000, 'must be at most 1000'),
  scoring: z.enum(['positive', 'negative'], { error: 'must be positive (items add from 0) or negative (items take away from max)' }).default('positive'),
  items: z.array(item, { error: 'must be a list of items' }).min(1, 'must have at least one item').max(100, 'must have at most 100 items'),
});

export const gradingSchema = z
  .strictObject({
    final: z.enum(['autotest', 'manual', 'autotest + manual'], { error: 'must be "autotest", "manual" or "autotest + manual"' }).default('autotest'),
    weights: z
      .strictObject({
        autotest: z.number({ error: 'must be a number of points' }).min(0, 'must be at least 0').max(10_000, 'must be at most 10000'),
        manual: z.number({ error: 'must be a number of points' }).min(0, 'must be at least 0').max(10_000, 'must be at most 10000'),
      })
      .optional(),
    regrade_window: z
      .union([z.string(), z.number()], { error: 'must be a duration like "7d" (a bare number is days)' })
      .transform((v, ctx) => {
        const ms = typeof v === 'number' ? v * 86_400_000 : DURATION.test(v.trim()) ? Number(DURATION.exec(v.trim())![1]) * UNIT[DURATION.exec(v.trim())![2]!.toLowerCase()]! : /^\d+$/.test(v.trim()) ? Number(v) * 86_400_000 : NaN;
        if (!Number.isFinite(ms) || ms < 0 || ms > 366 * 86_400_000) {
          ctx.addIssue({ code: 'custom', message: 'must be a duration like "7d" or "48h", at most a year (a bare number is days)' });
          return z.NEVER;
        }
        return ms;
      })
      .optional(),
    rubric: z.array(group, { error: 'must be a list of groups' }).max(50, 'must have at most 50 groups').optional(),
  })
  .superRefine((g, ctx) => {
    if (g.final === 'autotest + manual') {
      if (!g.weights) ctx.addIssue({ code: 'custom', path: ['weights'], message: 'is required with "autotest + manual": the points of each part, like { autotest: 70, manual: 30 }' });
      else if (g.weights.autotest + g.weights.manual <= 0) ctx.addIssue({ code: 'custom', path: ['weights'], message: 'must give at least one part some points' });
    }
    if (g.final !== 'autotest' && !g.rubric?.length) {
      // A manual part without a rubric is allowed (adjustments only), but it has no maximum.
      ctx.addIssue({ code: 'custom', path: ['rubric'], message: `is required with final: ${g.final} (its groups' maxima make the manual maximum)` });
    }
    const groupKeys = new Set<string>();
    (g.rubric ?? []).forEach((grp, i) => {
      const gk = grp.key ?? keyOf(grp.group);
      if (groupKeys.has(gk)) ctx.addIssue({ code: 'custom', path: ['rubric', i, 'key'], message: `"${gk}" is used by two groups; give one a different key` });
      groupKeys.add(gk);
      const itemKeys = new Set<string>();
      grp.items.forEach((it, j) => {
        const ik = it.key ?? keyOf(it.title);
        if (itemKeys.has(ik)) ctx.addIssue({ code: 'custom', path: ['rubric', i, 'items', j, 'key'], message: `"${ik}" is used by two items of this group; give one a different key` });
        itemKeys.add(ik);
      });
    });
  })
  .optional();

export function normaliseGrading(raw: z.infer<typeof gradingSchema>): GradingConfig {
  if (!raw) return DEFAULT_GRADING;
  const final: FinalMode = raw.final === 'autotest + manual' ? 'both' : raw.final;
  return {
    final,
    weights: raw.weights ?? (final === 'manual' ? { autotest: 0, manual: 100 } : { autotest: 100, manual: 0 }),
    regradeWindowMs: raw.regrade_window ?? DEFAULT_GRADING.regradeWindowMs,
    rubric: raw.rubric
      ? raw.rubric.map((g) => ({
          key: g.key ?? keyOf(g.group),
          title: g.group,
          max: g.max,
          scoring: g.scoring,
          items: g.items.map((i) => ({ key: i.key ?? keyOf(i.title), title: i.title, description: i.description, points: i.points })),
        }))
      : null,
  };
}

/** A stored version's config predates the section: the defaults. */
export function gradingOf(config: { grading?: GradingConfig }): GradingConfig {
  return config.grading ?? DEFAULT_GRADING;
}
