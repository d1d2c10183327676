import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import type { RubricGroupConfig } from './config.js';

export interface RubricItem {
  id: number;
  groupId: number;
  key: string;
  title: string;
  description: string;
  points: number;
  position: number;
  retired: boolean;
}

export interface RubricGroup {
  id: number;
  key: string;
  title: string;
  max: number;
  scoring: 'positive' | 'negative';
  position: number;
  items: RubricItem[];
}

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

interface ItemRow {
  id: number;
  group_id: number;
  key: string;
  title: string;
  description: string;
  points: number;
  position: number;
  retired_at: number | null;
}
interface GroupRow {
  id: number;
  key: string;
  title: string;
  max_points: number;
  scoring: 'positive' | 'negative';
  position: number;
}
interface CommentRow {
  id: number;
  submission_id: number;
  path: string;
  line_start: number;
  line_end: number;
  body: string;
  item_id: number | null;
  author_id: number | null;
  author_name: string | null;
  created_at: number;
  edited_at: number | null;
}
interface RegradeRow {
  id: number;
  submission_id: number;
  user_id: number;
  item_id: number | null;
  comment_id: number | null;
  subject: string;
  state: Regrade['state'];
  created_at: number;
  closed_at: number | null;
}

function statements(db: Db) {
  return {
    groups: db.prepare<[number], GroupRow>('SELECT id, key, title, max_points, scoring, position FROM review_groups WHERE assignment_id = ? ORDER BY position, id'),
    items: db.prepare<[number], ItemRow>(
      `SELECT i.* FROM review_items i JOIN review_groups g ON g.id = i.group_id WHERE g.assignment_id = ? ORDER BY i.position, i.id`,
    ),
    item: db.prepare<[number], ItemRow & { assignment_id: number }>('SELECT i.*, g.assignment_id FROM review_items i JOIN review_groups g ON g.id = i.group_id WHERE i.id = ?'),
    group: db.prepare<[number], GroupRow & { assignment_id: number }>('SELECT * FROM review_groups WHERE id = ?'),
    insertGroup: db.prepare<{ assignmentId: number; key: string; title: string; max: number; scoring: string; position: number }>(
      'INSERT INTO review_groups (assignment_id, key, title, max_points, scoring, position) VALUES (:assignmentId, :key, :title, :max, :scoring, :position)',
    ),
    updateGroup: db.prepare<{ id: number; title: string; max: number; scoring: string; position: number }>(
      'UPDATE review_groups SET title = :title, max_points = :max, scoring = :scoring, position = :position WHERE id = :id',
    ),
    deleteGroup: db.prepare<[number]>('DELETE FROM review_groups WHERE id = ?'),
    insertItem: db.prepare<{ groupId: number; key: string; title: string; description: string; points: number; position: number }>(
      'INSERT INTO review_items (group_id, key, title, description, points, position) VALUES (:groupId, :key, :title, :description, :points, :position)',
    ),
    updateItem: db.prepare<{ id: number; title: string; description: string; points: number; position: number }>(
      'UPDATE review_items SET title = :title, description = :description, points = :points, position = :position, retired_at = NULL WHERE id = :id',
    ),
    retireItem: db.prepare<{ id: number; at: number }>('UPDATE review_items SET retired_at = :at WHERE id = :id'),
    deleteItem: db.prepare<[number]>('DELETE FROM review_items WHERE id = ?'),
    itemUses: db.prepare<[number], { applied: number; comments: number; regrades: number }>(
      `SELECT (SELECT count(*) FROM review_applied WHERE item_id = ?1) AS applied,
              (SELECT count(*) FROM review_comments WHERE item_id = ?1) AS comments,
              (SELECT count(*) FROM review_regrades WHERE item_id = ?1) AS regrades`,
    ),
    syncedVersion: db.prepare<[number], { version_id: number }>('SELECT version_id FROM review_rubric_sync WHERE assignment_id = ?'),
    setSynced: db.prepare<{ assignmentId: number; versionId: number }>(
      'INSERT INTO review_rubric_sync (assignment_id, version_id) VALUES (:assignmentId, :versionId) ON CONFLICT (assignment_id) DO UPDATE SET version_id = excluded.version_id',
    ),

    grade: db.prepare<[number], { submission_id: number; state: GradeRow['state']; grader_id: number | null; grader_name: string | null; updated_at: number; graded_at: number | null }>(
      'SELECT g.*, u.name AS grader_name FROM review_grades g LEFT JOIN users u ON u.id = g.grader_id WHERE g.submission_id = ?',
    ),
    grades: db.prepare<[number], { submission_id: number; state: GradeRow['state']; grader_id: number | null; updated_at: number; graded_at: number | null }>(
      'SELECT submission_id, state, grader_id, updated_at, graded_at FROM review_grades WHERE assignment_id = ?',
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
    applied: db.prepare<[number], { item_id: number }>('SELECT item_id FROM review_applied WHERE submission_id = ?'),
    appliedForAssignment: db.prepare<[number], { submission_id: number; item_id: number }>(
      'SELECT a.submission_id, a.item_id FROM review_applied a JOIN submissions s ON s.id = a.submission_id WHERE s.assignment_id = ?',
    ),
    apply: db.prepare<{ submissionId: number; itemId: number; by: number; at: number }>(
      'INSERT INTO review_applied (submission_id, item_id, applied_by, applied_at) VALUES (:submissionId, :itemId, :by, :at) ON CONFLICT DO NOTHING',
    ),
    unapply: db.prepare<{ submissionId: number; itemId: number }>('DELETE FROM review_applied WHERE submission_id = :submissionId AND item_id = :itemId'),
    appliedSubmissions: db.prepare<[number], { submission_id: number }>('SELECT submission_id FROM review_applied WHERE item_id = ?'),
    adjustments: db.prepare<[number], { id: number; points: number; reason: string; created_by: number | null; author_name: string | null; created_at: number }>(
      'SELECT a.*, u.name AS author_name FROM review_adjustments a LEFT JOIN users u ON u.id = a.created_by WHERE a.submission_id = ? ORDER BY a.id',
    ),
    adjustmentSums: db.prepare<[number], { submission_id: number; total: number }>(
      'SELECT a.submission_id, sum(a.points) AS total FROM review_adjustments a JOIN submissions s ON s.id = a.submission_id WHERE s.assignment_id = ? GROUP BY a.submission_id',
    ),
    addAdjustment: db.prepare<{ submissionId: number; points: number; reason: string; by: number; at: number }>(
      'INSERT INTO review_adjustments (submission_id, points, reason, created_by, created_at) VALUES (:submissionId, :points, :reason, :by, :at)',
    ),
    adjustment: db.prepare<[number], { id: number; submission_id: number; points: number; reason: string }>('SELECT id, submission_id, points, reason FROM review_adjustments WHERE id = ?'),
    deleteAdjustment: db.prepare<[number]>('DELETE FROM review_adjustments WHERE id = ?'),

    comments: db.prepare<[number], CommentRow>(
      'SELECT c.*, u.name AS author_name FROM review_comments c LEFT JOIN users u ON u.id = c.author_id WHERE c.submission_id = ? ORDER BY c.path, c.line_start, c.id',
    ),
    comment: db.prepare<[number], CommentRow>('SELECT c.*, u.name AS author_name FROM review_comments c LEFT JOIN users u ON u.id = c.author_id WHERE c.id = ?'),
    addComment: db.prepare<{ submissionId: number; path: string; start: number; end: number; body: string; itemId: number | null; by: number; at: number }>(
      'INSERT INTO review_comments (submission_id, path, line_start, line_end, body, item_id, author_id, created_at) VALUES (:submissionId, :path, :start, :end, :body, :itemId, :by, :at)',
    ),
    editComment: db.prepare<{ id: number; body: string; itemId: number | null; at: number }>('UPDATE review_comments SET body = :body, item_id = :itemId, edited_at = :at WHERE id = :id'),
    deleteComment: db.prepare<[number]>('DELETE FROM review_comments WHERE id = ?'),

    releases: db.prepare<[number], { user_id: number; released_at: number; released_by: number | null; by_name: string | null }>(
      'SELECT r.user_id, r.released_at, r.released_by, u.name AS by_name FROM review_releases r LEFT JOIN users u ON u.id = r.released_by WHERE r.assignment_id = ?',
    ),
    releasedAt: db.prepare<{ assignmentId: number; userId: number }, { at: number | null }>(
      'SELECT min(released_at) AS at FROM review_releases WHERE assignment_id = :assignmentId AND user_id IN (0, :userId)',
    ),
    release: db.prepare<{ assignmentId: number; userId: number; at: number; by: number }>(
      'INSERT INTO review_releases (assignment_id, user_id, released_at, released_by) VALUES (:assignmentId, :userId, :at, :by) ON CONFLICT DO NOTHING',
    ),
    withdraw: db.prepare<{ assignmentId: number; userId: number }>('DELETE FROM review_releases WHERE assignment_id = :assignmentId AND user_id = :userId'),

    graders: db.prepare<[number], { user_id: number; grader_id: number }>('SELECT user_id, grader_id FROM review_graders WHERE assignment_id = ?'),
    setGrader: db.prepare<{ assignmentId: number; userId: number; graderId: number }>(
      'INSERT INTO review_graders (assignment_id, user_id, grader_id) VALUES (:assignmentId, :userId, :graderId) ON CONFLICT DO UPDATE SET grader_id = excluded.grader_id',
    ),
    clearGrader: db.prepare<{ assignmentId: number; userId: number }>('DELETE FROM review_graders WHERE assignment_id = :assignmentId AND user_id = :userId'),

    regrade: db.prepare<[number], RegradeRow>('SELECT * FROM review_regrades WHERE id = ?'),
    regradesOf: db.prepare<[number], RegradeRow>('SELECT * FROM review_regrades WHERE submission_id = ? ORDER BY id'),
    openRegrade: db.prepare<{ submissionId: number; itemId: number | null; commentId: number | null }, RegradeRow>(
      `SELECT * FROM review_regrades WHERE submission_id = :submissionId AND state = 'open'
         AND item_id IS :itemId AND comment_id IS :commentId`,
    ),
    openRegrades: db.prepare<{ course: string; limit: number }, RegradeRow & { slug: string; number: number; student: string }>(
      `SELECT r.*, a.slug, s.number, u.name AS student FROM review_regrades r
         JOIN submissions s ON s.id = r.submission_id JOIN assignments a ON a.id = s.assignment_id JOIN users u ON u.id = r.user_id
        WHERE r.state = 'open' AND a.course = :course ORDER BY r.created_at LIMIT :limit`,
    ),
    insertRegrade: db.prepare<{ submissionId: number; userId: number; itemId: number | null; commentId: number | null; subject: string; at: number }>(
      `INSERT INTO review_regrades (submission_id, user_id, item_id, comment_id, subject, state, created_at) VALUES (:submissionId, :userId, :itemId, :commentId, :subject, 'open', :at)`,
    ),
    closeRegrade: db.prepare<{ id: number; state: string; at: number; by: number }>('UPDATE review_regrades SET state = :state, closed_at = :at, closed_by = :by WHERE id = :id'),
    messages: db.prepare<[number], { id: number; author_name: string | null; staff: number; body: string; created_at: number }>(
      'SELECT m.id, u.name AS author_name, m.staff, m.body, m.created_at FROM review_regrade_messages m LEFT JOIN users u ON u.id = m.author_id WHERE m.regrade_id = ? ORDER BY m.id',
    ),
    // The latest run's row as it is: columns other plugins add (tamper flags) are read by name.
    latestRun: db.prepare<[number], Record<string, unknown>>('SELECT * FROM results WHERE submission_id = ? ORDER BY id DESC LIMIT 1'),
    addMessage: db.prepare<{ regradeId: number; authorId: number; staff: number; body: string; at: number }>(
      'INSERT INTO review_regrade_messages (regrade_id, author_id, staff, body, created_at) VALUES (:regradeId, :authorId, :staff, :body, :at)',
    ),
  };
}

const sql = preparedFor(statements);

function toItem(r: ItemRow): RubricItem {
  return { id: r.id, groupId: r.group_id, key: r.key, title: r.title, description: r.description, points: r.points, position: r.position, retired: r.retired_at !== null };
}

// ---- rubric ----

export function listRubric(db: Db, assignmentId: number): RubricGroup[] {
  const q = sql(db);
  const groups = q.groups.all(assignmentId).map((g): RubricGroup => ({ id: g.id, key: g.key, title: g.title, max: g.max_points, scoring: g.scoring, position: g.position, items: [] }));
  const byId = new Map(groups.map((g) => [g.id, g]));
  for (const r of q.items.all(assignmentId)) byId.get(r.group_id)?.items.push(toItem(r));
  return groups;
}

export function getItem(db: Db, id: number): (RubricItem & { assignmentId: number }) | undefined {
  const r = sql(db).item.get(id);
  return r ? { ...toItem(r), assignmentId: r.assignment_id } : undefined;
}

export function getGroup(db: Db, id: number): (Omit<RubricGroup, 'items'> & { assignmentId: number }) | undefined {
  const r = sql(db).group.get(id);
  return r ? { id: r.id, key: r.key, title: r.title, max: r.max_points, scoring: r.scoring, position: r.position, assignmentId: r.assignment_id } : undefined;
}

export function itemUses(db: Db, id: number): { applied: number; comments: number; regrades: number } {
  return sql(db).itemUses.get(id) ?? { applied: 0, comments: 0, regrades: 0 };
}

export function addGroup(db: Db, g: { assignmentId: number; key: string; title: string; max: number; scoring: string; position: number }): number {
  return Number(sql(db).insertGroup.run(g).lastInsertRowid);
}

export function updateGroup(db: Db, g: { id: number; title: string; max: number; scoring: string; position: number }): void {
  sql(db).updateGroup.run(g);
}

export function deleteGroup(db: Db, id: number): void {
  sql(db).deleteGroup.run(id);
}

export function addItem(db: Db, i: { groupId: number; key: string; title: string; description: string; points: number; position: number }): number {
  return Number(sql(db).insertItem.run(i).lastInsertRowid);
}

export function updateItem(db: Db, i: { id: number; title: string; description: string; points: number; position: number }): void {
  sql(db).updateItem.run(i);
}

/** Removes an item never used, or retires one that grades, comments or requests refer to. */
export function removeItem(db: Db, id: number, at: number): 'deleted' | 'retired' {
  const uses = itemUses(db, id);
  if (uses.applied + uses.comments + uses.regrades === 0) {
    sql(db).deleteItem.run(id);
    return 'deleted';
  }
  sql(db).retireItem.run({ id, at });
  return 'retired';
}

/** Submissions an item is applied to (the ones a change of its points re-scores). */
export function submissionsWithItem(db: Db, itemId: number): number[] {
  return sql(db)
    .appliedSubmissions.all(itemId)
    .map((r) => r.submission_id);
}

export function syncedVersion(db: Db, assignmentId: number): number | null {
  return sql(db).syncedVersion.get(assignmentId)?.version_id ?? null;
}

/**
 * Brings assignment.yaml's rubric into the tables, matching groups and items by key: points and
 * titles are taken from the file (re-scoring what they were applied to), new ones added, and
 * ones the file dropped removed, or retired when grades use them. Runs once per version.
 */
export function syncRubric(db: Db, assignmentId: number, versionId: number, rubric: RubricGroupConfig[] | null, at: number): { changedItems: number[] } {
  return db.transaction(() => {
    const changedItems: number[] = [];
    if (rubric) {
      const existing = listRubric(db, assignmentId);
      const groupByKey = new Map(existing.map((g) => [g.key, g]));
      const keptGroups = new Set<number>();
      rubric.forEach((g, gi) => {
        const old = groupByKey.get(g.key);
        const groupId = old ? old.id : addGroup(db, { assignmentId, key: g.key, title: g.title, max: g.max, scoring: g.scoring, position: gi });
        if (old) updateGroup(db, { id: old.id, title: g.title, max: g.max, scoring: g.scoring, position: gi });
        keptGroups.add(groupId);
        const oldItems = new Map((old?.items ?? []).map((i) => [i.key, i]));
        const keptItems = new Set<number>();
        g.items.forEach((it, ii) => {
          const prev = oldItems.get(it.key);
          if (prev) {
            if (prev.points !== it.points) changedItems.push(prev.id);
            updateItem(db, { id: prev.id, title: it.title, description: it.description, points: it.points, position: ii });
            keptItems.add(prev.id);
          } else {
            keptItems.add(addItem(db, { groupId, key: it.key, title: it.title, description: it.description, points: it.points, position: ii }));
          }
        });
        for (const i of old?.items ?? []) if (!keptItems.has(i.id) && !i.retired) removeItem(db, i.id, at);
      });
      for (const g of existing) {
        if (keptGroups.has(g.id)) continue;
        for (const i of g.items) if (!i.retired) removeItem(db, i.id, at);
        const left = listRubric(db, assignmentId).find((x) => x.id === g.id)?.items.length ?? 0;
        if (!left) deleteGroup(db, g.id);
      }
    }
    sql(db).setSynced.run({ assignmentId, versionId });
    return { changedItems };
  })();
}

// ---- grading of a submission ----

export function gradeOf(db: Db, submissionId: number): GradeRow | null {
  const r = sql(db).grade.get(submissionId);
  return r ? { submissionId: r.submission_id, state: r.state, graderId: r.grader_id, graderName: r.grader_name, updatedAt: r.updated_at, gradedAt: r.graded_at } : null;
}

export function gradesOfAssignment(db: Db, assignmentId: number): Map<number, Omit<GradeRow, 'graderName'>> {
  return new Map(
    sql(db)
      .grades.all(assignmentId)
      .map((r) => [r.submission_id, { submissionId: r.submission_id, state: r.state, graderId: r.grader_id, updatedAt: r.updated_at, gradedAt: r.graded_at }]),
  );
}

export function setGradeState(db: Db, g: { submissionId: number; assignmentId: number; state: 'in_progress' | 'graded'; graderId: number; at: number }): void {
  sql(db).upsertGrade.run({ submissionId: g.submissionId, assignmentId: g.assignmentId, state: g.state, graderId: g.graderId, at: g.at, gradedAt: g.state === 'graded' ? g.at : null });
}

/** Marks a submission as being graded (first touch), keeping a "graded" state as it is. */
export function touchGrade(db: Db, g: { submissionId: number; assignmentId: number; graderId: number; at: number }): void {
  sql(db).touchGrade.run(g);
}

export function appliedItems(db: Db, submissionId: number): Set<number> {
  return new Set(
    sql(db)
      .applied.all(submissionId)
      .map((r) => r.item_id),
  );
}

export function appliedForAssignment(db: Db, assignmentId: number): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const r of sql(db).appliedForAssignment.all(assignmentId)) {
    const list = out.get(r.submission_id);
    if (list) list.push(r.item_id);
    else out.set(r.submission_id, [r.item_id]);
  }
  return out;
}

