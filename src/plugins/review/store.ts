import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';

/**
 * Manual grading's tables apart from the rubric (rubric-store.ts): grades, applied items,
 * adjustments, line comments, releases, graders and regrade requests.
 */

export interface GradeRow {
  submissionId: number;
  state: 'in_progress' | 'graded';
  graderId: number | null;
  graderName: string | null;
  updatedAt: number;
  gradedAt: number | null;
}

export interface Adjustment {
  id: number;
  points: number;
  reason: string;
  createdBy: number | null;
  authorName: string | null;
  createdAt: number;
}

export interface LineComment {
  id: number;
  submissionId: number;
  path: string;
  lineStart: number;
  lineEnd: number;
  body: string;
  itemId: number | null;
  authorId: number | null;
  authorName: string | null;
  createdAt: number;
  editedAt: number | null;
}

export interface Regrade {
  id: number;
  submissionId: number;
  userId: number;
  itemId: number | null;
  commentId: number | null;
  subject: string;
  state: 'open' | 'adjusted' | 'declined' | 'answered';
  createdAt: number;
  closedAt: number | null;
}

export interface RegradeMessage {
  id: number;
  authorName: string | null;
  staff: boolean;
  body: string;
  createdAt: number;
}

export interface Release {
  userId: number;
  releasedAt: number;
  byName: string | null;
}

const COMMENT =
  'c.id, c.submission_id AS submissionId, c.path, c.line_start AS lineStart, c.line_end AS lineEnd, c.body, c.item_id AS itemId, c.author_id AS authorId, u.name AS authorName, c.created_at AS createdAt, c.edited_at AS editedAt FROM review_comments c LEFT JOIN users u ON u.id = c.author_id';
const REGRADE = 'r.id, r.submission_id AS submissionId, r.user_id AS userId, r.item_id AS itemId, r.comment_id AS commentId, r.subject, r.state, r.created_at AS createdAt, r.closed_at AS closedAt';

