-- Gradebook: the audit log of staff actions, and the re-run batches lecturers start.
-- Extensions live in the submissions tables (0005); times are ms since the epoch.

-- Append-only. The actor's e-mail is copied so that an entry keeps saying who acted even
-- after the account is gone; course is NULL for site-wide actions.
CREATE TABLE audit_log (
  id          INTEGER PRIMARY KEY,
  at          INTEGER NOT NULL,
  actor_id    INTEGER REFERENCES users (id) ON DELETE SET NULL,
  actor_email TEXT NOT NULL,
  course      TEXT,
  -- e.g. extension.grant, rerun, export.gradebook_csv, roster.import
  action      TEXT NOT NULL,
  -- What it was done to, readable: "caesar / ada@example.org", "POST /courses/x/roster/remove".
  target      TEXT NOT NULL DEFAULT '',
  details     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details))
) STRICT;
CREATE INDEX audit_log_course ON audit_log (course, id);

-- A lecturer's re-run: its jobs carry the batch id (jobs.batch), so progress is counted there.
CREATE TABLE rerun_batches (
  id            TEXT PRIMARY KEY,
  assignment_id INTEGER NOT NULL REFERENCES assignments (id),
  -- one | counted | all
  scope         TEXT NOT NULL CHECK (scope IN ('one', 'counted', 'all')),
  -- The version whose tests run; NULL: each submission's own version.
  version_id    INTEGER REFERENCES assignment_versions (id),
  jobs          INTEGER NOT NULL,
  created_by    TEXT NOT NULL,
  created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX rerun_batches_assignment ON rerun_batches (assignment_id, created_at);
