import type { Visibility } from '../assignments/config.js';
import type { SubmissionStatus } from './grading.js';
import { durationText } from './forecast.js';
import { renderOutput } from './output-format.js';
import { isVisible, visibleTests, type LeaderboardEntry, type ResultImage, type TestOutcome } from './results.js';
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
  /** Absent in versions imported before it existed: the total was shown (visible). */
  totalWithHiddenTests?: 'hidden' | 'visible';
}

export interface PresentedTest extends Omit<TestOutcome, 'extraData'> {
  /** The output as safe HTML in its format. */
  outputHtml: string;
  /** Staff only. */
  extraData?: unknown;
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
    /** Why the score is hidden: the feedback rules, or tests the viewer may not see yet (their points would give them away). */
    scoreHiddenWhy: 'feedback' | 'hidden_tests' | null;
    output: string | null;
    outputHtml: string | null;
    /** PrairieLearn's message (also why a submission could not be graded) and format errors. */
    message: string;
    formatErrors: string[];
    images: ResultImage[];
    tests: PresentedTest[];
    hiddenTests: number;
    /** The harness's own output, when results.json's stdout_visibility lets the viewer see it. */
    stdout: string | null;
    leaderboard: LeaderboardEntry[];
    executionTime: number | null;
    /** Staff only. */
    extraData?: unknown;
    problem: string | null;
    /** Staff only; always empty for students (a sign for staff to look at, not an accusation). */
    tamper: TamperFlag[];
    /** Staff only: student code shared the grader's sandbox (results.ts, Grade.legacy). */
    legacy: boolean;
    durationMs: number;
    at: number;
  };
}

/** What a viewer may see of a submission's grading: staff see everything, students by the bundle's feedback rules. */
export function presentStatus(status: SubmissionStatus, viewer: Viewer, feedback: Feedback, penaltyPct: number, etaMs: number | null = null): PresentedStatus {
  const r = status.result;
  const waiting = status.state === 'queued' || status.state === 'running';
  const eta = waiting && etaMs !== null ? { ms: etaMs, text: durationText(etaMs) } : null;
  if (!r) return { state: status.state, position: status.position, eta, rerunning: false, result: null };
  const d = r.details;
  const tests = visibleTests(r.tests, viewer);
  const hiddenTests = r.tests.length - tests.length;
  // Gradescope's rule (the default for its graders, a choice for Lectern's own): while some tests
  // are hidden from the student, so is the total they make up.
  const hiddenPoints = feedback.totalWithHiddenTests === 'hidden' && hiddenTests > 0 && r.tests.some((t) => !isVisible(t.visibility, viewer) && (t.score !== null || t.maxScore !== null));
  const feedbackShown = isVisible(feedback.score, viewer);
  const scoreShown = feedbackShown && !hiddenPoints;
  const final = r.score === null ? null : Math.round(r.score * (1 - penaltyPct / 100) * 1000) / 1000;
  const outputShown = isVisible(feedback.output, viewer);
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
      scoreHiddenWhy: scoreShown ? null : feedbackShown ? 'hidden_tests' : 'feedback',
      output: outputShown ? r.output : null,
      outputHtml: outputShown ? renderOutput(r.output, d.outputFormat) : null,
      message: d.message,
      formatErrors: d.formatErrors,
      images: d.images,
      tests: tests.map(({ extraData, ...t }) => ({ ...t, outputHtml: renderOutput(t.output, t.outputFormat), ...(viewer.staff ? { extraData } : {}) })),
      hiddenTests,
      stdout: d.stdout && isVisible(d.stdoutVisibility, viewer) ? d.stdout : null,
      leaderboard: d.leaderboard,
      executionTime: d.executionTime,
      ...(viewer.staff ? { extraData: d.extraData } : {}),
      problem: viewer.staff ? r.problem : null,
      tamper: viewer.staff ? r.tamper : [],
      legacy: viewer.staff && d.legacy === true,
      durationMs: r.durationMs,
      at: r.createdAt,
    },
  };
}
