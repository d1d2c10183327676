import { describe, expect, it } from 'vitest';
import { parseAssignmentYaml } from '../../src/plugins/assignments/config.js';
import { finalScore, groupScore, manualPart } from '../../src/plugins/review/score.js';

/** The final-score rule (one home: review/score.ts) and the `grading:` section of assignment.yaml. */

const both = { final: 'both' as const, weights: { autotest: 70, manual: 30 } };

describe('finalScore', () => {
  it('autotest only: the autotest score, adjustments, then the penalty once', () => {
    const b = finalScore({ final: 'autotest', weights: { autotest: 100, manual: 0 } }, { autotest: { score: 8, max: 10 }, manual: null, adjustments: 1, penaltyPct: 25 });
    expect(b).toMatchObject({ beforePenalty: 9, final: 6.75, max: 10, penaltyPoints: 2.25, missing: null });
  });

  it('manual only: needs the grade marked done', () => {
    expect(finalScore({ final: 'manual', weights: { autotest: 0, manual: 100 } }, { autotest: { score: 10, max: 10 }, manual: null, adjustments: 0, penaltyPct: 0 })).toMatchObject({ final: null, missing: 'not graded by staff yet' });
    expect(finalScore({ final: 'manual', weights: { autotest: 0, manual: 100 } }, { autotest: null, manual: { score: 7.5, max: 12 }, adjustments: 0, penaltyPct: 10 })).toMatchObject({ final: 6.75, max: 12 });
  });

  it('autotest + manual: weighted fractions, out of the weights\' sum', () => {
    const b = finalScore(both, { autotest: { score: 5, max: 10 }, manual: { score: 3, max: 4 }, adjustments: 0, penaltyPct: 0 });
    expect(b).toMatchObject({ final: 57.5, max: 100 });
    expect(finalScore(both, { autotest: null, manual: { score: 3, max: 4 }, adjustments: 0, penaltyPct: 0 })).toMatchObject({ final: null, max: 100, missing: 'no gradable test run yet' });
  });

  it('a part with a maximum of 0 counts as 0, never NaN', () => {
    expect(finalScore(both, { autotest: { score: 0, max: 0 }, manual: { score: 4, max: 4 }, adjustments: 0, penaltyPct: 0 }).final).toBe(30);
  });

  it('adjustments never take the score below 0, a bonus may pass the maximum', () => {
    expect(finalScore(both, { autotest: { score: 1, max: 10 }, manual: { score: 0, max: 4 }, adjustments: -50, penaltyPct: 0 }).final).toBe(0);
    expect(finalScore(both, { autotest: { score: 10, max: 10 }, manual: { score: 4, max: 4 }, adjustments: 5, penaltyPct: 0 }).final).toBe(105);
  });

  it('groups: positive from 0 up to max, negative from max down to 0', () => {
    expect(groupScore({ max: 5, scoring: 'positive', applied: [3, 4] })).toBe(5);
    expect(groupScore({ max: 5, scoring: 'positive', applied: [-2] })).toBe(0);
    expect(groupScore({ max: 5, scoring: 'negative', applied: [-2, -1.5] })).toBe(1.5);
    expect(groupScore({ max: 5, scoring: 'negative', applied: [-4, -4] })).toBe(0);
    expect(groupScore({ max: 5, scoring: 'negative', applied: [] })).toBe(5);
    expect(manualPart([{ max: 5, scoring: 'negative', applied: [-1] }, { max: 3, scoring: 'positive', applied: [1, 1] }])).toEqual({ score: 6, max: 8 });
  });
});

describe('assignment.yaml grading section', () => {
  const base = `title: T
deadline: 2026-10-10T23:59:00+02:00
files: [a.txt]
test:
  command: [/bin/sh, tests/run.sh]
`;
  it('reads the rule, weights, window and rubric, with keys made from titles', () => {
    const { config, problems } = parseAssignmentYaml(`${base}grading:
  final: autotest + manual
  weights: { autotest: 80, manual: 20 }
  regrade_window: 48h
  rubric:
    - group: Code style
      max: 3
      scoring: negative
      items:
        - { title: "Magic numbers!", points: -1 }
`);
    expect(problems).toEqual([]);
    expect(config!.grading).toEqual({
      final: 'both',
      weights: { autotest: 80, manual: 20 },
      regradeWindowMs: 48 * 3_600_000,
      rubric: [{ key: 'code-style', title: 'Code style', max: 3, scoring: 'negative', items: [{ key: 'magic-numbers', title: 'Magic numbers!', description: '', points: -1 }] }],
    });
  });

  it('without the section: autotest only, no rubric', () => {
    expect(parseAssignmentYaml(base).config!.grading).toMatchObject({ final: 'autotest', rubric: null });
  });

  it('reports each problem with its field', () => {
    const { problems } = parseAssignmentYaml(`${base}grading:
  final: manual + vibes
  regrade_window: soon
  rubric:
    - group: A
      max: -1
      items:
        - { title: X, points: 1 }
        - { title: X, points: 2 }
`);
    const fields = problems.map((p) => p.field);
    expect(fields).toEqual(expect.arrayContaining(['grading.final', 'grading.regrade_window', 'grading.rubric.0.max']));
    const dup = parseAssignmentYaml(`${base}grading:
  final: autotest + manual
  rubric:
    - group: A
      max: 1
      items:
        - { title: X, points: 1 }
        - { title: X, points: 2 }
`).problems;
    expect(dup.map((p) => p.field)).toEqual(expect.arrayContaining(['grading.weights', 'grading.rubric.0.items.1.key']));
  });
});
