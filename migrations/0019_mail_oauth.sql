-- Outgoing mail (src/plugins/mail). A request only writes a row (in its own transaction), so
-- mail never blocks or fails it; the primary process sends due rows in the background, retrying
-- with back-off, and the row survives restarts. The body (which may hold a one-time link) is
-- cleared once the message is sent or given up: the outbox keeps who, what and when.
CREATE TABLE mail_outbox (
  id              INTEGER PRIMARY KEY,
  kind            TEXT NOT NULL,
  course          TEXT,
  user_id         INTEGER REFERENCES users (id) ON DELETE SET NULL,
  recipient       TEXT NOT NULL,
  subject         TEXT NOT NULL,
  body            TEXT NOT NULL,
  message_id      TEXT NOT NULL UNIQUE,
  status          TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  lease_until     INTEGER,
  last_error      TEXT,
  created_at      INTEGER NOT NULL,
  sent_at         INTEGER
) STRICT;
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE status IN ('queued', 'sending');
CREATE INDEX mail_outbox_course ON mail_outbox (course, id);
CREATE INDEX mail_outbox_user ON mail_outbox (user_id);

-- Self-service password reset by e-mail: one-time, short-lived; only the token's hash is kept.
CREATE TABLE password_resets (
  token_hash TEXT PRIMARY KEY,
  user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER
) STRICT;
CREATE INDEX password_resets_user ON password_resets (user_id, created_at);
CREATE INDEX password_resets_expires ON password_resets (expires_at);

-- "Forgot password" requests per client address, counted whether or not the address typed has
-- an account (so the limit tells nothing about who has one).
CREATE TABLE password_reset_requests (
  id      INTEGER PRIMARY KEY,
  address TEXT NOT NULL,
  at      INTEGER NOT NULL
) STRICT;
CREATE INDEX password_reset_requests_address ON password_reset_requests (address, at);

-- Plain OAuth 2.0 sign-in (src/plugins/accounts/oauth.ts) shares the identity and sign-in tables
-- with OpenID Connect (one list of provider ids). How an identity was linked decides what it may
-- later open: 'email' (the provider vouched for an address; enough for a student account only) or
-- 'account' (connected by its owner while signed in). NULL: linked by OpenID Connect before this.
ALTER TABLE oidc_identities ADD COLUMN linked_by TEXT CHECK (linked_by IN ('email', 'account'));
-- A sign-in started from the account page to connect a provider to the signed-in user.
ALTER TABLE oidc_transactions ADD COLUMN link_user_id INTEGER;

-- "Your result is in": off unless the student turns it on (account page).
ALTER TABLE users ADD COLUMN mail_results INTEGER NOT NULL DEFAULT 0;
-- How far the mail plugin has looked at results (the highest result id already considered).
CREATE TABLE mail_watermarks (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT;
