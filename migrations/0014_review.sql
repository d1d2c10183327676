-- Manual grading: rubrics, applied items, adjustments, line comments, release, regrade requests
-- and the grading queue's grader assignments. Scores are never stored: a submission's manual
-- score is computed from the items applied to it and their points now, so changing an item's
-- points re-scores every submission it was applied to. Times are ms since the epoch.

CREATE TABLE review_groups (
  id            INTEGER PRIMARY KEY,
  assignment_id INTEGER NOT NULL REFERENCES assignments (id),
  -- Stable name from assignment.yaml (or made from the title on the web), for re-imports.
  key           TEXT NOT NULL,
  title         TEXT NOT NULL,
  -- The group's total lies in [0, max].
  max_points    REAL NOT NULL CHECK (max_points >= 0),
  -- positive: starts at 0 and items add; negative: starts at max and items take away.
  scoring       TEXT NOT NULL CHECK (scoring IN ('positive', 'negative')),
  position      INTEGER NOT NULL,
  UNIQUE (assignment_id, key)
) STRICT;

CREATE TABLE review_items (
  id          INTEGER PRIMARY KEY,
  group_id    INTEGER NOT NULL REFERENCES review_groups (id),
  key         TEXT NOT NULL,
  title       TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  points      REAL NOT NULL,
  position    INTEGER NOT NULL,
  -- An item removed from the rubric after it was applied stays (the grades keep it) but is not offered.
  retired_at  INTEGER,
  UNIQUE (group_id, key)
) STRICT;
CREATE INDEX review_items_group ON review_items (group_id);

-- Which version's assignment.yaml rubric was last brought into the tables above.
CREATE TABLE review_rubric_sync (
  assignment_id INTEGER PRIMARY KEY REFERENCES assignments (id),
  version_id    INTEGER NOT NULL REFERENCES assignment_versions (id)
) STRICT;
CREATE INDEX review_rubric_sync_version ON review_rubric_sync (version_id);

-- The manual grading of one submission: created when staff first grade it.
CREATE TABLE review_grades (
  submission_id INTEGER PRIMARY KEY REFERENCES submissions (id),
  assignment_id INTEGER NOT NULL REFERENCES assignments (id),
  state         TEXT NOT NULL CHECK (state IN ('in_progress', 'graded')),
  grader_id     INTEGER REFERENCES users (id),
  updated_at    INTEGER NOT NULL,
  graded_at     INTEGER
) STRICT;
CREATE INDEX review_grades_assignment ON review_grades (assignment_id, state);
CREATE INDEX review_grades_grader ON review_grades (grader_id);

CREATE TABLE review_applied (
  submission_id INTEGER NOT NULL REFERENCES submissions (id),
  item_id       INTEGER NOT NULL REFERENCES review_items (id),
  applied_by    INTEGER REFERENCES users (id),
  applied_at    INTEGER NOT NULL,
  PRIMARY KEY (submission_id, item_id)
) STRICT;
CREATE INDEX review_applied_item ON review_applied (item_id);
CREATE INDEX review_applied_by ON review_applied (applied_by);

CREATE TABLE review_adjustments (
  id            INTEGER PRIMARY KEY,
  submission_id INTEGER NOT NULL REFERENCES submissions (id),
  points        REAL NOT NULL,
  reason        TEXT NOT NULL,
  created_by    INTEGER REFERENCES users (id),
  created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX review_adjustments_submission ON review_adjustments (submission_id);
CREATE INDEX review_adjustments_by ON review_adjustments (created_by);

CREATE TABLE review_comments (
  id            INTEGER PRIMARY KEY,
  submission_id INTEGER NOT NULL REFERENCES submissions (id),
  -- The submitted file's name, or "<zip name>/<path inside the zip>".
  path          TEXT NOT NULL,
  line_start    INTEGER NOT NULL CHECK (line_start >= 1),
  line_end      INTEGER NOT NULL CHECK (line_end >= line_start),
  body          TEXT NOT NULL,
  item_id       INTEGER REFERENCES review_items (id),
  author_id     INTEGER REFERENCES users (id),
  created_at    INTEGER NOT NULL,
  edited_at     INTEGER
) STRICT;
CREATE INDEX review_comments_submission ON review_comments (submission_id, path, line_start);
CREATE INDEX review_comments_item ON review_comments (item_id);
CREATE INDEX review_comments_author ON review_comments (author_id);

-- Release of manual grades and comments: for the whole assignment (user_id 0) or one student.
CREATE TABLE review_releases (
  assignment_id INTEGER NOT NULL REFERENCES assignments (id),
  user_id       INTEGER NOT NULL,
  released_at   INTEGER NOT NULL,
  released_by   INTEGER REFERENCES users (id),
  PRIMARY KEY (assignment_id, user_id)
) STRICT;
CREATE INDEX review_releases_by ON review_releases (released_by);

-- Who grades whom, per assignment.
CREATE TABLE review_graders (
  assignment_id INTEGER NOT NULL REFERENCES assignments (id),
  user_id       INTEGER NOT NULL REFERENCES users (id),
  grader_id     INTEGER NOT NULL REFERENCES users (id),
  PRIMARY KEY (assignment_id, user_id)
) STRICT;
CREATE INDEX review_graders_grader ON review_graders (grader_id);
CREATE INDEX review_graders_user ON review_graders (user_id);

CREATE TABLE review_regrades (
  id            INTEGER PRIMARY KEY,
  submission_id INTEGER NOT NULL REFERENCES submissions (id),
  user_id       INTEGER NOT NULL REFERENCES users (id),
  item_id       INTEGER REFERENCES review_items (id),
  comment_id    INTEGER REFERENCES review_comments (id) ON DELETE SET NULL,
  -- What the request is about, kept as text: the comment may be edited or deleted later.
  subject       TEXT NOT NULL,
  state         TEXT NOT NULL CHECK (state IN ('open', 'adjusted', 'declined', 'answered')),
  created_at    INTEGER NOT NULL,
  closed_at     INTEGER,
  closed_by     INTEGER REFERENCES users (id)
) STRICT;
CREATE INDEX review_regrades_submission ON review_regrades (submission_id);
CREATE INDEX review_regrades_state ON review_regrades (state, created_at);
CREATE INDEX review_regrades_user ON review_regrades (user_id);
CREATE INDEX review_regrades_item ON review_regrades (item_id);
CREATE INDEX review_regrades_comment ON review_regrades (comment_id);
CREATE INDEX review_regrades_closed_by ON review_regrades (closed_by);

CREATE TABLE review_regrade_messages (
  id         INTEGER PRIMARY KEY,
  regrade_id INTEGER NOT NULL REFERENCES review_regrades (id),
  author_id  INTEGER REFERENCES users (id),
  staff      INTEGER NOT NULL CHECK (staff IN (0, 1)),
  body       TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX review_regrade_messages_regrade ON review_regrade_messages (regrade_id, id);
CREATE INDEX review_regrade_messages_author ON review_regrade_messages (author_id);
