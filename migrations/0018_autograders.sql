-- Bring your own autograder: what a results file says beyond score and tests (output format,
-- the harness's stdout and who sees it, PrairieLearn's message, format errors and images,
-- Gradescope's extra_data, execution_time and leaderboard), and per-assignment environments.

ALTER TABLE results ADD COLUMN details TEXT NOT NULL DEFAULT '{}';

-- A read-only root filesystem built once per distinct environment (Debian packages, Python
-- requirements, an OCI image archive), shared by every assignment version that names the same
-- spec. hash is the sha256 of the normalised spec and names the folder under data/environments/.
CREATE TABLE environments (
  hash        TEXT PRIMARY KEY,
  spec        TEXT NOT NULL,
  -- queued | building | ready | failed
  state       TEXT NOT NULL CHECK (state IN ('queued', 'building', 'ready', 'failed')),
  -- The step being run, for the staff page ("debootstrap: unpacking 120 of 240").
  progress    TEXT NOT NULL DEFAULT '',
  -- The build's output (the tail of it, capped).
  log         TEXT NOT NULL DEFAULT '',
  error       TEXT,
  bytes       INTEGER,
  created_at  INTEGER NOT NULL,
  started_at  INTEGER,
  finished_at INTEGER
) STRICT;
