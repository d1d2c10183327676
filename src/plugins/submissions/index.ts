import { wantsJson } from '../../middleware/errors.js';
import { fromOldShape, type OldShapePlugin } from '../../core/assemble.js';
import { isStaffRole, requireUser, roleIn } from '../../lib/auth.js';
import { courseOr404 } from '../../lib/content.js';
import { UserError } from '../../lib/errors.js';
import type { AppContext, Deps } from '../../plugin.js';
import { currentVersion, getVersion, referencedBlobs } from '../assignments/store.js';
import { jobEta } from '../autotest/forecast.js';
import { presentStatus, type PresentedStatus } from '../autotest/present.js';
import { gradesReleased } from '../review/release.js';
import { gradeNote, reviewSummary, type GradeNote } from '../review/summary.js';
import { rulesOf, timing } from './deadline.js';
import { receiveSubmission } from './intake.js';
import { blobReferenced, extensionFor, extensionInfo, studentSubmissions, submissionFiles, type Submission } from './store.js';
import { submissionParam, visibleOf, type VisibleSubmission } from './policy.js';
import { findUserById } from '../accounts/users.js';
import { getTeam, teamOf } from '../teams/store.js';
import { teamConfig } from '../teams/rules.js';

/** What a viewer may see of a submission's score: the autotest status and how it stands to the final score (review plugin). */
export type StatusView = PresentedStatus & { grade: GradeNote };

/** The grading status a viewer may see, with the student's own deadline deciding after_due_date feedback. */
export function statusFor(deps: Deps, v: VisibleSubmission): StatusView {
  const config = v.version.config;
  const ext = extensionFor(deps.db, v.assignment.id, v.submission.userId);
  const t = timing(rulesOf(config), deps.clock.now(), ext);
  const afterDeadline = t.state === 'closed' || ((t.state === 'late' || t.state === 'grace') && deps.clock.now() > t.deadlineAt);
  const published = gradesReleased(deps.db, v.assignment.id, v.submission.userId);
  const status = deps.services.grading.status(v.submission.id);
  const waiting = status.state === 'queued' || status.state === 'running';
  const presented = presentStatus(status, { staff: v.staff, afterDeadline, published }, config.feedback, v.submission.penaltyPct, waiting ? jobEta(deps, status.jobId) : null);
  return { ...presented, grade: gradeNote(deps, v.submission, v.assignment.course, v.assignment.slug, v.staff, v) };
}

/** Who handed a submission in, and for which team: the receipt names them. */
function submittedBy(deps: Deps, s: Submission): { id: number; name: string; team: string | null } {
  return { id: s.userId, name: findUserById(deps.db, s.userId)?.name ?? `user ${s.userId}`, team: s.teamId === null ? null : (getTeam(deps.db, s.teamId)?.name ?? null) };
}

function receiptJson(course: string, s: Submission, files: Array<{ name: string; sha256: string; size: number }>, by?: { id: number; name: string; team: string | null }) {
  return {
    id: s.id,
    number: s.number,
    ...(by ? { submittedBy: { id: by.id, name: by.name }, team: by.team } : {}),
    submittedAt: new Date(s.submittedAt).toISOString(),
    lateMinutes: s.lateMinutes,
    penaltyPct: s.penaltyPct,
    files,
    url: `/courses/${course}/submissions/${s.id}`,
  };
}

