-- Issue 13: a new bundle version waits here, not as the current one, until its self-check passes
-- or a lecturer confirms it; students get the current version meanwhile.
ALTER TABLE assignments ADD COLUMN pending_version INTEGER REFERENCES assignment_versions (id);
