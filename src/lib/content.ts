import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UserError } from './errors.js';

export type StaffRole = 'lecturer' | 'tutor';

export interface Course {
  /** URL id: /courses/<slug>/... */
  slug: string;
  title: string;
  code: string;
  term: string;
  /** IANA zone in which times are shown to students. */
  timezone: string;
  description: string;
  staff: Array<{ email: string; role: StaffRole }>;
  /** What tutors may do beyond grading (course.yaml `tutors_can`); lecturers always may. */
  tutorsCan?: Array<'edit_rubric' | 'release'>;
  /** Per assignment slug: its weight in the gradebook's total and the points it is out of (course.yaml `gradebook`). */
  gradebook?: { weights: Record<string, number>; max: Record<string, number> };
  /** Absolute path of the course folder. */
  dir: string;
}

export interface Content {
  root: string;
  courses: Course[];
  course(slug: string): Course | undefined;
}

/** The course with this slug, or a 404 for the person who asked. */
export function courseOr404(content: Content, slug: string | undefined): Course {
  const course = slug === undefined ? undefined : content.course(slug);
  if (!course) throw new UserError(404, 'There is no such course.');
  return course;
}

export class ContentError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'ContentError';
  }
}

const courseSchema = z.object({
  slug: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lowercase letters, digits and dashes').optional(),
  title: z.string().min(1),
  code: z.string().default(''),
  term: z.string().default(''),
  timezone: z
    .string()
    .default('UTC')
    .refine((tz) => {
      try {
        new Intl.DateTimeFormat('en', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, 'not a known IANA time zone'),
  description: z.string().default(''),
  staff: z
    .array(z.object({ email: z.string().email().transform((e) => e.toLowerCase()), role: z.enum(['lecturer', 'tutor']) }))
    .default([]),
  tutors_can: z.array(z.enum(['edit_rubric', 'release'])).default([]),
  gradebook: z
    .strictObject({
      weights: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'an assignment id'), z.number().finite().min(0, 'must be at least 0').max(1000, 'must be at most 1000')).default({}),
      max: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'an assignment id'), z.number().finite().gt(0, 'must be more than 0').max(100_000, 'must be at most 100000')).default({}),
    })
    .default({ weights: {}, max: {} }),
});

export function formatZodIssues(issues: z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${i.path.length ? i.path.join('.') : '(top)'}: ${i.message}`);
}

function loadCourse(dir: string, fallbackSlug: string): Course {
  const file = path.join(dir, 'course.yaml');
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ContentError(file, `not valid YAML: ${(err as Error).message}`);
  }
  const parsed = courseSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new ContentError(file, formatZodIssues(parsed.error.issues).join('; '));
  const slug = parsed.data.slug ?? fallbackSlug;
  if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(slug)) {
    throw new ContentError(file, `folder name "${fallbackSlug}" is not a usable course id; set "slug:" in course.yaml`);
  }
  const { slug: _ignored, tutors_can: tutorsCan, ...rest } = parsed.data;
  return { ...rest, tutorsCan, slug, dir };
}

/**
 * Finds the courses: the content folder itself when it holds a course.yaml (a single-course
 * site, like the demo), and every courses/<name>/course.yaml below it.
 */
export function loadContent(root: string): Content {
  const courses: Course[] = [];
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new ContentError(root, 'the content folder does not exist (set LECTERN_CONTENT)');
  }
  if (existsSync(path.join(root, 'course.yaml'))) courses.push(loadCourse(root, path.basename(root)));
  const coursesDir = path.join(root, 'courses');
  if (existsSync(coursesDir)) {
    for (const name of readdirSync(coursesDir).sort()) {
      const dir = path.join(coursesDir, name);
      if (existsSync(path.join(dir, 'course.yaml'))) courses.push(loadCourse(dir, name));
    }
  }
  const bySlug = new Map<string, Course>();
  for (const c of courses) {
    if (bySlug.has(c.slug)) throw new ContentError(path.join(c.dir, 'course.yaml'), `course id "${c.slug}" is used by two courses`);
    bySlug.set(c.slug, c);
  }
  return { root, courses, course: (slug) => bySlug.get(slug) };
}
