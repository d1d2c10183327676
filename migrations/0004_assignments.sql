-- Assignments, their bundle versions, and each student's variant.

-- One row per (course, slug); current_version is what students get from now on.
CREATE TABLE assignments (
  id              INTEGER PRIMARY KEY,
  course          TEXT NOT NULL,
  slug            TEXT NOT NULL,
  current_version INTEGER REFERENCES assignment_versions(id),
  -- Content hash last seen in the course folder, so a restart re-imports only on a change
  -- and a roll-back made on the web survives restarts.
  folder_hash     TEXT,
  created_at      INTEGER NOT NULL,
  UNIQUE (course, slug)
) STRICT;

-- Every import that changed something. Files live in the blob store; the manifest lists them.
CREATE TABLE assignment_versions (
  id            INTEGER PRIMARY KEY,
  assignment_id INTEGER NOT NULL REFERENCES assignments(id),
  number        INTEGER NOT NULL,
  content_hash  TEXT NOT NULL,
  -- The normalised assignment.yaml (times in epoch ms, durations in ms, sizes in bytes).
  config        TEXT NOT NULL,
  -- [{path, sha256, size, mode}]
  manifest      TEXT NOT NULL,
  -- folder | upload | cli
  source        TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  -- Who: an e-mail address, "course folder" or "command line".
  created_by    TEXT NOT NULL,
  UNIQUE (assignment_id, number)
) STRICT;
CREATE INDEX assignment_versions_hash ON assignment_versions (assignment_id, content_hash);

-- A student's parameters, made once by the generator of the version current at the time.
-- user_id is the accounts user id; student_key is the id the seed was derived from.
CREATE TABLE variants (
  id            INTEGER PRIMARY KEY,
  assignment_id INTEGER NOT NULL REFERENCES assignments(id),
  version_id    INTEGER NOT NULL REFERENCES assignment_versions(id),
  user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  student_key   TEXT NOT NULL,
  student_name  TEXT NOT NULL,
  seed          TEXT NOT NULL,
  params        TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  UNIQUE (assignment_id, user_id)
) STRICT;
CREATE INDEX variants_user ON variants (user_id);

-- Generator runs that failed (and deliberate regenerations), for the lecturer's page.
CREATE TABLE generator_runs (
  id            INTEGER PRIMARY KEY,
  assignment_id INTEGER NOT NULL REFERENCES assignments(id),
  version_id    INTEGER NOT NULL REFERENCES assignment_versions(id),
  user_id       INTEGER REFERENCES users (id) ON DELETE SET NULL,
  seed          TEXT NOT NULL,
  -- failed | regenerated
  outcome       TEXT NOT NULL,
  -- Sandbox status (ok, timeout, memory, ...) and our reading of it.
  status        TEXT NOT NULL,
  message       TEXT NOT NULL,
  stdout        TEXT NOT NULL,
  stderr        TEXT NOT NULL,
  wall_ms       INTEGER NOT NULL,
  actor         TEXT,
  created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX generator_runs_assignment ON generator_runs (assignment_id, id);
