import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import { readCache } from '../../db/read-cache.js';

/** The comments table: comments under course pages (comments.ts has the rules). */

/** A user may post at most `count` comments in `windowMs`. */
export const RATE_LIMIT = { count: 5, windowMs: 60_000 };

export interface Comment {
  id: number;
  course: string;
  page: string;
  userId: number;
  body: string;
  createdAt: number;
  editedAt: number | null;
  hiddenAt: number | null;
  authorName: string;
}

const COLUMNS = `c.id, c.course, c.page, c.user_id AS userId, c.body, c.created_at AS createdAt, c.edited_at AS editedAt,
       c.hidden_at AS hiddenAt, u.name AS authorName`;

function statements(db: Db) {
  return {
    list: db.prepare<{ course: string; page: string; staff: number }, Comment>(
      `SELECT ${COLUMNS}
       FROM comments c JOIN users u ON u.id = c.user_id
       WHERE c.course = :course AND c.page = :page AND (:staff = 1 OR c.hidden_at IS NULL)
       ORDER BY c.created_at, c.id`,
    ),
    get: db.prepare<{ id: number }, Comment>(`SELECT ${COLUMNS} FROM comments c JOIN users u ON u.id = c.user_id WHERE c.id = :id`),
    insert: db.prepare<{ course: string; page: string; userId: number; body: string; now: number }>(
      'INSERT INTO comments (course, page, user_id, body, created_at) VALUES (:course, :page, :userId, :body, :now)',
    ),
    recent: db.prepare<{ userId: number; since: number }, { n: number; oldest: number | null }>(
      'SELECT count(*) AS n, min(created_at) AS oldest FROM comments WHERE user_id = :userId AND created_at > :since',
    ),
    update: db.prepare<{ id: number; body: string; now: number }>('UPDATE comments SET body = :body, edited_at = :now WHERE id = :id'),
    hide: db.prepare<{ id: number; now: number | null; by: number | null }>('UPDATE comments SET hidden_at = :now, hidden_by = :by WHERE id = :id'),
    remove: db.prepare<{ id: number }>('DELETE FROM comments WHERE id = :id'),
    /** The rate limit's check and the insert, in one transaction. */
    insertLimited: db.transaction((c: { course: string; page: string; userId: number; body: string; now: number }) => {
      const s = sql(db);
      const recent = s.recent.get({ userId: c.userId, since: c.now - RATE_LIMIT.windowMs });
      if (recent && recent.n >= RATE_LIMIT.count) {
        return { ok: false as const, retryAfterMs: (recent.oldest ?? c.now) + RATE_LIMIT.windowMs - c.now };
      }
      const info = s.insert.run(c);
      return { ok: true as const, id: Number(info.lastInsertRowid) };
    }),
  };
}

const sql = preparedFor(statements);

/** A page's comments (hidden ones for staff), with the version the request started at (src/db/read-cache.ts), kept until the database changes. */
export function listComments(db: Db, course: string, page: string, staff: boolean, version?: string): Comment[] {
  return readCache(db).get(`comments:${course}:${page}:${staff ? 1 : 0}`, version, () => sql(db).list.all({ course, page, staff: staff ? 1 : 0 }));
}

export function getComment(db: Db, id: number): Comment | undefined {
  return sql(db).get.get({ id });
}

/** Inserts unless the user hit the rate limit; the check and the insert are one transaction. */
export function addComment(db: Db, c: { course: string; page: string; userId: number; body: string; now: number }): { ok: true; id: number } | { ok: false; retryAfterMs: number } {
  return sql(db).insertLimited.immediate(c);
}

export function updateComment(db: Db, id: number, body: string, now: number): void {
  sql(db).update.run({ id, body, now });
}

export function setCommentHidden(db: Db, id: number, hidden: boolean, by: number, now: number): void {
  sql(db).hide.run({ id, now: hidden ? now : null, by: hidden ? by : null });
}

export function removeComment(db: Db, id: number): void {
  sql(db).remove.run({ id });
}
