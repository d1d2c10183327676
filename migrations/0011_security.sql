-- Who may hand out an account's credentials, and through which course they were set.
--
-- created_in: the course whose roster import created the account (NULL: the operator, an
-- administrator or a test made it). Only that course's lecturers may issue its sign-up links or
-- correct its name while it has no password; another course importing the same address only
-- enrols it.
ALTER TABLE users ADD COLUMN created_in TEXT;
-- claimed_via: the course whose sign-up link set the password (NULL: set by the operator or an
-- administrator, or before this column existed). A staff listing by e-mail in another course's
-- course.yaml does not apply to such an account: whoever held that link proved nothing about the
-- address. The operator's `lectern user reset-password` lifts the mark.
ALTER TABLE users ADD COLUMN claimed_via TEXT;
-- The lecturer who issued a sign-up link (NULL: the operator's CLI, or issued before this column).
-- Checked again when the link is used, so a link outlives neither its issuer's authority nor a
-- staff listing added since.
ALTER TABLE signup_tokens ADD COLUMN issued_by INTEGER REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE signup_tokens ADD COLUMN by_operator INTEGER NOT NULL DEFAULT 0 CHECK (by_operator IN (0, 1));
CREATE INDEX IF NOT EXISTS signup_tokens_issued_by ON signup_tokens (issued_by);

-- Accounts still waiting for their first password belong to the course that enrolled them first.
UPDATE users SET created_in = (
  SELECT e.course FROM enrolments e WHERE e.user_id = users.id ORDER BY e.created_at, e.id LIMIT 1
) WHERE password_hash IS NULL AND is_admin = 0;

-- A sign-in attempt is counted before its password is checked, in the same transaction as the
-- check of the limit, so that parallel attempts cannot all slip under it. Until the check is done
-- the row is pending (settled = 0); a success removes its own row and the failures settled before
-- it, never an attempt still in flight beside it.
ALTER TABLE login_failures ADD COLUMN settled INTEGER NOT NULL DEFAULT 1 CHECK (settled IN (0, 1));
