-- Submissions: what a student handed in, when, and how late. Files live in the blob store
-- (content-addressed); a submission, its files and its test job are written in one transaction.

CREATE TABLE submissions (
  id            INTEGER PRIMARY KEY,
  assignment_id INTEGER NOT NULL REFERENCES assignments (id),
  -- The bundle version current when it was submitted (its tests grade it unless re-run).
  version_id    INTEGER NOT NULL REFERENCES assignment_versions (id),
  user_id       INTEGER NOT NULL REFERENCES users (id),
  -- 1, 2, 3 ... per student and assignment: the number on the receipt.
  number        INTEGER NOT NULL,
  submitted_at  INTEGER NOT NULL,
  -- The student's own deadline at that moment (an extension moves it).
  deadline_at   INTEGER NOT NULL,
  late_minutes  INTEGER NOT NULL DEFAULT 0,
  penalty_pct   REAL NOT NULL DEFAULT 0,
  total_bytes   INTEGER NOT NULL,
  UNIQUE (assignment_id, user_id, number)
) STRICT;
CREATE INDEX submissions_user ON submissions (user_id, assignment_id);
CREATE INDEX submissions_version ON submissions (version_id);
CREATE INDEX submissions_assignment_time ON submissions (assignment_id, submitted_at);

CREATE TABLE submission_files (
  submission_id INTEGER NOT NULL REFERENCES submissions (id),
  name          TEXT NOT NULL,
  sha256        TEXT NOT NULL,
  size          INTEGER NOT NULL,
  PRIMARY KEY (submission_id, name)
) STRICT;
-- The blob sweep asks whether any row still references a blob.
CREATE INDEX submission_files_sha ON submission_files (sha256);

-- A per-student deadline set by staff; it shifts the whole late window.
CREATE TABLE extensions (
  assignment_id INTEGER NOT NULL REFERENCES assignments (id),
  user_id       INTEGER NOT NULL REFERENCES users (id),
  until_at      INTEGER NOT NULL,
  granted_by    TEXT NOT NULL,
  granted_at    INTEGER NOT NULL,
  PRIMARY KEY (assignment_id, user_id)
) STRICT;
CREATE INDEX extensions_user ON extensions (user_id);
