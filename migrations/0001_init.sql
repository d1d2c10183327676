-- Instance-wide settings and secrets (e.g. the secret variant seeds are derived from).
CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
