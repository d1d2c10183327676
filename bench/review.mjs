// Review: the staff view of a 2,000-line submission and of a 50-file zip (its tree and one entry),
// and the grading queue's "next" with 1,000 students, against a real server process. Each is the
// median of 20 requests, printed with its ratio to a course page measured in the same run.
import { chmodSync, cpSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import yazl from 'yazl';
import { ROOT, median, signIn, startServer, tempDir, writeResults } from './_lib.mjs';

const dist = (p) => path.join(ROOT, 'dist', p);
const STUDENTS = 1000;
const RUNS = 20;

function cSource(lines) {
  const out = ['#include <stdio.h>', 'int main(void) {'];
  for (let n = 3; n < lines; n++) out.push(`  printf("%d\\n", ${n}); /* line ${n}: a comment so the line is realistic */`);
  out.push('}');
  return `${out.join('\n')}\n`;
}

function content() {
  const dir = tempDir('lectern-bench-content-');
  cpSync(path.join(ROOT, 'examples/course'), dir, { recursive: true });
  for (const [slug, files] of [['rev', '[main.c]'], ['proj', '[project.zip]']]) {
    const a = path.join(dir, 'assignments', slug);
    mkdirSync(path.join(a, 'tests'), { recursive: true });
    writeFileSync(
      path.join(a, 'assignment.yaml'),
      `title: ${slug}\nopens: 2020-01-01T00:00:00+00:00\ndeadline: 2099-01-01T00:00:00+00:00\nfiles: ${files}\nmax_upload_size: 8MB\ntest:\n  command: [/bin/sh, tests/run.sh]\ngrading:\n  final: manual\n  rubric:\n    - group: All\n      max: 10\n      items:\n        - { title: Works, points: 6 }\n        - { title: Clean, points: 4 }\n`,
    );
    writeFileSync(path.join(a, 'statement.md'), `# ${slug}\n`);
    writeFileSync(path.join(a, 'tests', 'run.sh'), '#!/bin/sh\nexit 0\n');
    chmodSync(path.join(a, 'tests', 'run.sh'), 0o755);
  }
  return dir;
}

function zipBuffer() {
  const zip = new yazl.ZipFile();
  for (let i = 0; i < 50; i++) zip.addBuffer(Buffer.from(cSource(40 + i * 8)), `src/mod${i % 6}/f${i}.c`);
  zip.end();
  const chunks = [];
  return new Promise((resolve, reject) => {
    zip.outputStream.on('data', (c) => chunks.push(c));
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on('error', reject);
  });
}

async function timed(url, client, accept = 'text/html') {
  const times = [];
  for (let i = 0; i < RUNS + 2; i++) {
    const t0 = process.hrtime.bigint();
    const res = await fetch(url, { headers: { cookie: client.cookie(), accept }, redirect: 'manual' });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
    // The first two warm caches (templates, the highlighter).
    if (i >= 2) times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}

export async function main() {
  const { openDatabase, databasePath } = await import(dist('db/open.js'));
  const { migrate } = await import(dist('db/migrate.js'));
  const { createUser, enrol } = await import(dist('plugins/accounts/users.js'));
  const { systemClock } = await import(dist('lib/clock.js'));
  const { createBlobStore } = await import(dist('lib/blobs.js'));
  const { currentVersion } = await import(dist('plugins/assignments/store.js'));
  const { insertSubmission } = await import(dist('plugins/submissions/store.js'));

  const dataDir = tempDir();
  let db = openDatabase(databasePath(dataDir));
  migrate(db);
  const password = 'bench password 123';
  const staffId = createUser(db, { email: 'grader@example.org', name: 'Grader', password }, systemClock);
  enrol(db, { userId: staffId, course: 'prog1', role: 'tutor' }, systemClock);
  const students = [];
  db.transaction(() => {
    for (let i = 0; i < STUDENTS; i++) {
      const id = createUser(db, { email: `s${i}@example.org`, name: `Student ${String(i).padStart(4, '0')}` }, systemClock);
      enrol(db, { userId: id, course: 'prog1', role: 'student' }, systemClock);
      students.push(id);
    }
  })();
  db.close();

  const server = await startServer({ LECTERN_DATA: dataDir, LECTERN_CONTENT: content(), LECTERN_GRADERS: '0' });
  try {
    // Submissions written straight into the running server's database (WAL): the assignments
    // exist now that the server imported them at start-up.
    db = openDatabase(databasePath(dataDir));
    const blobs = createBlobStore(path.join(dataDir, 'blobs'));
    const rev = currentVersion(db, 'prog1', 'rev');
    const proj = currentVersion(db, 'prog1', 'proj');
    const small = await blobs.put(Buffer.from(cSource(60)));
    const long = await blobs.put(Buffer.from(cSource(2000)));
    const zip = await blobs.put(await zipBuffer());
    const now = Date.now();
    const sub = (current, userId, name, blob) =>
      insertSubmission(db, { assignmentId: current.assignment.id, versionId: current.version.id, userId, submittedAt: now, deadlineAt: now, lateMinutes: 0, penaltyPct: 0, files: [{ name, sha256: blob.sha256, size: blob.size }] });
    let longId = 0;
    let zipId = 0;
    db.transaction(() => {
      students.forEach((u, i) => {
        const s = sub(rev, u, 'main.c', i === 0 ? long : small);
        if (i === 0) longId = s.id;
      });
      zipId = sub(proj, students[0], 'project.zip', zip).id;
      // Most students graded already: "next" has to walk past them.
      db.prepare(`INSERT INTO review_grades (submission_id, assignment_id, state, grader_id, updated_at, graded_at)
        SELECT id, assignment_id, 'graded', ?, ?, ? FROM submissions WHERE assignment_id = ? AND user_id != ?`).run(staffId, now, now, rev.assignment.id, students.at(-1));
    })();
    db.close();

    const client = await signIn(server.url, 'grader@example.org', password);
    const reference = await timed(`${server.url}/courses/prog1/`, client);
    const longView = await timed(`${server.url}/courses/prog1/review/submissions/${longId}`, client);
    const zipTree = await timed(`${server.url}/courses/prog1/review/submissions/${zipId}`, client);
    const zipEntry = await timed(`${server.url}/courses/prog1/review/submissions/${zipId}?file=${encodeURIComponent('project.zip/src/mod5/f47.c')}`, client);
    const next = await timed(`${server.url}/courses/prog1/assignments/rev/grading/next?after=${students[0]}`, client, 'application/json');
    const queue = await timed(`${server.url}/courses/prog1/assignments/rev/grading`, client);
    const row = (name, ms) => console.log(`${name.padEnd(44)} ${ms.toFixed(1).padStart(7)} ms  (${(ms / reference).toFixed(1)}× a course page)`);
    console.log(`course page (reference)                      ${reference.toFixed(1).padStart(7)} ms`);
    row('staff view, 2,000-line file (highlighted)', longView);
    row('staff view, 50-file zip (tree)', zipTree);
    row('staff view, one entry of the zip', zipEntry);
    row(`grading queue "next", ${STUDENTS} students`, next);
    row(`grading queue page, ${STUDENTS} students`, queue);
    writeResults('review', { runs: RUNS, students: STUDENTS, referenceMs: reference, longViewMs: longView, zipTreeMs: zipTree, zipEntryMs: zipEntry, nextMs: next, queuePageMs: queue });
  } finally {
    await server.stop();
  }
}