export function setApplied(db: Db, a: { submissionId: number; itemId: number; applied: boolean; by: number; at: number }): boolean {
  if (a.applied) return sql(db).apply.run({ submissionId: a.submissionId, itemId: a.itemId, by: a.by, at: a.at }).changes > 0;
  return sql(db).unapply.run({ submissionId: a.submissionId, itemId: a.itemId }).changes > 0;
}

export function adjustmentsOf(db: Db, submissionId: number): Adjustment[] {
  return sql(db)
    .adjustments.all(submissionId)
    .map((r) => ({ id: r.id, points: r.points, reason: r.reason, createdBy: r.created_by, authorName: r.author_name, createdAt: r.created_at }));
}

export function adjustmentSums(db: Db, assignmentId: number): Map<number, number> {
  return new Map(
    sql(db)
      .adjustmentSums.all(assignmentId)
      .map((r) => [r.submission_id, r.total]),
  );
}

export function addAdjustment(db: Db, a: { submissionId: number; points: number; reason: string; by: number; at: number }): number {
  return Number(sql(db).addAdjustment.run(a).lastInsertRowid);
}

export function getAdjustment(db: Db, id: number): { id: number; submissionId: number; points: number; reason: string } | undefined {
  const r = sql(db).adjustment.get(id);
  return r ? { id: r.id, submissionId: r.submission_id, points: r.points, reason: r.reason } : undefined;
}

