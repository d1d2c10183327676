-- Accounts: users, sessions, course enrolments, sign-up links, single sign-on identities and
-- failed sign-in attempts (for rate limiting). Times are milliseconds since the epoch.

CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  -- Stored lowercased so that lookups and the unique constraint ignore case.
  email         TEXT NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
  name          TEXT NOT NULL,
  student_id    TEXT,
  -- "scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>"; NULL until the user sets a password
  -- (a roster import or a single sign-on-only account).
  password_hash TEXT,
  is_admin      INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
  created_at    INTEGER NOT NULL
) STRICT;

-- The cookie holds a random 32-byte id; only its sha256 is stored, so a copy of the database
-- does not hand out live sessions.
CREATE TABLE sessions (
  id_hash      TEXT PRIMARY KEY,
  user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  csrf_secret  TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Students (and optionally staff) per course. Staff listed in course.yaml take precedence.
CREATE TABLE enrolments (
  id         INTEGER PRIMARY KEY,
  user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  course     TEXT NOT NULL,
  role       TEXT NOT NULL CHECK (role IN ('student', 'tutor', 'lecturer')),
  created_at INTEGER NOT NULL,
  UNIQUE (user_id, course)
) STRICT;
CREATE INDEX enrolments_course ON enrolments (course, role);

-- One-time links on which a rostered student sets a password. Only the sha256 of the token
-- is stored; a user may hold several unexpired links (one per download) until one is used.
CREATE TABLE signup_tokens (
  token_hash TEXT PRIMARY KEY,
  user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  course     TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER
) STRICT;
CREATE INDEX signup_tokens_user ON signup_tokens (user_id);

-- A single sign-on account (provider + subject) linked to a user by verified email.
CREATE TABLE oidc_identities (
  provider      TEXT NOT NULL,
  subject       TEXT NOT NULL,
  user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  email         TEXT,
  created_at    INTEGER NOT NULL,
  last_login_at INTEGER,
  PRIMARY KEY (provider, subject)
) STRICT;
CREATE INDEX oidc_identities_user ON oidc_identities (user_id);

-- An OpenID Connect sign-in in progress. The browser holds a random id in a short-lived cookie;
-- the row is deleted when the provider sends the browser back, so a callback works once.
CREATE TABLE oidc_transactions (
  id_hash       TEXT PRIMARY KEY,
  provider      TEXT NOT NULL,
  state         TEXT NOT NULL,
  nonce         TEXT NOT NULL,
  code_verifier TEXT NOT NULL,
  next          TEXT NOT NULL,
  expires_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX oidc_transactions_expires ON oidc_transactions (expires_at);

-- Failed sign-ins, per account (the lowercased email typed, known or not) and per address.
CREATE TABLE login_failures (
  id    INTEGER PRIMARY KEY,
  scope TEXT NOT NULL CHECK (scope IN ('account', 'address')),
  key   TEXT NOT NULL,
  at    INTEGER NOT NULL
) STRICT;
CREATE INDEX login_failures_key ON login_failures (scope, key, at);
CREATE INDEX login_failures_at ON login_failures (at);
