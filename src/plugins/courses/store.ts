import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import type { WebCourse } from '../../lib/content.js';

/** Courses made on the web: the `courses` table (migration 0021). */
interface CourseRow extends WebCourse {
  created_by: string;
  created_at: number;
  updated_at: number;
}

function statements(db: Db) {
  return {
    list: db.prepare<[], CourseRow>('SELECT * FROM courses ORDER BY slug'),
    get: db.prepare<{ slug: string }, CourseRow>('SELECT * FROM courses WHERE slug = :slug'),
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

const toCourse = (r: CourseRow): WebCourse & { createdBy: string; createdAt: number } => ({
  slug: r.slug,
  title: r.title,
  code: r.code,
  term: r.term,
  timezone: r.timezone,
  description: r.description,
  createdBy: r.created_by,
  createdAt: r.created_at,
});

export function listWebCourses(db: Db): Array<WebCourse & { createdBy: string; createdAt: number }> {
  return sql(db).list.all().map(toCourse);
}

export function webCourse(db: Db, slug: string): (WebCourse & { createdBy: string; createdAt: number }) | undefined {
  const row = sql(db).get.get({ slug });
  return row ? toCourse(row) : undefined;
}

export function insertWebCourse(db: Db, course: WebCourse, by: string, now: number): void {
  sql(db).insert.run({ ...course, by, now });
}

export function updateWebCourse(db: Db, course: WebCourse, now: number): boolean {
  return sql(db).update.run({ ...course, now }).changes > 0;
}
