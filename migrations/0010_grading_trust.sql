-- Grading trust (issue 13): what a run saw of student code reaching outside its sandbox, and the
-- publish-time self-check of each bundle version.

-- [{kind, detail}] for staff; NULL: nothing seen.
ALTER TABLE results ADD COLUMN tamper TEXT;
CREATE INDEX results_tamper ON results (submission_id) WHERE tamper IS NOT NULL;

-- The publish-time self-check of a bundle version: its reference solution (solution/, when
-- shipped) and built-in hostile submissions, run in the background after the import.
CREATE TABLE self_checks (
  version_id   INTEGER PRIMARY KEY REFERENCES assignment_versions (id),
  -- running | done | error
  state        TEXT NOT NULL CHECK (state IN ('running', 'done', 'error')),
  -- [{name, kind, status, score, maxScore, gradable, tamper, ok, note}]
  entries      TEXT NOT NULL DEFAULT '[]',
  -- 1: a hostile submission scored above zero or the reference below full marks.
  warning      INTEGER NOT NULL DEFAULT 0 CHECK (warning IN (0, 1)),
  message      TEXT,
  -- The version made current again because this one failed its check (its number).
  held_back_for INTEGER,
  confirmed_by TEXT,
  confirmed_at INTEGER,
  started_at   INTEGER NOT NULL,
  finished_at  INTEGER
) STRICT;
CREATE INDEX self_checks_warning ON self_checks (version_id) WHERE warning = 1 AND confirmed_at IS NULL;
