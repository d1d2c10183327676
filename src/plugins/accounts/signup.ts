import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import type { Clock } from '../../lib/clock.js';
import { randomToken, sha256 } from './sessions.js';
import type { UserRow } from './users.js';

export const SIGNUP_TTL_DAYS = 14;
export const DAY_MS = 24 * 3600_000;

function statements(db: Db) {
  return {
    insert: db.prepare<{ token_hash: string; user_id: number; course: string | null; now: number; expires: number }>(
      'INSERT INTO signup_tokens (token_hash, user_id, course, created_at, expires_at) VALUES (:token_hash, :user_id, :course, :now, :expires)',
    ),
    find: db.prepare<{ token_hash: string }, { user_id: number; expires_at: number; used_at: number | null }>(
      'SELECT user_id, expires_at, used_at FROM signup_tokens WHERE token_hash = :token_hash',
    ),
    useAll: db.prepare<{ user_id: number; now: number }>('UPDATE signup_tokens SET used_at = :now WHERE user_id = :user_id AND used_at IS NULL'),
    prune: db.prepare<{ before: number }>('DELETE FROM signup_tokens WHERE expires_at <= :before'),
    user: db.prepare<{ id: number }, UserRow>('SELECT * FROM users WHERE id = :id'),
  };
}

const sql = preparedFor(statements);

/** Issues a one-time sign-up token for a user; returns the token (only its hash is stored). */
export function issueSignupToken(db: Db, clock: Clock, userId: number, opts: { course?: string | null; days?: number } = {}): { token: string; expiresAt: number } {
  const token = randomToken(32);
  const now = clock.now();
  const expiresAt = now + (opts.days ?? SIGNUP_TTL_DAYS) * DAY_MS;
  sql(db).insert.run({ token_hash: sha256(token), user_id: userId, course: opts.course ?? null, now, expires: expiresAt });
  return { token, expiresAt };
}

export type SignupLookup = { ok: true; user: UserRow } | { ok: false; reason: 'unknown' | 'used' | 'expired' };

export function lookupSignupToken(db: Db, clock: Clock, token: string): SignupLookup {
  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return { ok: false, reason: 'unknown' };
  const row = sql(db).find.get({ token_hash: sha256(token) });
  if (!row) return { ok: false, reason: 'unknown' };
  if (row.used_at !== null) return { ok: false, reason: 'used' };
  if (row.expires_at <= clock.now()) return { ok: false, reason: 'expired' };
  const user = sql(db).user.get({ id: row.user_id });
  if (!user) return { ok: false, reason: 'unknown' };
  return { ok: true, user };
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
