import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../../db/open.js';
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

interface Row {
  id_hash: string;
  user_id: number;
  csrf_secret: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
}

function statements(db: Db) {
  return {
    insert: db.prepare<{ id_hash: string; user_id: number; csrf: string; now: number; expires: number }>(
      `INSERT INTO sessions (id_hash, user_id, csrf_secret, created_at, last_seen_at, expires_at)
       VALUES (:id_hash, :user_id, :csrf, :now, :now, :expires)`,
    ),
    find: db.prepare<{ id_hash: string; now: number }, Row & { [K in keyof UserRow as `u_${K}`]: UserRow[K] }>(
      `SELECT s.*, u.id AS u_id, u.email AS u_email, u.name AS u_name, u.student_id AS u_student_id,
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

export type SessionStore = ReturnType<typeof createSessionStore>;

/**
 * Server-side sessions. The cookie value is a random 32-byte id; the table keys on its sha256,
 * so neither a database copy nor a log line holding the hash can be replayed as a cookie.
 */
export function createSessionStore(db: Db) {
  const s = statements(db);
  return {
    /** Creates a session and returns the cookie value (shown only here). */
    create(userId: number, now: number): { id: string; record: SessionRecord } {
      const id = randomToken(32);
      const record: SessionRecord = { idHash: sha256(id), userId, csrfSecret: randomToken(32), createdAt: now, lastSeenAt: now, expiresAt: now + SESSION_TTL_MS };
      s.insert.run({ id_hash: record.idHash, user_id: userId, csrf: record.csrfSecret, now, expires: record.expiresAt });
      return { id, record };
    },
    /** The live session for a cookie value, with its user; null when unknown or expired. */
    find(id: string, now: number): { record: SessionRecord; user: UserRow } | null {
      if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
      const row = s.find.get({ id_hash: sha256(id), now });
      if (!row) return null;
      return {
        record: { idHash: row.id_hash, userId: row.user_id, csrfSecret: row.csrf_secret, createdAt: row.created_at, lastSeenAt: row.last_seen_at, expiresAt: row.expires_at },
        user: { id: row.u_id, email: row.u_email, name: row.u_name, student_id: row.u_student_id, password_hash: row.u_password_hash, is_admin: row.u_is_admin, created_at: row.u_created_at, created_in: row.u_created_in, claimed_via: row.u_claimed_via },
      };
    },
    /** Slides the expiry forward; returns true when the row was written (the cookie should be refreshed too). */
    touch(record: SessionRecord, now: number): boolean {
      if (now - record.lastSeenAt < SESSION_TOUCH_MS) return false;
      // Written first: a write that fails (a lock held elsewhere, a full disk) leaves the record as it was.
      s.touch.run({ id_hash: record.idHash, now, expires: now + SESSION_TTL_MS });
      record.lastSeenAt = now;
      record.expiresAt = now + SESSION_TTL_MS;
      return true;
    },
    destroy(idHash: string): void {
      s.remove.run({ id_hash: idHash });
    },
    destroyOthers(userId: number, keepIdHash: string): number {
      return s.removeOthers.run({ user_id: userId, keep: keepIdHash }).changes;
    },
    destroyAll(userId: number): number {
      return s.removeAll.run({ user_id: userId }).changes;
    },
    prune(now: number): number {
      return s.prune.run({ now }).changes;
    },
    countLive(userId: number, now: number): number {
      return s.countFor.get({ user_id: userId, now })?.n ?? 0;
    },
  };
}
