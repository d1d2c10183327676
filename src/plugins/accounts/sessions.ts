import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import type { UserRow } from './users.js';

/** Sliding expiry: a session lives this long after its last use. */
export const SESSION_TTL_MS = 14 * 24 * 3600_000;
/** last_seen/expiry are written at most this often per session (not on every request). */
export const SESSION_TOUCH_MS = 10 * 60_000;

export interface SessionRecord {
  idHash: string;
  userId: number;
  csrfSecret: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
}

export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Whether a text from a cookie or a link can be one of our 32-byte tokens (randomToken()), before any lookup. */
export function isToken(text: string | undefined): text is string {
  return typeof text === 'string' && /^[A-Za-z0-9_-]{43}$/.test(text);
}

type Found = SessionRecord & { [K in keyof UserRow as `u_${K}`]: UserRow[K] };

function statements(db: Db) {
  return {
    insert: db.prepare<{ id_hash: string; user_id: number; csrf: string; now: number; expires: number }>(
      `INSERT INTO sessions (id_hash, user_id, csrf_secret, created_at, last_seen_at, expires_at)
       VALUES (:id_hash, :user_id, :csrf, :now, :now, :expires)`,
    ),
    find: db.prepare<{ id_hash: string; now: number }, Found>(
      `SELECT s.id_hash AS idHash, s.user_id AS userId, s.csrf_secret AS csrfSecret, s.created_at AS createdAt,
              s.last_seen_at AS lastSeenAt, s.expires_at AS expiresAt,
              u.id AS u_id, u.email AS u_email, u.name AS u_name, u.student_id AS u_student_id,
              u.password_hash AS u_password_hash, u.is_admin AS u_is_admin, u.created_at AS u_created_at,
              u.created_in AS u_created_in, u.claimed_via AS u_claimed_via
       FROM sessions s JOIN users u ON u.id = s.user_id
       WHERE s.id_hash = :id_hash AND s.expires_at > :now`,
    ),
    touch: db.prepare<{ id_hash: string; now: number; expires: number }>('UPDATE sessions SET last_seen_at = :now, expires_at = :expires WHERE id_hash = :id_hash'),
    remove: db.prepare<{ id_hash: string }>('DELETE FROM sessions WHERE id_hash = :id_hash'),
    removeOthers: db.prepare<{ user_id: number; keep: string }>('DELETE FROM sessions WHERE user_id = :user_id AND id_hash != :keep'),
    removeAll: db.prepare<{ user_id: number }>('DELETE FROM sessions WHERE user_id = :user_id'),
    prune: db.prepare<{ now: number }>('DELETE FROM sessions WHERE expires_at <= :now'),
    countFor: db.prepare<{ user_id: number; now: number }, { n: number }>('SELECT count(*) AS n FROM sessions WHERE user_id = :user_id AND expires_at > :now'),
  };
}

const sql = preparedFor(statements);

/*
 * Server-side sessions. The cookie value is a random 32-byte id; the table keys on its sha256,
 * so neither a database copy nor a log line holding the hash can be replayed as a cookie.
 */

/** Creates a session and returns the cookie value (shown only here). */
export function createSession(db: Db, userId: number, now: number): { id: string; record: SessionRecord } {
  const id = randomToken(32);
  const record: SessionRecord = { idHash: sha256(id), userId, csrfSecret: randomToken(32), createdAt: now, lastSeenAt: now, expiresAt: now + SESSION_TTL_MS };
  sql(db).insert.run({ id_hash: record.idHash, user_id: userId, csrf: record.csrfSecret, now, expires: record.expiresAt });
  return { id, record };
}

/** The live session for a cookie value, with its user; null when unknown or expired. */
export function findSession(db: Db, id: string, now: number): { record: SessionRecord; user: UserRow } | null {
  if (!isToken(id)) return null;
  const row = sql(db).find.get({ id_hash: sha256(id), now });
  if (!row) return null;
  const { idHash, userId, csrfSecret, createdAt, lastSeenAt, expiresAt } = row;
  return {
    record: { idHash, userId, csrfSecret, createdAt, lastSeenAt, expiresAt },
    user: { id: row.u_id, email: row.u_email, name: row.u_name, student_id: row.u_student_id, password_hash: row.u_password_hash, is_admin: row.u_is_admin, created_at: row.u_created_at, created_in: row.u_created_in, claimed_via: row.u_claimed_via },
  };
}

/** Slides the expiry forward; returns true when the row was written (the cookie should be refreshed too). */
export function touchSession(db: Db, record: SessionRecord, now: number): boolean {
  if (now - record.lastSeenAt < SESSION_TOUCH_MS) return false;
  // Written first: a write that fails (a lock held elsewhere, a full disk) leaves the record as it was.
  sql(db).touch.run({ id_hash: record.idHash, now, expires: now + SESSION_TTL_MS });
  record.lastSeenAt = now;
  record.expiresAt = now + SESSION_TTL_MS;
  return true;
}

export function destroySession(db: Db, idHash: string): void {
  sql(db).remove.run({ id_hash: idHash });
}

export function destroyOtherSessions(db: Db, userId: number, keepIdHash: string): number {
  return sql(db).removeOthers.run({ user_id: userId, keep: keepIdHash }).changes;
}

/** Signs the user out everywhere; returns how many sessions ended. */
export function destroyAllSessions(db: Db, userId: number): number {
  return sql(db).removeAll.run({ user_id: userId }).changes;
}

export function pruneSessions(db: Db, now: number): number {
  return sql(db).prune.run({ now }).changes;
}

export function countLiveSessions(db: Db, userId: number, now: number): number {
  return sql(db).countFor.get({ user_id: userId, now })?.n ?? 0;
}
