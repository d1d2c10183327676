-- An index on every foreign key column that lacked one. With foreign_keys ON, deleting a parent
-- row (a user, an assignment version) makes SQLite look up its children by that column; without
-- an index each such delete scans the whole child table. test/indexes.test.ts keeps it that way.
CREATE INDEX IF NOT EXISTS assignments_current_version ON assignments (current_version);
CREATE INDEX IF NOT EXISTS comments_hidden_by ON comments (hidden_by);
CREATE INDEX IF NOT EXISTS generator_runs_user ON generator_runs (user_id);
CREATE INDEX IF NOT EXISTS generator_runs_version ON generator_runs (version_id);
CREATE INDEX IF NOT EXISTS variants_version ON variants (version_id);
CREATE INDEX IF NOT EXISTS audit_log_actor ON audit_log (actor_id);
CREATE INDEX IF NOT EXISTS rerun_batches_version ON rerun_batches (version_id);
