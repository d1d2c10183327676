import type { Visibility } from '../assignments/config.js';
import type { SubmissionStatus } from './grading.js';
import { durationText } from './forecast.js';
import { visibleTests, type TestOutcome } from './results.js';
import type { TamperFlag } from './tamper.js';

export interface Viewer {
  staff: boolean;
  /** The student's own deadline has passed (after_due_date feedback opens). */
  afterDeadline: boolean;
  /** Staff released the student's grades (review's isPublished): after_published feedback opens. */
  published?: boolean;
}

export interface Feedback {
  tests: Visibility;
  output: Visibility;
  score: Visibility;
}

export interface PresentedStatus {
  state: SubmissionStatus['state'];
  position: number | null;
  /** While waiting: when the result is expected (src/plugins/autotest/forecast.ts); null without history. */
  eta: { ms: number; text: string } | null;
  /** A re-run is queued or running while an older result is shown. */
  rerunning: boolean;
  result: null | {
    status: string;
    gradable: boolean;
    score: number | null;
    maxScore: number | null;
    /** Score after the late penalty (when shown). */
    finalScore: number | null;
    scoreHidden: boolean;
    output: string | null;
    tests: TestOutcome[];
    hiddenTests: number;
    problem: string | null;
    /** Staff only; always empty for students (a sign for staff to look at, not an accusation). */
    tamper: TamperFlag[];
    durationMs: number;
    at: number;
  };
}

function shown(v: Visibility, viewer: Viewer): boolean {
  return viewer.staff || v === 'visible' || (v === 'after_due_date' && viewer.afterDeadline);
}

/** What a viewer may see of a submission's grading: staff see everything, students by the bundle's feedback rules. */
export function presentStatus(status: SubmissionStatus, viewer: Viewer, feedback: Feedback, penaltyPct: number, etaMs: number | null = null): PresentedStatus {
  const r = status.result;
  const waiting = status.state === 'queued' || status.state === 'running';
  const eta = waiting && etaMs !== null ? { ms: etaMs, text: durationText(etaMs) } : null;
  if (!r) return { state: status.state, position: status.position, eta, rerunning: false, result: null };
  const tests = visibleTests(r.tests, viewer);
  const scoreShown = shown(feedback.score, viewer);
  const final = r.score === null ? null : Math.round(r.score * (1 - penaltyPct / 100) * 1000) / 1000;
  return {
    state: waiting ? status.state : r.gradable ? 'done' : 'error',
    position: status.position,
    eta,
    rerunning: waiting,
    result: {
      status: scoreShown || !r.gradable ? r.status : 'submitted',
      gradable: r.gradable,
      score: scoreShown ? r.score : null,
      maxScore: scoreShown ? r.maxScore : null,
      finalScore: scoreShown ? final : null,
      scoreHidden: !scoreShown,
      output: shown(feedback.output, viewer) ? r.output : null,
      tests,
      hiddenTests: r.tests.length - tests.length,
      problem: viewer.staff ? r.problem : null,
      tamper: viewer.staff ? r.tamper : [],
      durationMs: r.durationMs,
      at: r.createdAt,
    },
  };
}
