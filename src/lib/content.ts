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
  /** Absolute path of the course folder (for a course made on the web: where its folder would be). */
  dir: string;
  /** Where its settings come from: its course.yaml, or the web page that made it (see mergeCourses). */
  source?: 'file' | 'web';
}

export interface Content {
  root: string;
  readonly courses: Course[];
  course(slug: string): Course | undefined;
  /** Live content only (liveContent): look at the folders and web courses now. */
  refresh?(): void;
  /** Live content only: why the course folders could not be read, while the last good ones serve. */
  readonly problem?: string | null;
  /**
   * Live content only: grows each time the course folders are read again (looking at most once a
   * second), so that responses kept for later (src/lib/replay.ts) know they may be stale.
   */
  readonly generation?: number;
}

/** A course made on the web (the courses plugin's table). */
export interface WebCourse {
  slug: string;
  title: string;
  code: string;
  term: string;
  timezone: string;
  description: string;
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

/** The IANA zone check course.yaml uses, for the web form too. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const COURSE_SLUG = /^[a-z0-9][a-z0-9-]{0,63}$/;

/**
 * The one home of the rule between course folders and courses made on the web:
 *
 * - A course with a course.yaml takes every setting (title, code, term, time zone, description,
 *   what tutors may do) from the file. If a course of the same slug was made on the web, the
 *   file wins and the web row is only kept (shown to the administrator as "the file wins").
 * - Staff are the union: people listed in course.yaml keep the role listed there (the web pages
 *   cannot change or remove them; edit the file), and staff appointed on the web are enrolment
 *   rows with role tutor or lecturer, for files and web courses alike.
 * - A course made on the web has no folder until someone adds `courses/<slug>/course.yaml`, at
 *   which point the folder is found without a restart and takes over the settings.
 */
export function mergeCourses(root: string, fromFiles: Course[], fromWeb: WebCourse[]): Course[] {
  const taken = new Set(fromFiles.map((c) => c.slug));
  const web = fromWeb
    .filter((w) => !taken.has(w.slug))
    .map((w): Course => ({ ...w, staff: [], tutorsCan: [], dir: path.join(root, 'courses', w.slug), source: 'web' }));
  return [...fromFiles.map((c) => ({ ...c, source: 'file' as const })), ...web];
}

/** A signature of every course.yaml and of the folders that hold them: it changes when one is added, removed or edited. */
function folderSignature(root: string): string {
  const parts: string[] = [];
  const note = (file: string) => {
    try {
      const st = statSync(file);
      parts.push(`${file}:${st.mtimeMs}:${st.size}`);
    } catch {
      parts.push(`${file}:-`);
    }
  };
  note(path.join(root, 'course.yaml'));
  const coursesDir = path.join(root, 'courses');
  note(coursesDir);
  if (existsSync(coursesDir)) {
    for (const name of readdirSync(coursesDir).sort()) {
      note(path.join(coursesDir, name));
      note(path.join(coursesDir, name, 'course.yaml'));
    }
  }
  return parts.join('|');
}

export interface LiveContent extends Content {
  /** Adds the courses made on the web; called once the database is open. */
  useWebCourses(read: () => WebCourse[]): void;
  refresh(): void;
  readonly problem: string | null;
}

/** How often, at most, a request looks at the course folders and the web courses for a change. */
export const RESCAN_MS = 1000;

/**
 * The courses, kept up to date without a restart: at most once a second a request looks at the
 * course folders' signature and re-reads them when it changed, and re-reads the web courses (which
 * another process of a cluster may have changed). A change made by this process is seen at once
 * (refresh). A broken course.yaml at start-up stops the start as before; one broken while running
 * keeps the last good courses and is reported through `problem`.
 */
export function liveContent(root: string, log?: { error(obj: object, msg: string): void }): LiveContent {
  let files = loadContent(root).courses;
  let signature = folderSignature(root);
  let readWeb: () => WebCourse[] = () => [];
  let web: WebCourse[] = [];
  let courses: Course[] = files;
  let bySlug = new Map(courses.map((c) => [c.slug, c]));
  let checkedAt = performance.now();
  let problem: string | null = null;
  let generation = 0;

  const rebuild = () => {
    courses = mergeCourses(root, files, web);
    bySlug = new Map(courses.map((c) => [c.slug, c]));
  };
  const look = (force: boolean) => {
    const now = performance.now();
    if (!force && now - checkedAt < RESCAN_MS) return;
    checkedAt = now;
    const sig = folderSignature(root);
    if (force || sig !== signature) {
      generation++;
      try {
        files = loadContent(root).courses;
        signature = sig;
        problem = null;
      } catch (err) {
        // Keep serving the last good courses; tell the administrator what is wrong.
        signature = sig;
        problem = (err as Error).message;
        log?.error({ err: problem }, 'course folders could not be read; the previous courses stay in force');
      }
    }
    web = readWeb();
    rebuild();
  };
  rebuild();
  return {
    root,
    get courses() {
      look(false);
      return courses;
    },
    course(slug) {
      look(false);
      return bySlug.get(slug);
    },
    useWebCourses(read) {
      readWeb = read;
      look(true);
    },
    refresh() {
      look(true);
    },
    get problem() {
      return problem;
    },
    get generation() {
      look(false);
      return generation;
    },
  };
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