const submissions: OldShapePlugin = {
  name: 'submissions',
  params: (deps) => ({ id: submissionParam(deps) }),
  routes(router, deps) {
    const base = '/courses/:course/assignments/:slug/submissions';

    function assignmentFor(ctx: AppContext, course: string, slug: string) {
      const user = requireUser(ctx);
      const c = courseOr404(deps.content, course);
      const role = roleIn(ctx, course);
      if (!role) throw new UserError(404, 'There is no such assignment.');
      const current = currentVersion(deps.db, course, slug);
      if (!current) throw new UserError(404, 'There is no such assignment.');
      return { user, course: c, role, current };
    }

    router.get(base, async (ctx) => {
      const { user, course, role, current } = assignmentFor(ctx, ctx.params.course!, ctx.params.slug!);
      const config = current.version.config;
      const extInfo = extensionInfo(deps.db, current.assignment.id, user.id);
      const ext = extInfo?.untilAt ?? null;
      const t = timing(rulesOf(config), deps.clock.now(), ext);
      const team = teamConfig(config) ? (teamOf(deps.db, current.assignment.id, user.id) ?? null) : null;
      const list = studentSubmissions(deps.db, current.assignment.id, user.id).map((s) => {
        const v = { submission: s, assignment: current.assignment, version: getVersion(deps.db, s.versionId)!, staff: isStaffRole(role) };
        return { submission: s, status: statusFor(deps, v), by: submittedBy(deps, s) };
      });
      if (wantsJson(ctx)) {
        ctx.body = { submissions: list.map((l) => ({ ...receiptJson(course.slug, l.submission, submissionFiles(deps.db, l.submission.id), l.by), status: l.status })) };
        return;
      }
      ctx.render('submissions/index.njk', {
        course,
        slug: current.assignment.slug,
        config,
        timing: t,
        extension: ext,
        extensionInfo: extInfo,
        teamAssignment: teamConfig(config),
        team,
        list,
        counts: config.counts,
        accept: config.files.join(','),
      });
    });

    router.post(base, async (ctx) => {
      const { user, course, current } = assignmentFor(ctx, ctx.params.course!, ctx.params.slug!);
      const receipt = await receiveSubmission(ctx, deps, current, user);
      ctx.state.log.info({ submission: receipt.submission.id, user: user.id, assignment: current.assignment.slug, files: receipt.files.length }, 'submission received');
      const body = receiptJson(course.slug, receipt.submission, receipt.files, submittedBy(deps, receipt.submission));
      if (wantsJson(ctx)) {
        ctx.status = 201;
        ctx.set('Location', body.url);
        ctx.body = body;
        return;
      }
      ctx.status = 303;
      ctx.redirect(body.url);
    });

    router.get('/courses/:course/submissions/:id', async (ctx) => {
      const v = visibleOf(ctx);
      const status = statusFor(deps, v);
      const files = submissionFiles(deps.db, v.submission.id);
      if (wantsJson(ctx)) {
        ctx.body = { ...receiptJson(ctx.params.course!, v.submission, files, submittedBy(deps, v.submission)), status };
        return;
      }
      ctx.render('submissions/show.njk', {
        course: courseOr404(deps.content, ctx.params.course),
        slug: v.assignment.slug,
        title: v.version.config.title,
        submission: v.submission,
        files,
        status,
        by: submittedBy(deps, v.submission),
        staff: v.staff,
        review: reviewSummary(deps, currentVersion(deps.db, v.assignment.course, v.assignment.slug) ?? v, v.submission, v.staff, ctx.params.course!),
      });
    });

    router.get('/courses/:course/submissions/:id/files/:name', async (ctx) => {
      const v = visibleOf(ctx);
      const file = submissionFiles(deps.db, v.submission.id).find((f) => f.name === ctx.params.name);
      if (!file) throw new UserError(404, 'There is no such file in this submission.');
      // Served as a download of unknown type: a submitted .html must never run in our origin.
      ctx.set('Content-Disposition', `attachment; filename*=UTF-8''${encodeURIComponent(file.name)}`);
      ctx.set('Cache-Control', 'private, max-age=0');
      ctx.type = 'application/octet-stream';
      ctx.length = file.size;
      ctx.body = deps.blobs.read(file.sha256);
    });
  },

  async start(deps) {
    // A crash between storing blobs and committing the submission leaves blobs nobody
    // references, and an interrupted upload leaves temp files: both go now.
    const bundles = referencedBlobs(deps.db);
    const swept = deps.blobs.sweep((sha) => bundles.has(sha) || blobReferenced(deps.db, sha), 0);
    if (swept.removed) deps.log.info(swept, 'swept unreferenced blobs and temp files');
    return async () => undefined;
  },
};

export default fromOldShape(submissions);

export { visibleSubmission, type VisibleSubmission } from './policy.js';
