import { z } from 'zod';
import { attachment, wantsJson } from '../../core/http.js';
import { inputOf, type RouteContext } from '../../core/routes.js';
import { roleIn } from '../../lib/auth.js';
import type { Course } from '../../lib/content.js';
import { toCsv } from '../../lib/csv.js';
import { UserError } from '../../lib/errors.js';
import type { Deps } from '../../plugin.js';
import { currentOr404, type Current } from '../assignments/store.js';
import { recordAudit } from '../audit/store.js';
import { DEFAULTS, subjectText } from './analysis.js';
import { evidenceOfReport, findEvidence, getReport, insertReport, latestReport, queueEvidence, reportBody, type ReportRow, type StoredReport, type Subject } from './store.js';
import type { Region } from './types.js';
import type { SimilarityWork } from './work.js';

/**
 * The similarity pages: staff only (the route lines say so). Tutors read; lecturers start runs
 * and variant checks. Every run, check, pair viewed and export is written to the audit log here,
 * with its details, inside the request.
 */

/** Start a report: the share of the class above which code is common knowledge, in percent (default 20). */
export const runForm = z.object({
  max_share: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const text = (raw ?? '').trim();
      const share = text === '' ? DEFAULTS.maxShare * 100 : Number(text);
      if (!Number.isFinite(share) || share < 1 || share > 100) {
        ctx.addIssue({ code: 'custom', message: 'give a percentage of the class between 1 and 100.' });
        return z.NEVER;
      }
      return share;
    }),
});
/** A variant check takes no fields. */
export const checkForm = z.object({});

const REPORT_ID = /^\d{1,12}$/;
const RANK = /^\d{1,6}$/;

function pct(x: number): string {
  return `${(x * 100).toFixed(1)} %`;
}

/** The lines of a text with each line's fragment numbers, for the side-by-side view. */
function marked(text: string, regions: Region[]) {
  return text.split('\n').map((line, i) => {
    const frags: number[] = [];
    regions.forEach((r, j) => {
      if (i >= r.startRow && i <= r.endRow) frags.push(j + 1);
    });
    return { n: i + 1, line, frags, frag: frags[0] ?? 0 };
  });
}

export interface SimilarityHandlers {
  report(ctx: RouteContext): Promise<void>;
  run(ctx: RouteContext): Promise<void>;
  pairsCsv(ctx: RouteContext): Promise<void>;
  pair(ctx: RouteContext): Promise<void>;
  check(ctx: RouteContext): Promise<void>;
}