const statements = preparedFor((db: Db) => ({
  grade: db.prepare<[number], GradeRow>(
    'SELECT g.submission_id AS submissionId, g.state, g.grader_id AS graderId, u.name AS graderName, g.updated_at AS updatedAt, g.graded_at AS gradedAt FROM review_grades g LEFT JOIN users u ON u.id = g.grader_id WHERE g.submission_id = ?',
  ),
  grades: db.prepare<[number], Omit<GradeRow, 'graderName'>>(
    'SELECT submission_id AS submissionId, state, grader_id AS graderId, updated_at AS updatedAt, graded_at AS gradedAt FROM review_grades WHERE assignment_id = ?',
  ),
  upsertGrade: db.prepare<{ submissionId: number; assignmentId: number; state: string; graderId: number; at: number; gradedAt: number | null }>(
    `INSERT INTO review_grades (submission_id, assignment_id, state, grader_id, updated_at, graded_at)
     VALUES (:submissionId, :assignmentId, :state, :graderId, :at, :gradedAt)
     ON CONFLICT (submission_id) DO UPDATE SET state = excluded.state, grader_id = excluded.grader_id, updated_at = excluded.updated_at, graded_at = excluded.graded_at`,
  ),
  touchGrade: db.prepare<{ submissionId: number; assignmentId: number; graderId: number; at: number }>(
    `INSERT INTO review_grades (submission_id, assignment_id, state, grader_id, updated_at) VALUES (:submissionId, :assignmentId, 'in_progress', :graderId, :at)
     ON CONFLICT (submission_id) DO UPDATE SET updated_at = excluded.updated_at`,
  ),
  applied: db.prepare<[number], { itemId: number }>('SELECT item_id AS itemId FROM review_applied WHERE submission_id = ?'),
  appliedForAssignment: db.prepare<[number], { submissionId: number; itemId: number }>(
    'SELECT a.submission_id AS submissionId, a.item_id AS itemId FROM review_applied a JOIN submissions s ON s.id = a.submission_id WHERE s.assignment_id = ?',
  ),
  apply: db.prepare<{ submissionId: number; itemId: number; by: number; at: number }>(
    'INSERT INTO review_applied (submission_id, item_id, applied_by, applied_at) VALUES (:submissionId, :itemId, :by, :at) ON CONFLICT DO NOTHING',
  ),
  unapply: db.prepare<{ submissionId: number; itemId: number }>('DELETE FROM review_applied WHERE submission_id = :submissionId AND item_id = :itemId'),
  adjustments: db.prepare<[number], Adjustment>(
    'SELECT a.id, a.points, a.reason, a.created_by AS createdBy, u.name AS authorName, a.created_at AS createdAt FROM review_adjustments a LEFT JOIN users u ON u.id = a.created_by WHERE a.submission_id = ? ORDER BY a.id',
  ),
  adjustmentSums: db.prepare<[number], { submissionId: number; total: number }>(
    'SELECT a.submission_id AS submissionId, sum(a.points) AS total FROM review_adjustments a JOIN submissions s ON s.id = a.submission_id WHERE s.assignment_id = ? GROUP BY a.submission_id',
  ),
  addAdjustment: db.prepare<{ submissionId: number; points: number; reason: string; by: number; at: number }>(
    'INSERT INTO review_adjustments (submission_id, points, reason, created_by, created_at) VALUES (:submissionId, :points, :reason, :by, :at)',
  ),
  adjustment: db.prepare<[number], { id: number; submissionId: number; points: number; reason: string }>('SELECT id, submission_id AS submissionId, points, reason FROM review_adjustments WHERE id = ?'),
  deleteAdjustment: db.prepare<[number]>('DELETE FROM review_adjustments WHERE id = ?'),

  comments: db.prepare<[number], LineComment>(`SELECT ${COMMENT} WHERE c.submission_id = ? ORDER BY c.path, c.line_start, c.id`),
  comment: db.prepare<[number], LineComment>(`SELECT ${COMMENT} WHERE c.id = ?`),
  addComment: db.prepare<{ submissionId: number; path: string; start: number; end: number; body: string; itemId: number | null; by: number; at: number }>(
    'INSERT INTO review_comments (submission_id, path, line_start, line_end, body, item_id, author_id, created_at) VALUES (:submissionId, :path, :start, :end, :body, :itemId, :by, :at)',
  ),
  editComment: db.prepare<{ id: number; body: string; itemId: number | null; at: number }>('UPDATE review_comments SET body = :body, item_id = :itemId, edited_at = :at WHERE id = :id'),
  deleteComment: db.prepare<[number]>('DELETE FROM review_comments WHERE id = ?'),

  releases: db.prepare<[number], Release>(
    'SELECT r.user_id AS userId, r.released_at AS releasedAt, u.name AS byName FROM review_releases r LEFT JOIN users u ON u.id = r.released_by WHERE r.assignment_id = ?',
  ),
  releasedAt: db.prepare<{ assignmentId: number; userId: number }, { at: number | null }>(
    'SELECT min(released_at) AS at FROM review_releases WHERE assignment_id = :assignmentId AND user_id IN (0, :userId)',
  ),
  release: db.prepare<{ assignmentId: number; userId: number; at: number; by: number }>(
    'INSERT INTO review_releases (assignment_id, user_id, released_at, released_by) VALUES (:assignmentId, :userId, :at, :by) ON CONFLICT DO NOTHING',
  ),
  withdraw: db.prepare<{ assignmentId: number; userId: number }>('DELETE FROM review_releases WHERE assignment_id = :assignmentId AND user_id = :userId'),

  graders: db.prepare<[number], { userId: number; graderId: number }>('SELECT user_id AS userId, grader_id AS graderId FROM review_graders WHERE assignment_id = ?'),
  setGrader: db.prepare<{ assignmentId: number; userId: number; graderId: number }>(
    'INSERT INTO review_graders (assignment_id, user_id, grader_id) VALUES (:assignmentId, :userId, :graderId) ON CONFLICT DO UPDATE SET grader_id = excluded.grader_id',
  ),
  clearGrader: db.prepare<{ assignmentId: number; userId: number }>('DELETE FROM review_graders WHERE assignment_id = :assignmentId AND user_id = :userId'),

  regrade: db.prepare<[number], Regrade>(`SELECT ${REGRADE} FROM review_regrades r WHERE r.id = ?`),
  regradesOf: db.prepare<[number], Regrade>(`SELECT ${REGRADE} FROM review_regrades r WHERE r.submission_id = ? ORDER BY r.id`),
  openRegrade: db.prepare<{ submissionId: number; itemId: number | null; commentId: number | null }, Regrade>(
    `SELECT ${REGRADE} FROM review_regrades r WHERE r.submission_id = :submissionId AND r.state = 'open'
       AND r.item_id IS :itemId AND r.comment_id IS :commentId`,
  ),
  openRegrades: db.prepare<{ course: string; limit: number }, Regrade & { slug: string; number: number; student: string }>(
    `SELECT ${REGRADE}, a.slug, s.number, u.name AS student FROM review_regrades r
       JOIN submissions s ON s.id = r.submission_id JOIN assignments a ON a.id = s.assignment_id JOIN users u ON u.id = r.user_id
      WHERE r.state = 'open' AND a.course = :course ORDER BY r.created_at LIMIT :limit`,
  ),
  insertRegrade: db.prepare<{ submissionId: number; userId: number; itemId: number | null; commentId: number | null; subject: string; at: number }>(
    `INSERT INTO review_regrades (submission_id, user_id, item_id, comment_id, subject, state, created_at) VALUES (:submissionId, :userId, :itemId, :commentId, :subject, 'open', :at)`,
  ),
  closeRegrade: db.prepare<{ id: number; state: string; at: number; by: number }>('UPDATE review_regrades SET state = :state, closed_at = :at, closed_by = :by WHERE id = :id'),
  messages: db.prepare<[number], Omit<RegradeMessage, 'staff'> & { staff: number }>(
    'SELECT m.id, u.name AS authorName, m.staff, m.body, m.created_at AS createdAt FROM review_regrade_messages m LEFT JOIN users u ON u.id = m.author_id WHERE m.regrade_id = ? ORDER BY m.id',
  ),
  addMessage: db.prepare<{ regradeId: number; authorId: number; staff: number; body: string; at: number }>(
    'INSERT INTO review_regrade_messages (regrade_id, author_id, staff, body, created_at) VALUES (:regradeId, :authorId, :staff, :body, :at)',
  ),
  // The latest run's row as it is: columns other plugins add (tamper flags) are read by name.
  latestRun: db.prepare<[number], Record<string, unknown>>('SELECT * FROM results WHERE submission_id = ? ORDER BY id DESC LIMIT 1'),
}));

