import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import type { Clock } from '../../lib/clock.js';
import type { Content } from '../../lib/content.js';
import { mayVouch, type Voucher } from './authority.js';
import { isToken, randomToken, sha256 } from './sessions.js';
import { findUserById, type UserRow } from './users.js';

export const SIGNUP_TTL_DAYS = 14;
export const DAY_MS = 24 * 3600_000;

function statements(db: Db) {
  return {
    insert: db.prepare<{ token_hash: string; user_id: number; course: string | null; now: number; expires: number; issued_by: number | null; by_operator: number }>(
      `INSERT INTO signup_tokens (token_hash, user_id, course, created_at, expires_at, issued_by, by_operator)
       VALUES (:token_hash, :user_id, :course, :now, :expires, :issued_by, :by_operator)`,
    ),
    find: db.prepare<{ token_hash: string }, { user_id: number; course: string | null; expires_at: number; used_at: number | null; issued_by: number | null; by_operator: 0 | 1 }>(
      'SELECT user_id, course, expires_at, used_at, issued_by, by_operator FROM signup_tokens WHERE token_hash = :token_hash',
    ),
    useAll: db.prepare<{ user_id: number; now: number }>('UPDATE signup_tokens SET used_at = :now WHERE user_id = :user_id AND used_at IS NULL'),
    prune: db.prepare<{ before: number }>('DELETE FROM signup_tokens WHERE expires_at <= :before'),
    user: db.prepare<{ id: number }, UserRow>('SELECT * FROM users WHERE id = :id'),
  };
}

const sql = preparedFor(statements);

/**
 * Issues a one-time sign-up token for a user; returns the token (only its hash is stored). The
 * caller has checked with mayVouch() that `issuer` may; the issuer is kept so that the check can
 * be made again when the link is used.
 */
export function issueSignupToken(db: Db, clock: Clock, userId: number, opts: { course?: string | null; days?: number; issuer: Voucher }): { token: string; expiresAt: number } {
  const token = randomToken(32);
  const now = clock.now();
  const expiresAt = now + (opts.days ?? SIGNUP_TTL_DAYS) * DAY_MS;
  const operator = opts.issuer === 'operator';
  sql(db).insert.run({
    token_hash: sha256(token),
    user_id: userId,
    course: opts.course ?? null,
    now,
    expires: expiresAt,
    issued_by: opts.issuer === 'operator' ? null : opts.issuer.id,
    by_operator: operator ? 1 : 0,
  });
  return { token, expiresAt };
}

/** `via`: the course that vouched for the account, or null when the operator or an administrator did. */
export type SignupLookup = { ok: true; user: UserRow; via: string | null } | { ok: false; reason: 'unknown' | 'used' | 'expired' | 'withdrawn' };

/**
 * A usable link and its account. Whoever issued it must still be allowed to vouch for the
 * account now (src/plugins/accounts/authority.ts): a staff listing added since, a new password,
 * or the issuer's lost lectureship withdraws the link.
 */
export function lookupSignupToken(deps: { db: Db; clock: Clock; content: Content }, token: string): SignupLookup {
  const { db, clock } = deps;
  if (!isToken(token)) return { ok: false, reason: 'unknown' };
  const row = sql(db).find.get({ token_hash: sha256(token) });
  if (!row) return { ok: false, reason: 'unknown' };
  if (row.used_at !== null) return { ok: false, reason: 'used' };
  if (row.expires_at <= clock.now()) return { ok: false, reason: 'expired' };
  const user = sql(db).user.get({ id: row.user_id });
  if (!user) return { ok: false, reason: 'unknown' };
  let via: string | null = null;
  if (row.by_operator !== 1) {
    const issuer = row.issued_by === null ? undefined : findUserById(db, row.issued_by);
    // A link from before issuers were recorded speaks for its own course's lecturers only.
    const voucher = issuer ? { id: issuer.id, email: issuer.email, name: issuer.name, studentId: issuer.student_id, isAdmin: issuer.is_admin === 1, claimedVia: issuer.claimed_via } : { lectures: (c: string) => c === row.course };
    if (row.issued_by !== null && !issuer) return { ok: false, reason: 'withdrawn' };
    if (row.course === null || !mayVouch(deps, voucher, user, row.course)) return { ok: false, reason: 'withdrawn' };
    if (!issuer?.is_admin) via = row.course;
  }
  return { ok: true, user, via };
}

/** Marks every outstanding link of the user used (they now have a password). */
export function useSignupTokens(db: Db, clock: Clock, userId: number): void {
  sql(db).useAll.run({ user_id: userId, now: clock.now() });
}

export function pruneSignupTokens(db: Db, now: number): number {
  // Kept for a while after expiry, so that a late click says "expired" rather than "not valid".
  return sql(db).prune.run({ before: now - 90 * DAY_MS }).changes;
}

export function signupUrl(publicUrl: string, token: string): string {
  return `${publicUrl}/signup/${token}`;
}
