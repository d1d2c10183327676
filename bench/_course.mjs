// A generated large course for the rush and staff benchmarks: N students, 10 shell-tested
// assignments (a01..a09 past their deadline, a10 open), and a recorded history of submissions,
// jobs and results written straight into the database of a running server.
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, tempDir } from './_lib.mjs';

const dist = (p) => path.join(ROOT, 'dist', p);
export const COURSE = 'big1';
export const LECTURER = 'lecturer@example.org';
export const ASSIGNMENTS = Array.from({ length: 10 }, (_, i) => `a${String(i + 1).padStart(2, '0')}`);
const DAY = 86_400_000;

/** The content folder: course.yaml, two pages, ten assignments whose test is `script` (sh). */
export function writeCourse(script) {
  const dir = tempDir('lectern-bench-course-');
  writeFileSync(
    path.join(dir, 'course.yaml'),
    `slug: ${COURSE}\ntitle: Big Course\ncode: BIG1\nterm: Autumn 2026\ntimezone: Europe/Stockholm\nstaff:\n  - email: ${LECTURER}\n    role: lecturer\n`,
  );
  mkdirSync(path.join(dir, 'pages'), { recursive: true });
  writeFileSync(path.join(dir, 'pages', 'index.md'), '---\ntitle: Big Course\nvisibility: enrolled\n---\n# Welcome, {{ student.name }}\n\nTen assignments this term. Your results are on each assignment\'s page.\n');
  writeFileSync(path.join(dir, 'pages', 'syllabus.md'), '---\ntitle: Syllabus\n---\n# Syllabus\n\nWeeks 1 to 10, one assignment a week.\n');
  const now = Date.now();
  ASSIGNMENTS.forEach((slug, i) => {
    const a = path.join(dir, 'assignments', slug);
    mkdirSync(path.join(a, 'tests'), { recursive: true });
    // a01..a09 closed at one-week intervals; a10's deadline is a day away.
    const deadline = new Date(i < 9 ? now - (9 - i) * 7 * DAY : now + DAY).toISOString();
    const opens = new Date(now - 120 * DAY).toISOString();
    writeFileSync(
      path.join(a, 'assignment.yaml'),
      `title: Assignment ${i + 1}\nopens: ${opens}\ndeadline: ${deadline}\nfiles: [answer.txt]\nmax_upload_size: 4KB\nmax_files: 1\ncounts: best\ntest:\n  command: [/bin/sh, tests/run.sh]\n  limits:\n    wall: 60s\nfeedback:\n  tests: visible\n  output: visible\n  score: visible\n`,
    );
    writeFileSync(path.join(a, 'statement.md'), `# Assignment ${i + 1}\n\nWrite your answer in answer.txt.\n`);
    writeFileSync(path.join(a, 'tests', 'run.sh'), `#!/bin/sh\n${script}\necho '{"score": 1, "max_score": 1, "tests": [{"name": "answer", "score": 1, "max_score": 1, "status": "passed"}]}' > results.json\n`);
    chmodSync(path.join(a, 'tests', 'run.sh'), 0o755);
  });
  return dir;
}

/**
 * Students (one password hash shared, sessions made directly: signing 1,000 people in through
 * the form would measure scrypt), the lecturer, and `perAssignment` graded submissions per
 * student on each of a01..a09. Call while the server runs (it imported the assignments).
 * Returns the students with their session cookies, and the lecturer's.
 */
