-- Grading on other machines (LECTERN_QUEUE=redis://...). The jobs rows stay the source of truth;
-- Redis only carries them to workers. forwarded_at is the outbox mark: a queued job with no
-- forwarded_at has not been handed to Redis yet (Redis was down, or it was just submitted).

ALTER TABLE jobs ADD COLUMN forwarded_at INTEGER;
-- The forwarder's poll: queued jobs not yet in Redis, best first.
CREATE INDEX jobs_outbox ON jobs (priority DESC, id) WHERE state = 'queued' AND forwarded_at IS NULL;
-- The reconciler's list: jobs that are out in Redis and not finished.
CREATE INDEX jobs_forwarded ON jobs (id) WHERE forwarded_at IS NOT NULL AND state IN ('queued', 'running');

-- Grading workers as the web server last saw them (their heartbeats live in Redis and expire);
-- the lecturer's dashboard lists them.
CREATE TABLE workers (
  -- name:pid, e.g. grader-2:4711
  id          TEXT PRIMARY KEY,
  -- LECTERN_WORKER_NAME, the host name by default
  host        TEXT NOT NULL,
  pid         INTEGER NOT NULL,
  concurrency INTEGER NOT NULL,
  running     INTEGER NOT NULL DEFAULT 0,
  -- Jobs this worker process finished (from its own count).
  jobs_done   INTEGER NOT NULL DEFAULT 0,
  sandbox     TEXT NOT NULL DEFAULT '',
  started_at  INTEGER NOT NULL,
  -- Times on the web server's clock.
  first_seen  INTEGER NOT NULL,
  last_seen   INTEGER NOT NULL,
  -- Set when its heartbeat stopped (it stopped, or died).
  gone_at     INTEGER
) STRICT;
CREATE INDEX workers_seen ON workers (last_seen);
