import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import type { WebCourse } from '../../lib/content.js';

/** Courses made on the web: the `courses` table (migration 0021). */
export type StoredWebCourse = WebCourse & { createdBy: string; createdAt: number };

const COLUMNS = 'slug, title, code, term, timezone, description, created_by AS createdBy, created_at AS createdAt';

function statements(db: Db) {
  return {
    list: db.prepare<[], StoredWebCourse>(`SELECT ${COLUMNS} FROM courses ORDER BY slug`),
    get: db.prepare<{ slug: string }, StoredWebCourse>(`SELECT ${COLUMNS} FROM courses WHERE slug = :slug`),
    insert: db.prepare<WebCourse & { by: string; now: number }>(
      `INSERT INTO courses (slug, title, code, term, timezone, description, created_by, created_at, updated_at)
       VALUES (:slug, :title, :code, :term, :timezone, :description, :by, :now, :now)`,
    ),
    update: db.prepare<Omit<WebCourse, 'slug'> & { slug: string; now: number }>(
      `UPDATE courses SET title = :title, code = :code, term = :term, timezone = :timezone, description = :description, updated_at = :now
        WHERE slug = :slug`,
    ),
  };
}

const sql = preparedFor(statements);

export function listWebCourses(db: Db): StoredWebCourse[] {
  return sql(db).list.all();
}

export function webCourse(db: Db, slug: string): StoredWebCourse | undefined {
  return sql(db).get.get({ slug });
}

export function insertWebCourse(db: Db, course: WebCourse, by: string, now: number): void {
  sql(db).insert.run({ ...course, by, now });
}

export function updateWebCourse(db: Db, course: WebCourse, now: number): boolean {
  return sql(db).update.run({ ...course, now }).changes > 0;
}
