-- Grading trust (issue 13): what a run saw of student code reaching outside its sandbox, and the
-- publish-time self-check of each bundle version.

-- [{kind, detail}] for staff; NULL: nothing seen.
ALTER TABLE results ADD COLUMN tamper TEXT;
CREATE INDEX results_tamper ON results (submission_id) WHERE tamper IS NOT NULL;
