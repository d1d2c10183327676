-- Issue 19 items 4 and 5.

-- Whom a new assignment version reaches among students who opened an earlier one
-- (src/plugins/assignments/freeze.ts): 'everyone' renders this version with their frozen
-- parameters; 'new' leaves them on the version they opened until staff move them forward.
-- No row: decided by whether the generator changed (see freeze.ts).
CREATE TABLE version_reach (
  version_id INTEGER PRIMARY KEY REFERENCES assignment_versions(id),
  reach      TEXT NOT NULL CHECK (reach IN ('everyone', 'new')),
  set_by     TEXT NOT NULL,
  set_at     INTEGER NOT NULL
) STRICT;

-- Courses made on the web (src/plugins/courses). A course.yaml with the same slug wins for
-- every setting; its staff list adds to the staff appointed here (enrolment rows).
CREATE TABLE courses (
  slug        TEXT PRIMARY KEY,
  title       TEXT NOT NULL,
  code        TEXT NOT NULL DEFAULT '',
  term        TEXT NOT NULL DEFAULT '',
  timezone    TEXT NOT NULL DEFAULT 'UTC',
  description TEXT NOT NULL DEFAULT '',
  created_by  TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
) STRICT;
