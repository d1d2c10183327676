-- Issue 13: a new bundle version waits here, not as the current one, until its self-check passes
-- or a lecturer confirms it; students get the current version meanwhile.
ALTER TABLE assignments ADD COLUMN pending_version INTEGER REFERENCES assignment_versions (id);
-- Deleting a version looks up the assignment that waits on it (foreign-key check).
CREATE INDEX assignments_pending_version ON assignments (pending_version);