export function similarityHandlers(deps: Deps, work: SimilarityWork): SimilarityHandlers {
  function context(ctx: RouteContext) {
    const course = ctx.state.course!;
    const current = currentOr404(deps.db, course.slug, ctx.params.slug);
    return { course, current, user: ctx.state.user!, isLecturer: roleIn(ctx, course.slug) === 'lecturer' };
  }

  function reportParam(ctx: RouteContext, current: Current): { row: ReportRow; body: StoredReport } {
    const id = REPORT_ID.test(ctx.params.report ?? '') ? Number(ctx.params.report) : NaN;
    const row = Number.isFinite(id) ? getReport(deps.db, id) : undefined;
    if (!row || row.assignmentId !== current.assignment.id) throw new UserError(404, 'There is no such report.');
    const body = reportBody(deps.db, row.id);
    if (!body) throw new UserError(409, 'This report is not finished yet.');
    return { row, body };
  }

  function pairParam(ctx: RouteContext, body: StoredReport) {
    const rank = RANK.test(ctx.params.rank ?? '') ? Number(ctx.params.rank) : NaN;
    const pair = Number.isFinite(rank) && rank >= 1 ? body.pairs[rank - 1] : undefined;
    if (!pair) throw new UserError(404, 'There is no such pair in this report.');
    const subjects = new Map(body.subjects.map((s) => [s.key, s]));
    return { rank, pair, left: subjects.get(pair.left)!, right: subjects.get(pair.right)! };
  }

  /** This plugin's own audit entry (with its details); the request is marked as audited. */
  function record(ctx: RouteContext, course: Course, current: Current, action: string, details: Record<string, unknown>) {
    ctx.state.audited = true;
    recordAudit(deps.db, { at: deps.clock.now(), actor: ctx.state.user!, course: course.slug, action, target: `${current.assignment.slug} / similarity`, details });
  }

  return {
    async report(ctx) {
      const { course, isLecturer, current } = context(ctx);
      const row = latestReport(deps.db, current.assignment.id) ?? null;
      const body = row?.state === 'done' ? reportBody(deps.db, row.id) : null;
      const subjects = new Map((body?.subjects ?? []).map((s) => [s.key, s]));
      const evidence = row ? evidenceOfReport(deps.db, row.id) : [];
      const evidenceFor = (l: Subject, r: Subject) => evidence.find((e) => e.leftSub === l.submissionId && e.rightSub === r.submissionId) ?? null;
      const pairs = (body?.pairs ?? []).map((p, i) => {
        const left = subjects.get(p.left)!;
        const right = subjects.get(p.right)!;
        return { rank: i + 1, left, right, similarity: p.similarity, percent: pct(p.similarity), longest: p.longest, overlap: p.overlap, evidence: evidenceFor(left, right) };
      });
      const clusters = (body?.clusters ?? []).map((c) => c.map((k) => subjects.get(k)!));
      ctx.set('Cache-Control', 'no-store');
      if (wantsJson(ctx)) {
        ctx.body = { report: row, pairs, clusters, language: body?.language ?? null, starterExcluded: body?.starterExcluded ?? null, subjects: body?.subjects.length ?? 0, durationMs: body?.durationMs ?? null, maxRssKb: body?.maxRssKb ?? null };
        return;
      }
      ctx.render('similarity/report.njk', { course, slug: current.assignment.slug, title: current.version.config.title, isLecturer, isStaffView: true, row, body, pairs: pairs.slice(0, 200), clusters, defaults: DEFAULTS });
    },

    async run(ctx) {
      const { course, current, user: actor } = context(ctx);
      const share = inputOf(ctx, runForm).max_share;
      const running = latestReport(deps.db, current.assignment.id);
      if (running && (running.state === 'queued' || running.state === 'running') && work.busy(running.id)) throw new UserError(409, 'A report for this assignment is being made; wait for it to finish.');
      const id = deps.db.transaction(() => {
        const reportId = insertReport(deps.db, { assignmentId: current.assignment.id, maxShare: share / 100, by: actor.email, now: deps.clock.now() });
        record(ctx, course, current, 'similarity.run', { assignment: current.assignment.slug, report: reportId, maxShare: share / 100 });
        return reportId;
      })();
      work.report({ id, current, course: course.slug, maxShare: share / 100 });
      ctx.state.log.info({ course: course.slug, slug: current.assignment.slug, report: id, by: actor.email }, 'similarity report started');
      if (wantsJson(ctx)) {
        ctx.status = 202;
        ctx.body = { id, state: 'queued' };
        return;
      }
      ctx.redirect(`/courses/${course.slug}/assignments/${current.assignment.slug}/similarity`);
    },

    async pairsCsv(ctx) {
      const { course, current } = context(ctx);
      const { row, body } = reportParam(ctx, current);
      const subjects = new Map(body.subjects.map((s) => [s.key, s]));
      const evidence = evidenceOfReport(deps.db, row.id);
      const rows: Array<Array<string | number>> = [['rank', 'similarity', 'longest_fragment', 'overlap', 'left', 'left_emails', 'left_submission', 'right', 'right_emails', 'right_submission', 'cluster', 'variant_evidence']];
      body.pairs.forEach((p, i) => {
        const l = subjects.get(p.left)!;
        const r = subjects.get(p.right)!;
        const cluster = body.clusters.findIndex((c) => c.includes(p.left) && c.includes(p.right));
        const e = evidence.find((x) => x.leftSub === l.submissionId && x.rightSub === r.submissionId);
        rows.push([i + 1, p.similarity.toFixed(4), p.longest, p.overlap, l.label, l.members.map((m) => m.email).join(' '), l.submissionId, r.label, r.members.map((m) => m.email).join(' '), r.submissionId, cluster < 0 ? '' : cluster + 1, e ? e.summary : '']);
      });
      record(ctx, course, current, 'similarity.export_csv', { assignment: current.assignment.slug, report: row.id, pairs: body.pairs.length });
      ctx.set('Content-Disposition', attachment(`${course.slug}-${current.assignment.slug}-similarity-${row.id}.csv`));
      ctx.set('Cache-Control', 'private, no-store');
      ctx.type = 'text/csv; charset=utf-8';
      ctx.body = toCsv(rows);
    },

    async pair(ctx) {
      const { course, current, isLecturer } = context(ctx);
      const { row, body } = reportParam(ctx, current);
      const { rank, pair, left, right } = pairParam(ctx, body);
      const [lt, rt] = await Promise.all([subjectText(deps, left.submissionId, body.extension), subjectText(deps, right.submissionId, body.extension)]);
      const evidence = findEvidence(deps.db, row.id, left.submissionId, right.submissionId) ?? null;
      record(ctx, course, current, 'similarity.view_pair', { assignment: current.assignment.slug, report: row.id, left: left.submissionId, right: right.submissionId });
      ctx.set('Cache-Control', 'no-store');
      if (wantsJson(ctx)) {
        ctx.body = { rank, left, right, similarity: pair.similarity, fragments: pair.fragments, evidence };
        return;
      }
      ctx.render('similarity/pair.njk', {
        course,
        slug: current.assignment.slug,
        title: current.version.config.title,
        isStaffView: true,
        isLecturer,
        row,
        rank,
        percent: pct(pair.similarity),
        pair,
        left,
        right,
        leftLines: marked(lt, pair.fragments.map((f) => f.left)),
        rightLines: marked(rt, pair.fragments.map((f) => f.right)),
        evidence,
      });
    },

    async check(ctx) {
      const { course, current, user: actor } = context(ctx);
      const { row, body } = reportParam(ctx, current);
      const { rank, left, right } = pairParam(ctx, body);
      const existing = findEvidence(deps.db, row.id, left.submissionId, right.submissionId);
      if (existing && (existing.state === 'queued' || existing.state === 'running') && work.busyEvidence(existing.id)) throw new UserError(409, 'This check is already running.');
      const e = deps.db.transaction(() => {
        const queued = queueEvidence(deps.db, { reportId: row.id, left: left.submissionId, right: right.submissionId, by: actor.email, now: deps.clock.now() });
        record(ctx, course, current, 'similarity.variant_check', { assignment: current.assignment.slug, report: row.id, left: left.submissionId, right: right.submissionId });
        return queued;
      })();
      work.evidence(e, { [left.submissionId]: left.label, [right.submissionId]: right.label });
      if (wantsJson(ctx)) {
        ctx.status = 202;
        ctx.body = { id: e.id, state: e.state };
        return;
      }
      ctx.redirect(`/courses/${course.slug}/assignments/${current.assignment.slug}/similarity/${row.id}/pairs/${rank}`);
    },
  };
}