export function deleteAdjustment(db: Db, id: number): void {
  sql(db).deleteAdjustment.run(id);
}

// ---- line comments ----

function toComment(r: CommentRow): LineComment {
  return {
    id: r.id,
    submissionId: r.submission_id,
    path: r.path,
    lineStart: r.line_start,
    lineEnd: r.line_end,
    body: r.body,
    itemId: r.item_id,
    authorId: r.author_id,
    authorName: r.author_name,
    createdAt: r.created_at,
    editedAt: r.edited_at,
  };
}

export function commentsOf(db: Db, submissionId: number): LineComment[] {
  return sql(db).comments.all(submissionId).map(toComment);
}

export function getComment(db: Db, id: number): LineComment | undefined {
  const r = sql(db).comment.get(id);
  return r ? toComment(r) : undefined;
}

export function addComment(db: Db, c: { submissionId: number; path: string; start: number; end: number; body: string; itemId: number | null; by: number; at: number }): number {
  return Number(sql(db).addComment.run(c).lastInsertRowid);
}

export function editComment(db: Db, c: { id: number; body: string; itemId: number | null; at: number }): void {
  sql(db).editComment.run(c);
}

export function deleteComment(db: Db, id: number): void {
  sql(db).deleteComment.run(id);
}

// ---- release ----

