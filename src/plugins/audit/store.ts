import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import type { CurrentUser } from '../../lib/auth.js';

export interface AuditEntry {
  id: number;
  at: number;
  actorId: number | null;
  actorEmail: string;
  course: string | null;
  action: string;
  target: string;
  details: Record<string, unknown>;
}

/** A row as selected (columns aliased to the entry's names); details still JSON text. */
type AuditRow = Omit<AuditEntry, 'details'> & { details: string };

const COLUMNS = 'id, at, actor_id AS actorId, actor_email AS actorEmail, course, action, target, details';

function statements(db: Db) {
  return {
    insert: db.prepare<{ at: number; actorId: number | null; actorEmail: string; course: string | null; action: string; target: string; details: string }>(
      `INSERT INTO audit_log (at, actor_id, actor_email, course, action, target, details)
       VALUES (:at, :actorId, :actorEmail, :course, :action, :target, :details)`,
    ),
    page: db.prepare<{ before: number; limit: number }, AuditRow>(`SELECT ${COLUMNS} FROM audit_log WHERE id < :before ORDER BY id DESC LIMIT :limit`),
    pageCourse: db.prepare<{ before: number; limit: number; course: string }, AuditRow>(
      `SELECT ${COLUMNS} FROM audit_log WHERE course = :course AND id < :before ORDER BY id DESC LIMIT :limit`,
    ),
    courses: db.prepare<[], { course: string }>('SELECT DISTINCT course FROM audit_log WHERE course IS NOT NULL ORDER BY course'),
  };
}

const sql = preparedFor(statements);

export interface NewAuditEntry {
  at: number;
  actor: Pick<CurrentUser, 'id' | 'email'> | null;
  course: string | null;
  action: string;
  target: string;
  details?: Record<string, unknown>;
}

/** Records one staff action. Call inside the transaction that makes the change, so both or neither happen. */
export function recordAudit(db: Db, e: NewAuditEntry): void {
  sql(db).insert.run({
    at: e.at,
    actorId: e.actor?.id ?? null,
    actorEmail: e.actor?.email ?? '(system)',
    course: e.course,
    action: e.action,
    target: e.target.slice(0, 500),
    details: JSON.stringify(e.details ?? {}),
  });
}

/** Newest first; `before` is the id to page from (exclusive). */
export function listAudit(db: Db, opts: { before?: number; limit: number; course?: string }): AuditEntry[] {
  const before = opts.before ?? Number.MAX_SAFE_INTEGER;
  const rows = opts.course ? sql(db).pageCourse.all({ before, limit: opts.limit, course: opts.course }) : sql(db).page.all({ before, limit: opts.limit });
  return rows.map((r) => ({ ...r, details: JSON.parse(r.details) as Record<string, unknown> }));
}

export function auditedCourses(db: Db): string[] {
  return sql(db)
    .courses.all()
    .map((r) => r.course);
}
