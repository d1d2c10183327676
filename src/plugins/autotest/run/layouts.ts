import path from 'node:path';
import type { SandboxInput } from '../../../lib/sandbox/types.js';
import type { Layout } from '../../assignments/config.js';

/** Where a run's files go and where its verdict is read, as the autograder expects them. */
export interface LayoutPlan {
  workDir: string;
  inputs: SandboxInput[];
  files: Record<string, string>;
  /** The results file, relative to the work dir. */
  results: string;
}

export interface LayoutInput {
  /** The submission's files, each with `to` its file name. */
  submission: SandboxInput[];
  /** The bundle's files on this machine (the whole bundle, or at least what the layout needs), or null. */
  bundleDir: string | null;
  /** Which bundle paths exist (to know whether tests/ or run_autograder is there). */
  has: (bundlePath: string) => boolean;
  /** Every bundle path (empty when unknown: jobs of older servers, then the whole folder goes). */
  paths?: string[];
  params: Record<string, unknown>;
  /** For Gradescope's submission_metadata.json and PrairieLearn's data.json. */
  meta: { submissionId: number; submittedAt?: number; deadlineAt?: number; title?: string };
}

/** Which bundle files a layout needs at run time (remote workers are sent these). */
export function layoutNeeds(layout: Layout, bundlePath: string): boolean {
  if (layout === 'lectern' || layout === 'prairielearn') return bundlePath.startsWith('tests/');
  // Gradescope: the whole autograder zip is /autograder/source, apart from what Lectern itself
  // uses: the statement, starter files, the generator, the reference solution (student code shares
  // a legacy run's sandbox: it must never be there) and the environment's inputs (wheels, images).
  return !(bundlePath === 'statement.md' || bundlePath.startsWith('starter/') || bundlePath === 'generate' || bundlePath.startsWith('solution/') || bundlePath.startsWith('environment/'));
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

export function planLayout(layout: Layout, input: LayoutInput): LayoutPlan {
  const { submission, bundleDir, has, params, meta } = input;
  if (layout === 'gradescope') {
    const inputs: SandboxInput[] = submission.map((f) => ({ from: f.from, to: `submission/${f.to}` }));
    if (bundleDir) {
      const top = [...new Set((input.paths ?? []).filter((p) => layoutNeeds('gradescope', p)).map((p) => p.split('/')[0]!))].sort();
      if (input.paths?.length) for (const name of top) inputs.push({ from: path.join(bundleDir, name), to: `source/${name}` });
      else inputs.push({ from: bundleDir, to: 'source' });
      // Gradescope copies run_autograder to /autograder/run_autograder when it builds the image.
      if (has('run_autograder')) inputs.push({ from: path.join(bundleDir, 'run_autograder'), to: 'run_autograder' });
    }
    const metadata = {
      id: meta.submissionId,
      created_at: iso(meta.submittedAt),
      assignment: { title: meta.title ?? null, due_date: iso(meta.deadlineAt) },
      users: [],
      previous_submissions: [],
      params,
    };
    return {
      workDir: '/autograder',
      inputs,
      files: { 'submission_metadata.json': JSON.stringify(metadata, null, 2), 'results/.keep': '', 'params.json': JSON.stringify(params, null, 2) },
      results: 'results/results.json',
    };
  }
  if (layout === 'prairielearn') {
    const inputs: SandboxInput[] = submission.map((f) => ({ from: f.from, to: `student/${f.to}` }));
    if (bundleDir && has('tests/')) inputs.push({ from: path.join(bundleDir, 'tests'), to: 'tests' });
    const data = { params, correct_answers: {}, submitted_answers: {}, format_errors: {}, partial_scores: {}, score: 0, feedback: {}, variant_seed: 0, options: {}, raw_submitted_answers: {}, gradable: true };
    return {
      workDir: '/grade',
      inputs,
      files: { 'data/data.json': JSON.stringify(data, null, 2), 'results/.keep': '' },
      results: 'results/results.json',
    };
  }
  const inputs: SandboxInput[] = [...submission];
  if (bundleDir && has('tests/')) inputs.push({ from: path.join(bundleDir, 'tests'), to: 'tests' });
  return { workDir: '/work', inputs, files: { 'params.json': JSON.stringify(params, null, 2) }, results: 'results.json' };
}