export async function populate(dataDir, { students, perAssignment = 0, historyAssignments = ASSIGNMENTS.slice(0, 9) }) {
  const { openDatabase, databasePath } = await import(dist('db/open.js'));
  const { createUser, enrol } = await import(dist('plugins/accounts/users.js'));
  const { createSession } = await import(dist('plugins/accounts/sessions.js'));
  const { systemClock } = await import(dist('lib/clock.js'));
  const db = openDatabase(databasePath(dataDir));
  try {
    const first = createUser(db, { email: 'student0@example.org', name: 'Student 0', password: 'bench password 123' }, systemClock);
    const hash = db.prepare('SELECT password_hash FROM users WHERE id = ?').pluck().get(first);
    const insertUser = db.prepare('INSERT INTO users (email, name, student_id, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?, 0, ?)');
    const now = Date.now();
    const out = [];
    db.transaction(() => {
      for (let i = 0; i < students; i++) {
        const id = i === 0 ? first : Number(insertUser.run(`student${i}@example.org`, `Student ${i}`, `S${100000 + i}`, hash, now).lastInsertRowid);
        enrol(db, { userId: id, course: COURSE, role: 'student' }, systemClock);
        out.push({ id, cookie: `lectern_session=${createSession(db, id, now).id}` });
      }
    })();
    const lecturerId = createUser(db, { email: LECTURER, name: 'The Lecturer', passwordHash: hash }, systemClock);
    const lecturer = { id: lecturerId, cookie: `lectern_session=${createSession(db, lecturerId, now).id}` };

    if (perAssignment > 0) {
      const blob = Buffer.from('my answer\n');
      const sha = createHash('sha256').update(blob).digest('hex');
      mkdirSync(path.join(dataDir, 'blobs', sha.slice(0, 2)), { recursive: true });
      writeFileSync(path.join(dataDir, 'blobs', sha.slice(0, 2), sha.slice(2)), blob);
      const versions = db.prepare('SELECT a.id AS assignment, a.slug, v.id AS version, v.config FROM assignments a JOIN assignment_versions v ON v.id = a.current_version WHERE a.course = ?').all(COURSE);
      const variant = db.prepare(`INSERT INTO variants (assignment_id, version_id, user_id, student_key, student_name, seed, params, created_at) VALUES (?, ?, ?, ?, ?, 'bench', '{}', ?)`);
      const sub = db.prepare('INSERT INTO submissions (assignment_id, version_id, user_id, number, submitted_at, deadline_at, late_minutes, penalty_pct, total_bytes) VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?)');
      // Who owns a submission is its members (teams, migration 0016): without them even its author gets a 404.
      const member = db.prepare('INSERT INTO submission_members (submission_id, user_id) VALUES (?, ?)');
      const file = db.prepare(`INSERT INTO submission_files (submission_id, name, sha256, size) VALUES (?, 'answer.txt', ?, ?)`);
      const job = db.prepare(`INSERT INTO jobs (submission_id, version_id, state, priority, attempts, max_attempts, enqueued_at, not_before, started_at, finished_at, reason) VALUES (?, ?, 'done', ?, 1, 3, ?, ?, ?, ?, 'submission')`);
      const result = db.prepare(
        `INSERT INTO results (job_id, submission_id, status, score, max_score, gradable, output, tests, problem, duration_ms, cpu_ms, worker, created_at) VALUES (?, ?, ?, ?, 1, 1, '', ?, NULL, ?, ?, 'bench', ?)`,
      );
      for (const v of versions.filter((x) => historyAssignments.includes(x.slug))) {
        const deadline = JSON.parse(v.config).deadlineAt;
        db.transaction(() => {
          for (const s of out) {
            variant.run(v.assignment, v.version, s.id, String(s.id), `Student ${s.id}`, now);
            for (let n = 1; n <= perAssignment; n++) {
              // Spread over the last three days before the deadline, the later ones denser.
              const at = Math.round(deadline - 3 * DAY * (1 - Math.sqrt(n / (perAssignment + 1))) - ((s.id * 7919) % 3_600_000));
              const id = Number(sub.run(v.assignment, v.version, s.id, n, at, deadline, blob.length).lastInsertRowid);
              member.run(id, s.id);
              file.run(id, sha, blob.length);
              const j = Number(job.run(id, v.version, n === perAssignment ? 100 : 0, at, at, at + 1_000, at + 1_300).lastInsertRowid);
              const score = ((s.id + n) % 5) / 4;
              result.run(j, id, score === 1 ? 'passed' : 'failed', score, JSON.stringify([{ name: 'answer', score, maxScore: 1, status: score === 1 ? 'passed' : 'failed', output: '', visibility: 'visible' }]), 300, 280, at + 1_300);
            }
          }
        })();
      }
    }
    return { students: out, lecturer };
  } finally {
    db.close();
  }
}
