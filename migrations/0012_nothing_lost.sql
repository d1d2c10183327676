-- Server crashes are not the job's failure: they are counted apart from attempts. A job that was
-- running each time the server died is run alone afterwards, and set aside for staff (state
-- error, with the reason) only when the server kept dying while it ran alone.
ALTER TABLE jobs ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;
