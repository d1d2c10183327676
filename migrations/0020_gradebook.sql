-- The gradebook's read model: one row per submission and owner (the submitter, and every member
-- recorded with a team's submission), with what choosing the counted submission needs — hand-in
-- order, late penalty and the latest gradable autotest score. Kept by triggers on the tables it
-- mirrors, so every writer (intake, re-timing after an extension, the grading worker, a re-run)
-- keeps it right without knowing it exists, and a staff page at 1,000 students reads one index
-- range per assignment instead of every submission with its results.
CREATE TABLE gradebook_entries (
  assignment_id INTEGER NOT NULL REFERENCES assignments (id),
  owner_id      INTEGER NOT NULL REFERENCES users (id),
  submission_id INTEGER NOT NULL REFERENCES submissions (id),
  penalty_pct   REAL NOT NULL,
  late_minutes  INTEGER NOT NULL,
  -- The latest gradable result of the submission (a run that could not grade never replaces it).
  result_id     INTEGER,
  score         REAL,
  max_score     REAL,
  PRIMARY KEY (assignment_id, owner_id, submission_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX gradebook_entries_submission ON gradebook_entries (submission_id);
CREATE INDEX gradebook_entries_owner ON gradebook_entries (owner_id);

INSERT OR IGNORE INTO gradebook_entries (assignment_id, owner_id, submission_id, penalty_pct, late_minutes, result_id, score, max_score)
SELECT s.assignment_id, o.user_id, s.id, s.penalty_pct, s.late_minutes, r.id, r.score, r.max_score
  FROM (SELECT id AS submission_id, user_id FROM submissions UNION SELECT submission_id, user_id FROM submission_members) o
  JOIN submissions s ON s.id = o.submission_id
  LEFT JOIN results r ON r.id = (SELECT max(x.id) FROM results x WHERE x.submission_id = s.id AND x.gradable = 1);

CREATE TRIGGER gradebook_entries_submission AFTER INSERT ON submissions BEGIN
  INSERT OR IGNORE INTO gradebook_entries (assignment_id, owner_id, submission_id, penalty_pct, late_minutes)
  VALUES (NEW.assignment_id, NEW.user_id, NEW.id, NEW.penalty_pct, NEW.late_minutes);
END;

CREATE TRIGGER gradebook_entries_member AFTER INSERT ON submission_members BEGIN
  INSERT OR IGNORE INTO gradebook_entries (assignment_id, owner_id, submission_id, penalty_pct, late_minutes, result_id, score, max_score)
  SELECT s.assignment_id, NEW.user_id, s.id, s.penalty_pct, s.late_minutes, e.result_id, e.score, e.max_score
    FROM submissions s LEFT JOIN gradebook_entries e ON e.submission_id = s.id AND e.owner_id = s.user_id
   WHERE s.id = NEW.submission_id;
END;

CREATE TRIGGER gradebook_entries_lateness AFTER UPDATE OF penalty_pct, late_minutes ON submissions BEGIN
  UPDATE gradebook_entries SET penalty_pct = NEW.penalty_pct, late_minutes = NEW.late_minutes WHERE submission_id = NEW.id;
END;

CREATE TRIGGER gradebook_entries_result AFTER INSERT ON results WHEN NEW.gradable = 1 BEGIN
  UPDATE gradebook_entries SET result_id = NEW.id, score = NEW.score, max_score = NEW.max_score
   WHERE submission_id = NEW.submission_id AND (result_id IS NULL OR result_id < NEW.id);
END;

-- A counter per assignment, moved by every change to what its counted submissions are made of:
-- entries (submissions, owners, lateness, gradable results), any result (the status shown), jobs
-- (waiting for tests), and manual grading (grades, applied items, adjustments, the rubric). The
-- gradebook keeps each assignment's counted submissions in memory until its counter moves
-- (src/plugins/gradebook/grades.ts), so a page view after a quiet spell reads ten counters.
CREATE TABLE gradebook_stamps (
  assignment_id INTEGER PRIMARY KEY REFERENCES assignments (id),
  stamp         INTEGER NOT NULL
) STRICT;

CREATE TRIGGER gradebook_stamp_insert AFTER INSERT ON gradebook_entries BEGIN
  INSERT INTO gradebook_stamps (assignment_id, stamp) VALUES (NEW.assignment_id, 1)
    ON CONFLICT (assignment_id) DO UPDATE SET stamp = stamp + 1;
END;

CREATE TRIGGER gradebook_stamp_update AFTER UPDATE ON gradebook_entries BEGIN
  INSERT INTO gradebook_stamps (assignment_id, stamp) VALUES (NEW.assignment_id, 1)
    ON CONFLICT (assignment_id) DO UPDATE SET stamp = stamp + 1;
END;

-- Any result (also one that could not grade) changes the status shown for its submission.
CREATE TRIGGER gradebook_stamp_result AFTER INSERT ON results BEGIN
  INSERT INTO gradebook_stamps (assignment_id, stamp)
    SELECT assignment_id, 1 FROM submissions WHERE id = NEW.submission_id
    ON CONFLICT (assignment_id) DO UPDATE SET stamp = stamp + 1;
END;

CREATE TRIGGER gradebook_stamp_job AFTER INSERT ON jobs BEGIN
  INSERT INTO gradebook_stamps (assignment_id, stamp)
    SELECT assignment_id, 1 FROM submissions WHERE id = NEW.submission_id
    ON CONFLICT (assignment_id) DO UPDATE SET stamp = stamp + 1;
END;

CREATE TRIGGER gradebook_stamp_job_state AFTER UPDATE OF state ON jobs BEGIN
  INSERT INTO gradebook_stamps (assignment_id, stamp)
    SELECT assignment_id, 1 FROM submissions WHERE id = NEW.submission_id
    ON CONFLICT (assignment_id) DO UPDATE SET stamp = stamp + 1;
END;

CREATE TRIGGER gradebook_stamp_grade_insert AFTER INSERT ON review_grades BEGIN
  INSERT INTO gradebook_stamps (assignment_id, stamp)
    SELECT NEW.assignment_id, 1 WHERE true
    ON CONFLICT (assignment_id) DO UPDATE SET stamp = stamp + 1;
END;

CREATE TRIGGER gradebook_stamp_group_insert AFTER INSERT ON review_groups BEGIN
  INSERT INTO gradebook_stamps (assignment_id, stamp)
    SELECT NEW.assignment_id, 1 WHERE true
    ON CONFLICT (assignment_id) DO UPDATE SET stamp = stamp + 1;
END;

CREATE TRIGGER gradebook_stamp_item_insert AFTER INSERT ON review_items BEGIN
  INSERT INTO gradebook_stamps (assignment_id, stamp)
    SELECT assignment_id, 1 FROM review_groups WHERE id = NEW.group_id
    ON CONFLICT (assignment_id) DO UPDATE SET stamp = stamp + 1;
END;

CREATE TRIGGER gradebook_stamp_adjustment_insert AFTER INSERT ON review_adjustments BEGIN
  INSERT INTO gradebook_stamps (assignment_id, stamp)
    SELECT assignment_id, 1 FROM submissions WHERE id = NEW.submission_id
    ON CONFLICT (assignment_id) DO UPDATE SET stamp = stamp + 1;
END;

CREATE TRIGGER gradebook_stamp_grade_update AFTER UPDATE ON review_grades BEGIN
  INSERT INTO gradebook_stamps (assignment_id, stamp)
    SELECT NEW.assignment_id, 1 WHERE true
    ON CONFLICT (assignment_id) DO UPDATE SET stamp = stamp + 1;
END;

CREATE TRIGGER gradebook_stamp_group_update AFTER UPDATE ON review_groups BEGIN
  INSERT INTO gradebook_stamps (assignment_id, stamp)
    SELECT NEW.assignment_id, 1 WHERE true
    ON CONFLICT (assignment_id) DO UPDATE SET stamp = stamp + 1;
END;

CREATE TRIGGER gradebook_stamp_item_update AFTER UPDATE ON review_items BEGIN
  INSERT INTO gradebook_stamps (assignment_id, stamp)
    SELECT assignment_id, 1 FROM review_groups WHERE id = NEW.group_id
    ON CONFLICT (assignment_id) DO UPDATE SET stamp = stamp + 1;
END;

CREATE TRIGGER gradebook_stamp_adjustment_update AFTER UPDATE ON review_adjustments BEGIN
  INSERT INTO gradebook_stamps (assignment_id, stamp)
    SELECT assignment_id, 1 FROM submissions WHERE id = NEW.submission_id
    ON CONFLICT (assignment_id) DO UPDATE SET stamp = stamp + 1;
END;

CREATE TRIGGER gradebook_stamp_grade_delete AFTER DELETE ON review_grades BEGIN
  INSERT INTO gradebook_stamps (assignment_id, stamp)
    SELECT OLD.assignment_id, 1 WHERE true
    ON CONFLICT (assignment_id) DO UPDATE SET stamp = stamp + 1;
END;

CREATE TRIGGER gradebook_stamp_group_delete AFTER DELETE ON review_groups BEGIN
  INSERT INTO gradebook_stamps (assignment_id, stamp)
    SELECT OLD.assignment_id, 1 WHERE true
    ON CONFLICT (assignment_id) DO UPDATE SET stamp = stamp + 1;
END;

CREATE TRIGGER gradebook_stamp_item_delete AFTER DELETE ON review_items BEGIN
  INSERT INTO gradebook_stamps (assignment_id, stamp)
    SELECT assignment_id, 1 FROM review_groups WHERE id = OLD.group_id
    ON CONFLICT (assignment_id) DO UPDATE SET stamp = stamp + 1;
END;

CREATE TRIGGER gradebook_stamp_adjustment_delete AFTER DELETE ON review_adjustments BEGIN
  INSERT INTO gradebook_stamps (assignment_id, stamp)
    SELECT assignment_id, 1 FROM submissions WHERE id = OLD.submission_id
    ON CONFLICT (assignment_id) DO UPDATE SET stamp = stamp + 1;
END;

CREATE TRIGGER gradebook_stamp_applied_insert AFTER INSERT ON review_applied BEGIN
  INSERT INTO gradebook_stamps (assignment_id, stamp)
    SELECT assignment_id, 1 FROM submissions WHERE id = NEW.submission_id
    ON CONFLICT (assignment_id) DO UPDATE SET stamp = stamp + 1;
END;

CREATE TRIGGER gradebook_stamp_applied_delete AFTER DELETE ON review_applied BEGIN
  INSERT INTO gradebook_stamps (assignment_id, stamp)
    SELECT assignment_id, 1 FROM submissions WHERE id = OLD.submission_id
    ON CONFLICT (assignment_id) DO UPDATE SET stamp = stamp + 1;
END;

-- Queued and running jobs by submission: the gradebook's "waiting for tests" per assignment.
CREATE INDEX jobs_pending_submission ON jobs (submission_id) WHERE state IN ('queued', 'running');

-- Per-assignment weight and maximum set on the gradebook page (course.yaml's, where it gives one,
-- take precedence; see src/plugins/gradebook/weights.ts).
CREATE TABLE gradebook_settings (
  course     TEXT NOT NULL,
  slug       TEXT NOT NULL,
  weight     REAL,
  max_points REAL,
  updated_by INTEGER REFERENCES users (id),
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (course, slug)
) STRICT;
CREATE INDEX gradebook_settings_updated_by ON gradebook_settings (updated_by);

-- The dashboard at 1,000 students: per-assignment counts from the index alone, and the runs
-- needing attention (the latest result could not grade; a job gave up) without scanning every
-- result and job of the course.
CREATE INDEX submissions_assignment_user ON submissions (assignment_id, user_id, submitted_at);
-- The forecast's arrival profile, counted from the index alone.
CREATE INDEX submissions_arrivals ON submissions (assignment_id, submitted_at, deadline_at);
-- By id: those lists are newest first, and only these few rows are read.
CREATE INDEX results_ungradable ON results (id) WHERE gradable = 0;
CREATE INDEX results_tampered ON results (id) WHERE tamper IS NOT NULL;
CREATE INDEX jobs_gave_up ON jobs (id) WHERE state = 'error';
