import type { Visibility } from '../assignments/config.js';
import type { SubmissionStatus } from './grading.js';
import type { LeaderboardEntry, ResultImage, TestOutcome } from './run/grade.js';
import type { TamperFlag } from './run/tamper.js';

/**
 * What a viewer is shown of a submission's grading: the shapes of the status view (the function
 * that makes it, presentStatus, is the submissions plugin's: src/plugins/submissions/present.ts).
 */
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
    /** Staff only: tamper signs the run's sandbox could not observe (unsafe mode). */
    unobserved: string[];
    durationMs: number;
    at: number;
  };
}
