-- The grading queue and its results. A job is written in the same transaction as its
-- submission; results.job_id is UNIQUE, so a job is recorded at most once whatever retries,
-- restarts or grading machines do.

CREATE TABLE jobs (
  id               INTEGER PRIMARY KEY,
  submission_id    INTEGER NOT NULL REFERENCES submissions (id),
  -- Whose tests run: the submission's version, or the current one for a lecturer's re-run.
  version_id       INTEGER NOT NULL REFERENCES assignment_versions (id),
  state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'error', 'cancelled')),
  -- Higher first: live submissions, then re-runs, then superseded submissions.
  priority         INTEGER NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0,
  max_attempts     INTEGER NOT NULL DEFAULT 3,
  lease_owner      TEXT,
  lease_expires_at INTEGER,
  enqueued_at      INTEGER NOT NULL,
  not_before       INTEGER NOT NULL,
  started_at       INTEGER,
  finished_at      INTEGER,
  last_error       TEXT,
  -- submission | rerun
  reason           TEXT NOT NULL,
  -- Groups a lecturer's re-run so its progress can be shown.
  batch            TEXT
) STRICT;
-- The poll: the best queued job. Partial, so finished jobs never slow it down.
CREATE INDEX jobs_poll ON jobs (priority DESC, id) WHERE state = 'queued';
CREATE INDEX jobs_running ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_submission ON jobs (submission_id);
CREATE INDEX jobs_version ON jobs (version_id);
CREATE INDEX jobs_batch ON jobs (batch) WHERE batch IS NOT NULL;

CREATE TABLE results (
  id            INTEGER PRIMARY KEY,
  job_id        INTEGER NOT NULL UNIQUE REFERENCES jobs (id),
  submission_id INTEGER NOT NULL REFERENCES submissions (id),
  -- passed | failed | timeout | memory | output_limit | crashed | error
  status        TEXT NOT NULL,
  score         REAL,
  max_score     REAL,
  -- 0: could not be graded; does not count against the student.
  gradable      INTEGER NOT NULL CHECK (gradable IN (0, 1)),
  output        TEXT NOT NULL,
  -- [{name, score, maxScore, status, output, visibility}]
  tests         TEXT NOT NULL,
  -- For staff only: why a run could not be graded.
  problem       TEXT,
  duration_ms   INTEGER NOT NULL,
  worker        TEXT,
  created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX results_submission ON results (submission_id, id);
