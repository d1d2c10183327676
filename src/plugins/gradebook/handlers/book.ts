import { z } from 'zod';
import { attachment, wantsJson } from '../../../core/http.js';
import { inputOf, type RouteMiddleware } from '../../../core/routes.js';
import { toCsv } from '../../../lib/csv.js';
import { UserError } from '../../../lib/errors.js';
import type { Deps } from '../../../plugin.js';
import { listAssignments } from '../../assignments/store.js';
import { recordAudit } from '../../audit/store.js';
import { bookHref, PAGE_SIZES, parseBookQuery, selectRows, STATUSES } from '../book.js';
import { countedRuleText } from '../counted.js';
import { points } from '../../../lib/format.js';
import { actorOf, courseOf, isLecturer } from '../policy.js';
import { saveGradebookSetting } from '../store.js';
import { cellText, gradebookCsvRows, gradebookTable } from '../table.js';
import { assignmentWeights, TOTAL_RULE_TEXT } from '../weights.js';

/** The course's gradebook page: one page of rows, searched, filtered and sorted from the URL (book.ts). */
export function gradebookPage(deps: Deps): RouteMiddleware {
  return async (ctx) => {
    const course = courseOf(ctx);
    const { columns, rows } = gradebookTable(deps, course);
    const query = parseBookQuery(ctx.query, columns.map((c) => c.slug));
    const selected = selectRows(
      rows.map((r) => r.book),
      query,
    );
    const byId = new Map(rows.map((r) => [r.book.id, r]));
    const base = `/courses/${course.slug}/gradebook`;
    const sortLink = (key: string) => ({
      href: bookHref(base, query, { sort: key, dir: query.sort === key ? (query.dir === 'asc' ? 'desc' : 'asc') : key === 'name' || key === 'email' || key === 'id' ? 'asc' : 'desc', page: 1 }),
      aria: query.sort === key ? (query.dir === 'asc' ? 'ascending' : 'descending') : null,
    });
    ctx.set('Cache-Control', 'no-store');
    ctx.render('gradebook/gradebook.njk', {
      course,
      isLecturer: isLecturer(ctx),
      isStaffView: true,
      ruleText: TOTAL_RULE_TEXT,
      query,
      statuses: Object.entries(STATUSES).map(([value, label]) => ({ value, label })),
      pageSizes: PAGE_SIZES,
      sort: { name: sortLink('name'), id: sortLink('id'), total: sortLink('total') },
      columns: columns.map((c) => ({
        slug: c.slug,
        title: c.title,
        counts: c.counts,
        countsText: countedRuleText(c.counts),
        isTeam: c.isTeam,
        weight: points(c.weight.weight),
        weightFrom: c.weight.weightFrom,
        max: c.max === null ? '' : points(c.max),
        maxInput: c.weight.max === null ? '' : String(c.weight.max),
        maxFrom: c.weight.maxFrom,
        sort: sortLink(c.slug),
      })),
      matching: selected.matching,
      shownFrom: (selected.page - 1) * query.per + 1,
      shownTo: Math.min(selected.page * query.per, selected.matching),
      enrolled: rows.length,
      page: selected.page,
      pages: selected.pages,
      prev: selected.page > 1 ? bookHref(base, query, { page: selected.page - 1 }) : null,
      next: selected.page < selected.pages ? bookHref(base, query, { page: selected.page + 1 }) : null,
      csvHref: `/courses/${course.slug}/gradebook.csv`,
      rows: selected.rows.map((b) => {
        const r = byId.get(b.id)!;
        return {
          id: b.id,
          name: b.name,
          email: b.email,
          studentId: b.studentId,
          cells: r.grades.map((g, j) => ({
            slug: columns[j]!.slug,
            text: cellText(g, columns[j]!.due),
            late: g.counted && g.counted.submission.penaltyPct ? `−${g.counted.submission.penaltyPct} %` : '',
            lateOnly: b.cells[j]!.late && !g.counted?.submission.penaltyPct,
            extension: g.extensionUntil !== null,
            team: g.team?.name ?? null,
            needsGrading: b.cells[j]!.needsGrading,
            missing: b.cells[j]!.missing,
          })),
          total: b.total === null ? '' : `${points(b.total)} %`,
        };
      }),
      ...(ctx.query.done === 'weights' ? { flash: { kind: 'ok', message: 'Weights and maxima saved.' } } : {}),
    });
  };
}

