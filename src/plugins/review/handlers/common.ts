import type { Course } from '../../../lib/content.js';
import type { AppContext, Deps } from '../../../plugin.js';
import { findUserByEmail, listEnrolled } from '../../accounts/users.js';
import type { Current } from '../../assignments/store.js';
import { recordAudit } from '../../audit/store.js';
import { gradingRule } from '../grading.js';
import { latestRunRow } from '../store.js';

/**
 * Writes the action's own audit entry (inside the caller's transaction) and marks the request, so
 * that the generic staff-request entry is not written as well.
 */
export function auditEntry(deps: Deps, ctx: AppContext, course: string, action: string, target: string, details: Record<string, unknown>): void {
  const user = ctx.state.user!;
  recordAudit(deps.db, { at: deps.clock.now(), actor: user, course, action, target, details });
  ctx.state.audited = true;
}

export function staffUsers(deps: Deps, course: Course): Array<{ id: number; name: string; email: string }> {
  const out = new Map<number, { id: number; name: string; email: string }>();
  for (const s of course.staff) {
    const u = findUserByEmail(deps.db, s.email);
    if (u) out.set(u.id, { id: u.id, name: u.name, email: u.email });
  }
  for (const role of ['lecturer', 'tutor'] as const) for (const u of listEnrolled(deps.db, course.slug, role)) out.set(u.id, { id: u.id, name: u.name, email: u.email });
  return [...out.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export function studentsOf(deps: Deps, course: Course) {
  const staff = new Set(course.staff.map((s) => s.email));
  return listEnrolled(deps.db, course.slug, 'student').filter((s) => !staff.has(s.email));
}

export function staffUrl(course: string, id: number, file?: string | null): string {
  return `/courses/${course}/review/submissions/${id}${file ? `?file=${encodeURIComponent(file)}` : ''}`;
}

/** Tamper flags another part of Lectern may record on a run (a column named tamper*), shown to staff only. */
export function tamperFlags(deps: Deps, submissionId: number): string[] {
  const row = latestRunRow(deps.db, submissionId);
  if (!row) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(row)) {
    if (!k.startsWith('tamper') || v === null || v === undefined || v === '' || v === 0) continue;
    if (typeof v === 'string') {
      try {
        const parsed: unknown = JSON.parse(v);
        if (Array.isArray(parsed)) out.push(...parsed.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))));
        else if (parsed && typeof parsed === 'object') out.push(...Object.entries(parsed).map(([a, b]) => `${a}: ${typeof b === 'string' ? b : JSON.stringify(b)}`));
        else out.push(String(parsed));
      } catch {
        out.push(v);
      }
    } else out.push(`${k}: ${String(v)}`);
  }
  return out.filter((x) => x && x !== '[]' && x !== '{}');
}

export function regradeOpen(deps: Deps, current: Current, releasedAt: number | null): { open: boolean; until: number | null; reason: string } {
  const window = gradingRule(current).regradeWindowMs;
  if (releasedAt === null) return { open: false, until: null, reason: 'Grades are not released yet.' };
  if (window <= 0) return { open: false, until: null, reason: 'This assignment takes no regrade requests.' };
  const until = releasedAt + window;
  if (deps.clock.now() > until) return { open: false, until, reason: 'The time for regrade requests is over.' };
  return { open: true, until, reason: '' };
}

const NOTICES: Record<string, string> = {
  applied: 'Rubric item applied.',
  removed: 'Rubric item removed.',
  adjusted: 'Adjustment saved.',
  unadjusted: 'Adjustment deleted.',
  commented: 'Comment saved.',
  uncommented: 'Comment deleted.',
  graded: 'Marked as graded.',
  reopened: 'Marked as not finished.',
  released: 'Released to the student.',
  withdrawn: 'Release withdrawn.',
  rubric: 'Rubric saved.',
  assigned: 'Graders assigned.',
  none: 'Nothing left to grade with this filter.',
  requested: 'Your regrade request was sent.',
  replied: 'Message sent.',
  closed: 'Request closed.',
};

/** The notice for `?done=…` after a form, for the page's flash. */
export function flash(ctx: AppContext): Record<string, unknown> {
  const done = typeof ctx.query.done === 'string' ? NOTICES[ctx.query.done] : undefined;
  return done ? { flash: { kind: 'ok', message: done } } : {};
}

