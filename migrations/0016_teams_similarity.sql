-- Teams (one variant, one submission history, one result per team) and similarity reports.

-- A team exists for one assignment. The extension columns are a per-team extension; members'
-- own extensions count too (the most generous one wins).
CREATE TABLE teams (
  id              INTEGER PRIMARY KEY,
  assignment_id   INTEGER NOT NULL REFERENCES assignments (id),
  name            TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  -- An e-mail address, or "csv import".
  created_by      TEXT NOT NULL,
  extension_until INTEGER,
  extension_by    TEXT,
  extension_at    INTEGER,
  UNIQUE (assignment_id, name)
) STRICT;

-- Current membership only; a student is in at most one team per assignment. Who was in the team
-- when something was handed in is kept on the submission (submission_members), not here.
CREATE TABLE team_members (
  team_id       INTEGER NOT NULL REFERENCES teams (id),
  assignment_id INTEGER NOT NULL REFERENCES assignments (id),
  user_id       INTEGER NOT NULL REFERENCES users (id),
  joined_at     INTEGER NOT NULL,
  PRIMARY KEY (assignment_id, user_id)
) STRICT;
CREATE INDEX team_members_team ON team_members (team_id);
CREATE INDEX team_members_user ON team_members (user_id);

CREATE TABLE team_invites (
  id          INTEGER PRIMARY KEY,
  team_id     INTEGER NOT NULL REFERENCES teams (id),
  user_id     INTEGER NOT NULL REFERENCES users (id),
  invited_by  INTEGER NOT NULL REFERENCES users (id),
  created_at  INTEGER NOT NULL,
  UNIQUE (team_id, user_id)
) STRICT;
CREATE INDEX team_invites_user ON team_invites (user_id);
CREATE INDEX team_invites_by ON team_invites (invited_by);

-- Joins and departures, for the staff page: the history behind each submission's member list.
CREATE TABLE team_events (
  id        INTEGER PRIMARY KEY,
  team_id   INTEGER NOT NULL REFERENCES teams (id),
  user_id   INTEGER REFERENCES users (id) ON DELETE SET NULL,
  -- created | joined | left | added | removed
  event     TEXT NOT NULL,
  actor     TEXT NOT NULL,
  at        INTEGER NOT NULL
) STRICT;
CREATE INDEX team_events_team ON team_events (team_id, id);
CREATE INDEX team_events_user ON team_events (user_id);

-- The team's one variant, seeded by the team (not by any member), made on first use.
CREATE TABLE team_variants (
  team_id       INTEGER PRIMARY KEY REFERENCES teams (id),
  assignment_id INTEGER NOT NULL REFERENCES assignments (id),
  version_id    INTEGER NOT NULL REFERENCES assignment_versions (id),
  seed          TEXT NOT NULL,
  params        TEXT NOT NULL,
  created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX team_variants_assignment ON team_variants (assignment_id);
CREATE INDEX team_variants_version ON team_variants (version_id);

-- A team's submission: user_id stays the member who handed it in (the receipt names them).
ALTER TABLE submissions ADD COLUMN team_id INTEGER REFERENCES teams (id);
CREATE INDEX submissions_team ON submissions (team_id);

-- Whose a submission is: the submitter alone, or the team's members at that moment. Changing a
-- team later never moves past work to the newcomers or away from those who left.
CREATE TABLE submission_members (
  submission_id INTEGER NOT NULL REFERENCES submissions (id),
  user_id       INTEGER NOT NULL REFERENCES users (id),
  PRIMARY KEY (submission_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX submission_members_user ON submission_members (user_id, submission_id);
INSERT INTO submission_members (submission_id, user_id) SELECT id, user_id FROM submissions;

-- Similarity reports: one row per run; pairs and clusters are kept as JSON made by the worker.
CREATE TABLE similarity_reports (
  id            INTEGER PRIMARY KEY,
  assignment_id INTEGER NOT NULL REFERENCES assignments (id),
  -- queued | running | done | failed
  state         TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
  progress      REAL NOT NULL DEFAULT 0,
  stage         TEXT NOT NULL DEFAULT '',
  -- Share (0..1) of the class above which shared code is ignored.
  max_share     REAL NOT NULL,
  created_by    TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  finished_at   INTEGER,
  error         TEXT,
  -- {subjects, pairs, clusters, language, warnings}
  report        TEXT CHECK (report IS NULL OR json_valid(report))
) STRICT;
CREATE INDEX similarity_reports_assignment ON similarity_reports (assignment_id, id);

-- Variant-aware evidence for one pair: each side's code run on its own and on the other's params.
CREATE TABLE similarity_evidence (
  id            INTEGER PRIMARY KEY,
  report_id     INTEGER NOT NULL REFERENCES similarity_reports (id),
  left_sub      INTEGER NOT NULL REFERENCES submissions (id),
  right_sub     INTEGER NOT NULL REFERENCES submissions (id),
  -- queued | running | done | failed
  state         TEXT NOT NULL,
  -- [{submission, params_of, score, max_score, status}]
  runs          TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(runs)),
  flagged       INTEGER NOT NULL DEFAULT 0,
  summary       TEXT NOT NULL DEFAULT '',
  created_by    TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  UNIQUE (report_id, left_sub, right_sub)
) STRICT;
CREATE INDEX similarity_evidence_left ON similarity_evidence (left_sub);
CREATE INDEX similarity_evidence_right ON similarity_evidence (right_sub);
