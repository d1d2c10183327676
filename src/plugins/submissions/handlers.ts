import { attachment, wantsJson } from '../../core/http.js';
import type { RouteContext } from '../../core/routes.js';
import { currentUser, isStaffRole, roleIn } from '../../lib/auth.js';
import { UserError } from '../../lib/errors.js';
import type { Deps } from '../../plugin.js';
import { currentOf } from '../assignments/policy.js';
import { currentVersion, getVersion } from '../assignments/store.js';
import { findUserById } from '../accounts/users.js';
import { reviewSummary } from '../review/summary.js';
import { getTeam, teamOf } from '../teams/store.js';
import { teamConfig } from '../teams/rules.js';
import { rulesOf, timing } from '../assignments/deadline.js';
import { receiveSubmission } from './intake.js';
import { visibleOf } from './policy.js';
import { statusFor } from './status.js';
import { extensionInfo, studentSubmissions, submissionFiles, type Submission } from './store.js';

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


/** GET /courses/:course/assignments/:slug/submissions: the reader's own submissions (page or JSON). */
export function listOwn(deps: Deps) {
  return async (ctx: RouteContext) => {
    const user = currentUser(ctx)!; // signed in: the route's access rule (policy.ts courseRole)
    const course = ctx.state.course!;
    const current = currentOf(ctx);
    const staff = isStaffRole(roleIn(ctx, course.slug));
    const config = current.version.config;
    const extInfo = extensionInfo(deps.db, current.assignment.id, user.id);
    const ext = extInfo?.untilAt ?? null;
    const t = timing(rulesOf(config), deps.clock.now(), ext);
    const team = teamConfig(config) ? (teamOf(deps.db, current.assignment.id, user.id) ?? null) : null;
    const list = studentSubmissions(deps.db, current.assignment.id, user.id).map((s) => {
      const v = { submission: s, assignment: current.assignment, version: getVersion(deps.db, s.versionId)!, staff };
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
  };
}

/** POST /courses/:course/assignments/:slug/submissions: a multipart upload; 201 with the receipt (JSON) or 303 to it. */
export function submit(deps: Deps) {
  return async (ctx: RouteContext) => {
    const user = currentUser(ctx)!; // signed in: the route's access rule (policy.ts courseRole)
    const course = ctx.state.course!;
    const current = currentOf(ctx);
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
  };
}

/** GET /courses/:course/submissions/:id: the receipt, its files and its grading status. */
export function show(deps: Deps) {
  return async (ctx: RouteContext) => {
    const v = visibleOf(ctx);
    const course = ctx.state.course!;
    const status = statusFor(deps, v);
    const files = submissionFiles(deps.db, v.submission.id);
    if (wantsJson(ctx)) {
      ctx.body = { ...receiptJson(course.slug, v.submission, files, submittedBy(deps, v.submission)), status };
      return;
    }
    ctx.render('submissions/show.njk', {
      course,
      slug: v.assignment.slug,
      title: v.version.config.title,
      submission: v.submission,
      files,
      status,
      by: submittedBy(deps, v.submission),
      staff: v.staff,
      review: reviewSummary(deps, currentVersion(deps.db, v.assignment.course, v.assignment.slug) ?? v, v.submission, v.staff, course.slug),
    });
  };
}

/** GET /courses/:course/submissions/:id/files/:name: one submitted file, always as a download. */
export function file(deps: Deps) {
  return async (ctx: RouteContext) => {
    const v = visibleOf(ctx);
    const found = submissionFiles(deps.db, v.submission.id).find((f) => f.name === ctx.params.name);
    if (!found) throw new UserError(404, 'There is no such file in this submission.');
    // Served as a download of unknown type: a submitted .html must never run in our origin.
    ctx.set('Content-Disposition', attachment(found.name));
    ctx.set('Cache-Control', 'private, max-age=0');
    ctx.type = 'application/octet-stream';
    ctx.length = found.size;
    ctx.body = deps.blobs.read(found.sha256);
  };
}

/** GET /courses/:course/submissions/:id/status: the grading status as JSON (polled by pages without event streams). */
export function status(deps: Deps) {
  return async (ctx: RouteContext) => {
    const v = visibleOf(ctx);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = statusFor(deps, v);
  };
}