// ---- grading of a submission ----

export function gradeOf(db: Db, submissionId: number): GradeRow | null {
  return statements(db).grade.get(submissionId) ?? null;
}

export function gradesOfAssignment(db: Db, assignmentId: number): Map<number, Omit<GradeRow, 'graderName'>> {
  return new Map(
    statements(db)
      .grades.all(assignmentId)
      .map((g) => [g.submissionId, g]),
  );
}

export function setGradeState(db: Db, g: { submissionId: number; assignmentId: number; state: 'in_progress' | 'graded'; graderId: number; at: number }): void {
  statements(db).upsertGrade.run({ submissionId: g.submissionId, assignmentId: g.assignmentId, state: g.state, graderId: g.graderId, at: g.at, gradedAt: g.state === 'graded' ? g.at : null });
}

/** Marks a submission as being graded (first touch), keeping a "graded" state as it is. */
export function touchGrade(db: Db, g: { submissionId: number; assignmentId: number; graderId: number; at: number }): void {
  statements(db).touchGrade.run(g);
}

export function appliedItems(db: Db, submissionId: number): Set<number> {
  return new Set(
    statements(db)
      .applied.all(submissionId)
      .map((r) => r.itemId),
  );
}

export function appliedForAssignment(db: Db, assignmentId: number): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const r of statements(db).appliedForAssignment.all(assignmentId)) {
    const list = out.get(r.submissionId);
    if (list) list.push(r.itemId);
    else out.set(r.submissionId, [r.itemId]);
  }
  return out;
}

export function setApplied(db: Db, a: { submissionId: number; itemId: number; applied: boolean; by: number; at: number }): boolean {
  if (a.applied) return statements(db).apply.run({ submissionId: a.submissionId, itemId: a.itemId, by: a.by, at: a.at }).changes > 0;
  return statements(db).unapply.run({ submissionId: a.submissionId, itemId: a.itemId }).changes > 0;
}

export function adjustmentsOf(db: Db, submissionId: number): Adjustment[] {
  return statements(db).adjustments.all(submissionId);
}

export function adjustmentSums(db: Db, assignmentId: number): Map<number, number> {
  return new Map(
    statements(db)
      .adjustmentSums.all(assignmentId)
      .map((r) => [r.submissionId, r.total]),
  );
}