/**
 * The weights form: `weight-<slug>` and `max-<slug>` per assignment. Which fields count depends on
 * the course's assignments and what course.yaml fixes, so the handler checks each against them.
 */
export const weightsForm = z.record(z.string(), z.string());

/** Saves the weights and maxima set on the page (what course.yaml sets stays as the file says). */
export function saveWeights(deps: Deps): RouteMiddleware {
  return async (ctx) => {
    const course = courseOf(ctx);
    const actor = actorOf(ctx);
    ctx.state.audited = true;
    const form = inputOf(ctx, weightsForm);
    const assignments = listAssignments(deps.db, course.slug);
    const slugs = assignments.map((a) => a.assignment.slug);
    const weights = assignmentWeights(deps.db, course, slugs);
    const number = (field: string, text: string | undefined, min: number, max: number, above: boolean): number | null => {
      const t = (text ?? '').trim().replace(',', '.');
      if (t === '') return null;
      const n = Number(t);
      if (!/^\d{1,6}(\.\d{1,3})?$/.test(t) || !Number.isFinite(n) || (above ? n <= min : n < min) || n > max) {
        throw new UserError(422, `${field}: give a number ${above ? 'above' : 'from'} ${min} to ${max} (at most three decimals), or leave it empty for the default.`);
      }
      return n;
    };
    const changes: Array<{ slug: string; weight: number | null; maxPoints: number | null }> = [];
    for (const slug of slugs) {
      const w = weights.get(slug)!;
      // What course.yaml sets stays as the file says: the page shows it and cannot change it.
      const weight = w.weightFrom === 'course.yaml' ? null : number(`weight-${slug}`, form[`weight-${slug}`], 0, 1000, false);
      const maxPoints = w.maxFrom === 'course.yaml' ? null : number(`max-${slug}`, form[`max-${slug}`], 0, 100_000, true);
      changes.push({ slug, weight, maxPoints });
    }
    const at = deps.clock.now();
    deps.db.transaction(() => {
      for (const c of changes) saveGradebookSetting(deps.db, { course: course.slug, slug: c.slug, weight: c.weight, maxPoints: c.maxPoints, by: actor.id, at });
      recordAudit(deps.db, { at, actor, course: course.slug, action: 'gradebook.weights', target: `${course.slug} gradebook`, details: { settings: changes } });
    })();
    if (wantsJson(ctx)) {
      ctx.body = { saved: changes };
      return;
    }
    ctx.redirect(`/courses/${course.slug}/gradebook?done=weights#weights`);
  };
}

/** The gradebook as CSV (table.ts), audited; `?excel=1` starts it with a byte order mark. */
export function gradebookCsv(deps: Deps): RouteMiddleware {
  return async (ctx) => {
    const course = courseOf(ctx);
    const actor = actorOf(ctx);
    const table = gradebookTable(deps, course);
    const csv = gradebookCsvRows(table);
    ctx.state.audited = true;
    recordAudit(deps.db, { at: deps.clock.now(), actor, course: course.slug, action: 'export.gradebook_csv', target: `${course.slug} gradebook`, details: { students: table.rows.length, assignments: csv.assignments } });
    // Excel only reads UTF-8 when the file starts with a byte order mark; other tools may choke on one.
    const bom = ctx.query.excel === '1' ? '\uFEFF' : '';
    ctx.set('Content-Disposition', attachment(`${course.slug}-gradebook.csv`));
    ctx.set('Cache-Control', 'private, no-store');
    ctx.type = 'text/csv; charset=utf-8';
    ctx.body = `${bom}${toCsv(csv.rows)}`;
  };
}