export const WHOLE_ASSIGNMENT = 0;

export interface Release {
  userId: number;
  releasedAt: number;
  byName: string | null;
}

export function releasesOf(db: Db, assignmentId: number): Release[] {
  return sql(db)
    .releases.all(assignmentId)
    .map((r) => ({ userId: r.user_id, releasedAt: r.released_at, byName: r.by_name }));
}

/** When the student's manual grades were released (for the whole assignment or them alone), or null. */
export function releasedAt(db: Db, assignmentId: number, userId: number): number | null {
  return sql(db).releasedAt.get({ assignmentId, userId })?.at ?? null;
}

export function release(db: Db, r: { assignmentId: number; userId: number; at: number; by: number }): boolean {
  return sql(db).release.run(r).changes > 0;
}

export function withdrawRelease(db: Db, assignmentId: number, userId: number): boolean {
  return sql(db).withdraw.run({ assignmentId, userId }).changes > 0;
}

// ---- graders ----

export function gradersOf(db: Db, assignmentId: number): Map<number, number> {
  return new Map(
    sql(db)
      .graders.all(assignmentId)
      .map((r) => [r.user_id, r.grader_id]),
  );
}

export function setGrader(db: Db, assignmentId: number, userId: number, graderId: number | null): void {
  if (graderId === null) sql(db).clearGrader.run({ assignmentId, userId });
  else sql(db).setGrader.run({ assignmentId, userId, graderId });
}

