import type { Course } from '../../lib/content.js';
import type { Deps } from '../../plugin.js';
import { listEnrolled } from '../accounts/users.js';
import { listAssignments } from '../assignments/store.js';
import type { BookCell, BookRow } from './book.js';
import { points } from '../../lib/format.js';
import { assignmentGrades, type ScoredSubmission, type Student, type StudentGrade } from './grades.js';
import { assignmentWeights, weightedTotal } from './weights.js';

/** The course's enrolled students, as the gradebook lists them. */
export function studentsOf(deps: Pick<Deps, 'db'>, course: Course): Student[] {
  return listEnrolled(deps.db, course.slug, 'student').map((s) => ({ id: s.id, email: s.email, name: s.name, studentId: s.studentId }));
}

/** A submission's score in words for the staff pages. */
export function scoreText(s: ScoredSubmission | null): string {
  if (!s) return '';
  if (s.final === null) return s.pending ? 'waiting for tests' : s.ready ? 'needs grading' : s.latest ? 'not graded' : 'no result';
  return s.maxScore !== null ? `${points(s.final)} / ${points(s.maxScore)}` : points(s.final);
}

/** A gradebook cell in words: the counted score, else the newest one's state, else missing once due. */
export function cellText(g: StudentGrade, due: boolean): string {
  if (g.counted) return g.counted.final === null ? 'needs grading' : scoreText(g.counted);
  if (g.submissions) return scoreText(g.latest);
  return due ? 'missing' : '';
}

export type GradebookTable = ReturnType<typeof gradebookTable>;

/**
 * The whole gradebook of a course: a column per assignment (weight, maximum, every student's
 * grade) and a row per student (cells for sorting and filtering, book.ts, and the weighted total).
 * The page and the CSV export both read it.
 */
export function gradebookTable(deps: Pick<Deps, 'db' | 'clock'>, course: Course) {
  const students = studentsOf(deps, course);
  const assignments = listAssignments(deps.db, course.slug);
  const weights = assignmentWeights(deps.db, course, assignments.map((a) => a.assignment.slug));
  const now = deps.clock.now();
  const columns = assignments.map((a) => {
    const grades = assignmentGrades(deps.db, a, students);
    const weight = weights.get(a.assignment.slug)!;
    // The points shown as the maximum: the configured one, else the highest a counted submission is out of.
    let natural: number | null = null;
    for (const g of grades) if (g.counted?.maxScore != null && (natural === null || g.counted.maxScore > natural)) natural = g.counted.maxScore;
    return {
      slug: a.assignment.slug,
      title: a.version.config.title,
      counts: a.version.config.counts,
      due: a.version.config.deadlineAt <= now,
      isTeam: a.version.config.team !== null,
      weight,
      max: weight.max ?? natural,
      grades,
    };
  });
  const rows = students.map((student, i) => {
    const grades = columns.map((c) => c.grades[i]!);
    const total = weightedTotal(
      grades.map((g, j) => ({ slug: columns[j]!.slug, final: g.counted?.final ?? null, maxScore: g.counted?.maxScore ?? null })),
      weights,
    );
    const cells: BookCell[] = grades.map((g, j) => ({
      slug: columns[j]!.slug,
      final: g.counted?.final ?? null,
      fraction: total.fractions.get(columns[j]!.slug) ?? null,
      missing: g.submissions === 0 && columns[j]!.due,
      late: (g.counted?.submission.lateMinutes ?? 0) > 0,
      needsGrading: g.counted !== null && g.counted.final === null,
      waiting: g.latest?.pending ?? false,
      extension: g.extensionUntil !== null,
      team: g.team?.name ?? null,
    }));
    return { book: { id: student.id, name: student.name, email: student.email, studentId: student.studentId, cells, total: total.percent } satisfies BookRow, grades };
  });
  return { columns, rows };
}

/**
 * The gradebook as CSV: per assignment (by slug) its score, and for a team assignment the
 * student's team beside it; two rows of maximum points and weights first; the total last.
 */
export function gradebookCsvRows({ columns, rows }: GradebookTable): { rows: string[][]; assignments: string[] } {
  const slugOrder = columns.map((c, j) => ({ slug: c.slug, j, isTeam: c.isTeam })).sort((a, b) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0));
  const header = ['email', 'student_id', 'name', ...slugOrder.flatMap((c) => (c.isTeam ? [c.slug, `${c.slug}_team`] : [c.slug])), 'total_percent'];
  const meta = (label: string, value: (c: (typeof columns)[number]) => string) => ['', '', label, ...slugOrder.flatMap((c) => (c.isTeam ? [value(columns[c.j]!), ''] : [value(columns[c.j]!)])), ''];
  const out = [header, meta('(maximum points)', (c) => (c.max === null ? '' : points(c.max))), meta('(weight)', (c) => points(c.weight.weight))];
  for (const r of rows) {
    const cells = slugOrder.flatMap((c) => {
      const g = r.grades[c.j]!;
      const score = g.counted && g.counted.final !== null ? points(g.counted.final) : '';
      return c.isTeam ? [score, g.team?.name ?? ''] : [score];
    });
    out.push([r.book.email, r.book.studentId ?? '', r.book.name, ...cells, r.book.total === null ? '' : points(r.book.total)]);
  }
  return { rows: out, assignments: slugOrder.map((c) => c.slug) };
}