export function addAdjustment(db: Db, a: { submissionId: number; points: number; reason: string; by: number; at: number }): number {
  return Number(statements(db).addAdjustment.run(a).lastInsertRowid);
}

export function getAdjustment(db: Db, id: number): { id: number; submissionId: number; points: number; reason: string } | undefined {
  return statements(db).adjustment.get(id);
}

export function deleteAdjustment(db: Db, id: number): void {
  statements(db).deleteAdjustment.run(id);
}

// ---- line comments ----

export function commentsOf(db: Db, submissionId: number): LineComment[] {
  return statements(db).comments.all(submissionId);
}

export function getComment(db: Db, id: number): LineComment | undefined {
  return statements(db).comment.get(id);
}

export function addComment(db: Db, c: { submissionId: number; path: string; start: number; end: number; body: string; itemId: number | null; by: number; at: number }): number {
  return Number(statements(db).addComment.run(c).lastInsertRowid);
}

export function editComment(db: Db, c: { id: number; body: string; itemId: number | null; at: number }): void {
  statements(db).editComment.run(c);
}

export function deleteComment(db: Db, id: number): void {
  statements(db).deleteComment.run(id);
}

// ---- release ----

export const WHOLE_ASSIGNMENT = 0;

export function releasesOf(db: Db, assignmentId: number): Release[] {
  return statements(db).releases.all(assignmentId);
}

/** When the student's manual grades were released (for the whole assignment or them alone), or null. */
export function releasedAt(db: Db, assignmentId: number, userId: number): number | null {
  return statements(db).releasedAt.get({ assignmentId, userId })?.at ?? null;
}

export function release(db: Db, r: { assignmentId: number; userId: number; at: number; by: number }): boolean {
  return statements(db).release.run(r).changes > 0;
}

export function withdrawRelease(db: Db, assignmentId: number, userId: number): boolean {
  return statements(db).withdraw.run({ assignmentId, userId }).changes > 0;
}

// ---- graders ----

export function gradersOf(db: Db, assignmentId: number): Map<number, number> {
  return new Map(
    statements(db)
      .graders.all(assignmentId)
      .map((r) => [r.userId, r.graderId]),
  );
}

export function setGrader(db: Db, assignmentId: number, userId: number, graderId: number | null): void {
  if (graderId === null) statements(db).clearGrader.run({ assignmentId, userId });
  else statements(db).setGrader.run({ assignmentId, userId, graderId });
}

// ---- regrade requests ----

export function getRegrade(db: Db, id: number): Regrade | undefined {
  return statements(db).regrade.get(id);
}

export function regradesOf(db: Db, submissionId: number): Regrade[] {
  return statements(db).regradesOf.all(submissionId);
}

export function openRegradeFor(db: Db, submissionId: number, itemId: number | null, commentId: number | null): Regrade | undefined {
  return statements(db).openRegrade.get({ submissionId, itemId, commentId });
}

export function openRegradesInCourse(db: Db, course: string, limit = 100): Array<Regrade & { slug: string; number: number; student: string }> {
  return statements(db).openRegrades.all({ course, limit });
}

export function createRegrade(db: Db, r: { submissionId: number; userId: number; itemId: number | null; commentId: number | null; subject: string; at: number }): number {
  return Number(statements(db).insertRegrade.run(r).lastInsertRowid);
}

export function closeRegrade(db: Db, r: { id: number; state: 'adjusted' | 'declined' | 'answered'; at: number; by: number }): void {
  statements(db).closeRegrade.run(r);
}

export function regradeMessages(db: Db, regradeId: number): RegradeMessage[] {
  return statements(db)
    .messages.all(regradeId)
    .map((m) => ({ ...m, staff: m.staff === 1 }));
}

export function addRegradeMessage(db: Db, m: { regradeId: number; authorId: number; staff: boolean; body: string; at: number }): void {
  statements(db).addMessage.run({ regradeId: m.regradeId, authorId: m.authorId, staff: m.staff ? 1 : 0, body: m.body, at: m.at });
}

/** The latest test run of a submission with every column, or undefined. */
export function latestRunRow(db: Db, submissionId: number): Record<string, unknown> | undefined {
  return statements(db).latestRun.get(submissionId);
}