// ---- regrade requests ----

function toRegrade(r: RegradeRow): Regrade {
  return { id: r.id, submissionId: r.submission_id, userId: r.user_id, itemId: r.item_id, commentId: r.comment_id, subject: r.subject, state: r.state, createdAt: r.created_at, closedAt: r.closed_at };
}

export function getRegrade(db: Db, id: number): Regrade | undefined {
  const r = sql(db).regrade.get(id);
  return r ? toRegrade(r) : undefined;
}

export function regradesOf(db: Db, submissionId: number): Regrade[] {
  return sql(db).regradesOf.all(submissionId).map(toRegrade);
}

export function openRegradeFor(db: Db, submissionId: number, itemId: number | null, commentId: number | null): Regrade | undefined {
  const r = sql(db).openRegrade.get({ submissionId, itemId, commentId });
  return r ? toRegrade(r) : undefined;
}

export function openRegradesInCourse(db: Db, course: string, limit = 100): Array<Regrade & { slug: string; number: number; student: string }> {
  return sql(db)
    .openRegrades.all({ course, limit })
    .map((r) => ({ ...toRegrade(r), slug: r.slug, number: r.number, student: r.student }));
}

export function createRegrade(db: Db, r: { submissionId: number; userId: number; itemId: number | null; commentId: number | null; subject: string; at: number }): number {
  return Number(sql(db).insertRegrade.run(r).lastInsertRowid);
}

export function closeRegrade(db: Db, r: { id: number; state: 'adjusted' | 'declined' | 'answered'; at: number; by: number }): void {
  sql(db).closeRegrade.run(r);
}

export function regradeMessages(db: Db, regradeId: number): RegradeMessage[] {
  return sql(db)
    .messages.all(regradeId)
    .map((m) => ({ id: m.id, authorName: m.author_name, staff: m.staff === 1, body: m.body, createdAt: m.created_at }));
}

export function addRegradeMessage(db: Db, m: { regradeId: number; authorId: number; staff: boolean; body: string; at: number }): void {
  sql(db).addMessage.run({ regradeId: m.regradeId, authorId: m.authorId, staff: m.staff ? 1 : 0, body: m.body, at: m.at });
}

/** The latest test run of a submission with every column, or undefined. */
export function latestRunRow(db: Db, submissionId: number): Record<string, unknown> | undefined {
  return sql(db).latestRun.get(submissionId);
}
