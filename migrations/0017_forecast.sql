-- CPU time of each grading run, beside its wall time: the forecast of a queue's drain time needs
-- both (a run waiting on its own sleep costs wall time but no core). NULL for runs recorded
-- before this column existed and for runs that never reached the sandbox.
ALTER TABLE results ADD COLUMN cpu_ms INTEGER;
