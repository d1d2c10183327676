import { randomBytes } from 'node:crypto';
import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';

/** The outbox table: rows written by requests, sent by the drainer (drain.ts). */
export type MailStatus = 'queued' | 'sending' | 'sent' | 'failed';

export interface OutboxRow {
  id: number;
  kind: string;
  course: string | null;
  user_id: number | null;
  recipient: string;
  subject: string;
  body: string;
  message_id: string;
  status: MailStatus;
  attempts: number;
  next_attempt_at: number;
  lease_until: number | null;
  last_error: string | null;
  created_at: number;
  sent_at: number | null;
}

export interface NewMail {
  kind: string;
  course: string | null;
  userId: number | null;
  to: string;
  subject: string;
  body: string;
}

function statements(db: Db) {
  return {
    insert: db.prepare<{ kind: string; course: string | null; user_id: number | null; recipient: string; subject: string; body: string; message_id: string; now: number }>(
      `INSERT INTO mail_outbox (kind, course, user_id, recipient, subject, body, message_id, next_attempt_at, created_at)
       VALUES (:kind, :course, :user_id, :recipient, :subject, :body, :message_id, :now, :now)`,
    ),
    // A 'sending' row whose lease ran out belongs to a process that died mid-send: it is due again.
    claim: db.prepare<{ now: number; lease: number }, OutboxRow>(
      `UPDATE mail_outbox SET status = 'sending', attempts = attempts + 1, lease_until = :lease
       WHERE id = (SELECT id FROM mail_outbox
                   WHERE status IN ('queued', 'sending') AND next_attempt_at <= :now AND (lease_until IS NULL OR lease_until <= :now)
                   ORDER BY next_attempt_at, id LIMIT 1)
       RETURNING *`,
    ),
    sent: db.prepare<{ id: number; now: number }>(`UPDATE mail_outbox SET status = 'sent', sent_at = :now, body = '', lease_until = NULL, last_error = NULL WHERE id = :id`),
    retry: db.prepare<{ id: number; at: number; error: string }>(`UPDATE mail_outbox SET status = 'queued', next_attempt_at = :at, lease_until = NULL, last_error = :error WHERE id = :id`),
    failed: db.prepare<{ id: number; error: string }>(`UPDATE mail_outbox SET status = 'failed', body = '', lease_until = NULL, last_error = :error WHERE id = :id`),
    ofCourse: db.prepare<{ course: string; limit: number }, OutboxRow>('SELECT * FROM mail_outbox WHERE course = :course ORDER BY id DESC LIMIT :limit'),
    all: db.prepare<{ limit: number }, OutboxRow>('SELECT * FROM mail_outbox ORDER BY id DESC LIMIT :limit'),
    countsOfCourse: db.prepare<{ course: string }, { status: MailStatus; n: number }>('SELECT status, count(*) AS n FROM mail_outbox WHERE course = :course GROUP BY status'),
    watermark: db.prepare<{ name: string }, { value: number }>('SELECT value FROM mail_watermarks WHERE name = :name'),
    setWatermark: db.prepare<{ name: string; value: number }>('INSERT INTO mail_watermarks (name, value) VALUES (:name, :value) ON CONFLICT (name) DO UPDATE SET value = excluded.value'),
    countsAll: db.prepare<[], { status: MailStatus; n: number }>('SELECT status, count(*) AS n FROM mail_outbox GROUP BY status'),
  };
}

const sql = preparedFor(statements);

/** Adds a message to the outbox; call inside the transaction that makes what the message tells. */
export function enqueueMail(db: Db, now: number, mail: NewMail, domain: string): number {
  const messageId = `<${now.toString(36)}.${randomBytes(9).toString('base64url')}@${domain}>`;
  const info = sql(db).insert.run({ kind: mail.kind, course: mail.course, user_id: mail.userId, recipient: mail.to, subject: mail.subject, body: mail.body, message_id: messageId, now });
  return Number(info.lastInsertRowid);
}

/** Takes the next due message for one send, leased for `leaseMs` (attempts counted now, so a crash mid-send counts too). */
export function claimMail(db: Db, now: number, leaseMs: number): OutboxRow | undefined {
  return sql(db).claim.all({ now, lease: now + leaseMs })[0];
}

export function markSent(db: Db, id: number, now: number): void {
  sql(db).sent.run({ id, now });
}

export function markRetry(db: Db, id: number, at: number, error: string): void {
  sql(db).retry.run({ id, at, error: error.slice(0, 500) });
}

export function markFailed(db: Db, id: number, error: string): void {
  sql(db).failed.run({ id, error: error.slice(0, 500) });
}

export function listOutbox(db: Db, course: string | null, limit = 200): OutboxRow[] {
  return course === null ? sql(db).all.all({ limit }) : sql(db).ofCourse.all({ course, limit });
}

export function outboxCounts(db: Db, course: string | null): Record<MailStatus, number> {
  const counts: Record<MailStatus, number> = { queued: 0, sending: 0, sent: 0, failed: 0 };
  for (const r of course === null ? sql(db).countsAll.all() : sql(db).countsOfCourse.all({ course })) counts[r.status] = r.n;
  return counts;
}

export function getWatermark(db: Db, name: string): number | null {
  return sql(db).watermark.get({ name })?.value ?? null;
}

export function setWatermark(db: Db, name: string, value: number): void {
  sql(db).setWatermark.run({ name, value });
}
