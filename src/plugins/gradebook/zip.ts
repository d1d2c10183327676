import type { Readable } from 'node:stream';
import type yazl from 'yazl';
import type { Deps } from '../../plugin.js';
import { toCsv, type CsvValue } from '../../lib/csv.js';
import { submissionFiles } from '../submissions/store.js';
import { points } from '../../lib/format.js';
import type { StudentGrade } from './grades.js';

/** A folder name from a student: letters, digits and . _ @ + - only, so every unzip tool takes it. */
export function studentFolder(g: Pick<StudentGrade, 'student'>): string {
  const raw = `${g.student.studentId || g.student.email}_${g.student.name}`;
  const clean = raw
    .normalize('NFC')
    .replace(/[^\p{L}\p{N}._@+-]+/gu, '_')
    .replace(/^[._]+|_+$/g, '')
    .slice(0, 100);
  return clean || `user-${g.student.id}`;
}

/**
 * The counted submission of every student as one zip: `<student id or e-mail>_<name>/<file>`,
 * plus index.csv, which lists every student (those without a counted submission with an empty
 * folder, so nobody is silently missing). Streamed: each blob is opened only when yazl reaches
 * it, so memory and open files stay flat however many students there are.
 */
export function countedSubmissionsZip(
  deps: Pick<Deps, 'db' | 'blobs' | 'log'>,
  grades: StudentGrade[],
  opts: { slug: string; ZipFile: typeof yazl.ZipFile },
): { stream: Readable; students: number; files: number } {
  const zip = new opts.ZipFile();
  const output = zip.outputStream as Readable;
  // A blob that cannot be read mid-way: the headers are sent, so the only honest signal left is
  // to cut the download, which the browser reports as failed instead of saving a short zip.
  zip.on('error', (err: Error) => {
    deps.log.error({ err }, 'submissions zip failed');
    output.destroy(err);
  });
  const used = new Set<string>();
  const index: CsvValue[][] = [['folder', 'email', 'student_id', 'name', 'submissions', 'submission', 'submitted_at', 'late_minutes', 'penalty_pct', 'score', 'max_score', 'final_score']];
  const entries: Array<{ name: string; sha256: string; size: number; mtime: Date }> = [];
  let students = 0;
  for (const g of grades) {
    const c = g.counted;
    if (!c) {
      index.push(['', g.student.email, g.student.studentId, g.student.name, g.submissions]);
      continue;
    }
    let folder = studentFolder(g);
    if (used.has(folder.toLowerCase())) folder = `${folder}_${g.student.id}`;
    used.add(folder.toLowerCase());
    students += 1;
    const s = c.submission;
    index.push([folder, g.student.email, g.student.studentId, g.student.name, g.submissions, s.number, new Date(s.submittedAt).toISOString(), s.lateMinutes, s.penaltyPct, points(c.graded?.score ?? null), points(c.maxScore), points(c.final)]);
    for (const f of submissionFiles(deps.db, s.id)) entries.push({ name: `${opts.slug}/${folder}/${f.name.replace(/[\\/]/g, '_')}`, sha256: f.sha256, size: f.size, mtime: new Date(s.submittedAt) });
  }
  zip.addBuffer(Buffer.from(toCsv(index), 'utf8'), `${opts.slug}/index.csv`, { mtime: new Date(0), compress: true });
  for (const e of entries) {
    zip.addReadStreamLazy(e.name, { size: e.size, mtime: e.mtime, mode: 0o100644 }, (cb) => {
      try {
        cb(null, deps.blobs.read(e.sha256));
      } catch (err) {
        cb(err, output);
      }
    });
  }
  zip.end();
  return { stream: output, students, files: entries.length };
}
