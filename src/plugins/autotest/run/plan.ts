import { testPlanOf, type AssignmentConfig, type IoTests, type RunLimits, type Visibility } from '../../assignments/config.js';
import { renderText, type TemplateStudent } from '../../assignments/render.js';

/** A declarative case with its templates filled in for one student. */
export interface RenderedCase {
  name: string;
  stdin: string;
  args: string[];
  expected: string | null;
  points: number;
  visibility: Visibility;
}

/**
 * How one job grades, decided on the server from the bundle version and the variant and carried
 * to whoever runs it (the local pool or a remote worker). A payload without a plan is legacy.
 */
export type GradingPlan =
  | { mode: 'legacy' }
  | { mode: 'harness'; studentLimits: RunLimits; maxCalls: number }
  | ({ mode: 'io'; studentLimits: RunLimits; cases: RenderedCase[] } & Omit<IoTests, 'cases'>);

export class PlanError extends Error {}

export function planFor(config: AssignmentConfig, params: Record<string, unknown>, student: TemplateStudent): GradingPlan {
  const t = testPlanOf(config);
  if (t.mode === 'harness') return { mode: 'harness', studentLimits: t.studentLimits, maxCalls: t.maxCalls };
  if (t.mode !== 'io' || !t.io) return { mode: 'legacy' };
  const ctx = { params, student };
  const render = (source: string, name: string) => {
    try {
      return renderText(source, ctx, undefined, name);
    } catch (err) {
      throw new PlanError(`assignment.yaml: ${(err as Error).message}`);
    }
  };
  const { cases, ...rest } = t.io;
  return {
    mode: 'io',
    studentLimits: t.studentLimits,
    ...rest,
    cases: cases.map((c, i) => ({
      name: c.name,
      stdin: render(c.stdin, `test.cases.${i}.stdin`),
      args: c.args.map((a, j) => render(a, `test.cases.${i}.args.${j}`)),
      expected: c.expected === null ? null : render(c.expected, `test.cases.${i}.expected`),
      points: c.points,
      visibility: c.visibility ?? config.feedback.tests,
    })),
  };
}
