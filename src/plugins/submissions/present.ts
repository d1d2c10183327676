import type { SubmissionStatus } from '../autotest/grading.js';
import { durationText } from '../autotest/forecast.js';
import { renderOutput } from '../autotest/output-format.js';
import type { Feedback, PresentedStatus, Viewer } from '../autotest/present.js';
import { isVisible, visibleTests } from '../autotest/results.js';
import { penalised } from '../assignments/deadline.js';

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
  const final = r.score === null ? null : penalised(r.score, penaltyPct);
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
      unobserved: viewer.staff ? (d.unobserved ?? []) : [],
      durationMs: r.durationMs,
      at: r.createdAt,
    },
  };
}
