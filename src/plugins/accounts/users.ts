import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import type { CurrentUser, Role } from '../../lib/auth.js';
import type { Clock } from '../../lib/clock.js';
import { hashPasswordSync } from './password.js';

/**
 * Users and enrolments: plain functions over the database, used by the accounts routes, the CLI,
 * other plugins and tests. Statements are prepared once per database connection.
 */
export interface UserRow {
  id: number;
  email: string;
  name: string;
  student_id: string | null;
  password_hash: string | null;
  is_admin: 0 | 1;
  created_at: number;
  /** The course whose roster import created the account (src/plugins/accounts/authority.ts). */
  created_in: string | null;
  /** The course whose sign-up link set the password. */
  claimed_via: string | null;
  /** Wants "your result is in" mail (src/plugins/mail/notify.ts). */
  mail_results?: 0 | 1;
}

/** A person as grade lists show them: who, and their student number. */
export interface Student {
  id: number;
  email: string;
  name: string;
  studentId: string | null;
}

export interface NewUser {
  email: string;
  name: string;
  studentId?: string | null;
  password?: string;
  /** An already computed hash (from hashPassword), for callers that hashed asynchronously. */
  passwordHash?: string;
  isAdmin?: boolean;
  /** Set by a roster import: the course that owns the account until it has a password. */
  createdIn?: string | null;
}

export interface EnrolledUser {
  id: number;
  email: string;
  name: string;
  studentId: string | null;
  role: Role;
  hasPassword: boolean;
  enrolledAt: number;
}

function statements(db: Db) {
  return {
    insert: db.prepare<{ email: string; name: string; student_id: string | null; password_hash: string | null; is_admin: number; now: number; created_in: string | null }>(
      `INSERT INTO users (email, name, student_id, password_hash, is_admin, created_at, created_in)
       VALUES (:email, :name, :student_id, :password_hash, :is_admin, :now, :created_in)`,
    ),
    byEmail: db.prepare<{ email: string }, UserRow>('SELECT * FROM users WHERE email = :email'),
    byId: db.prepare<{ id: number }, UserRow>('SELECT * FROM users WHERE id = :id'),
    count: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM users'),
    setPassword: db.prepare<{ id: number; hash: string | null; via: string | null }>('UPDATE users SET password_hash = :hash, claimed_via = :via WHERE id = :id'),
    keepPassword: db.prepare<{ id: number; hash: string | null }>('UPDATE users SET password_hash = :hash WHERE id = :id'),
    update: db.prepare<{ id: number; name: string; student_id: string | null }>('UPDATE users SET name = :name, student_id = :student_id WHERE id = :id'),
    setMailResults: db.prepare<{ id: number; on: number }>('UPDATE users SET mail_results = :on WHERE id = :id'),
    wantResults: db.prepare<{ ids: string }, { id: number; email: string; name: string }>(
      'SELECT id, email, name FROM users WHERE mail_results = 1 AND id IN (SELECT value FROM json_each(:ids)) ORDER BY id',
    ),
    setAdmin: db.prepare<{ id: number; admin: number }>('UPDATE users SET is_admin = :admin WHERE id = :id'),
    enrol: db.prepare<{ user_id: number; course: string; role: Role; now: number | null }>(
      `INSERT INTO enrolments (user_id, course, role, created_at)
       VALUES (:user_id, :course, :role, coalesce(:now, CAST(unixepoch('subsec') * 1000 AS INTEGER)))
       ON CONFLICT (user_id, course) DO UPDATE SET role = excluded.role`,
    ),
    unenrol: db.prepare<{ user_id: number; course: string }>('DELETE FROM enrolments WHERE user_id = :user_id AND course = :course'),
    enrolment: db.prepare<{ user_id: number; course: string }, { role: Role }>('SELECT role FROM enrolments WHERE user_id = :user_id AND course = :course'),
    enrolmentsOf: db.prepare<{ user_id: number }, { course: string; role: Role }>('SELECT course, role FROM enrolments WHERE user_id = :user_id ORDER BY course'),
    listAll: db.prepare<{ course: string }, EnrolledRow>(
      `SELECT u.id, u.email, u.name, u.student_id, u.password_hash IS NOT NULL AS has_password, e.role, e.created_at
       FROM enrolments e JOIN users u ON u.id = e.user_id WHERE e.course = :course ORDER BY u.name COLLATE NOCASE, u.email`,
    ),
    listRole: db.prepare<{ course: string; role: Role }, EnrolledRow>(
      `SELECT u.id, u.email, u.name, u.student_id, u.password_hash IS NOT NULL AS has_password, e.role, e.created_at
       FROM enrolments e JOIN users u ON u.id = e.user_id WHERE e.course = :course AND e.role = :role ORDER BY u.name COLLATE NOCASE, u.email`,
    ),
  };
}

interface EnrolledRow {
  id: number;
  email: string;
  name: string;
  student_id: string | null;
  has_password: 0 | 1;
  role: Role;
  created_at: number;
}

const sql = preparedFor(statements);

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** A deliberately loose check: one @, something on both sides, a dot in the domain (or "localhost"), no spaces. */
export function isEmail(email: string): boolean {
  return email.length <= 254 && /^[^\s@<>"]+@(?:localhost|(?:[^\s@<>".]+\.)+[^\s@<>".]+)$/.test(email);
}

export function toCurrentUser(row: UserRow): CurrentUser {
  return { id: row.id, email: row.email, name: row.name, studentId: row.student_id, isAdmin: row.is_admin === 1, claimedVia: row.claimed_via ?? null };
}

/**
 * Creates a user and returns its id. A `password` is hashed synchronously (scrypt blocks for a
 * moment): fine for the CLI and tests; request handlers hash with hashPassword() and pass `passwordHash`.
 * Throws when the e-mail address is already taken.
 */
export function createUser(db: Db, user: NewUser, clock: Clock): number {
  const email = normaliseEmail(user.email);
  if (!isEmail(email)) throw new Error(`Not an e-mail address: "${user.email}"`);
  const name = user.name.trim();
  if (!name) throw new Error('A user needs a name.');
  const hash = user.passwordHash ?? (user.password !== undefined ? hashPasswordSync(user.password) : null);
  const info = sql(db).insert.run({ email, name, student_id: user.studentId?.trim() || null, password_hash: hash, is_admin: user.isAdmin ? 1 : 0, now: clock.now(), created_in: user.createdIn ?? null });
  return Number(info.lastInsertRowid);
}

export function findUserByEmail(db: Db, email: string): UserRow | undefined {
  return sql(db).byEmail.get({ email: normaliseEmail(email) });
}

export function findUserById(db: Db, id: number): UserRow | undefined {
  return sql(db).byId.get({ id });
}

export function countUsers(db: Db): number {
  return sql(db).count.get()?.n ?? 0;
}

/** A new password (or hash) by the account's owner or for stronger parameters: who set it first does not change. */
export function setPasswordHash(db: Db, userId: number, hash: string | null): void {
  sql(db).keepPassword.run({ id: userId, hash });
}

/**
 * Credentials set by someone vouching for the account: `via` is the course whose sign-up link was
 * used; null means the operator (or an administrator), which also lifts an earlier link's mark.
 */
export function setCredentials(db: Db, userId: number, hash: string, via: string | null): void {
  sql(db).setPassword.run({ id: userId, hash, via });
}

export function updateUser(db: Db, userId: number, fields: { name: string; studentId: string | null }): void {
  sql(db).update.run({ id: userId, name: fields.name.trim(), student_id: fields.studentId?.trim() || null });
}

export function setMailResults(db: Db, userId: number, on: boolean): void {
  sql(db).setMailResults.run({ id: userId, on: on ? 1 : 0 });
}

/** Of `userIds`, those who asked for "your result is in" mail. */
export function usersWantingResultMail(db: Db, userIds: number[]): Array<{ id: number; email: string; name: string }> {
  return userIds.length ? sql(db).wantResults.all({ ids: JSON.stringify(userIds) }) : [];
}

export function setAdmin(db: Db, userId: number, admin: boolean): void {
  sql(db).setAdmin.run({ id: userId, admin: admin ? 1 : 0 });
}

/** Enrols (or changes the role of) a user in a course. Without a clock, SQLite stamps the time. */
export function enrol(db: Db, e: { userId: number; course: string; role: Role }, clock?: Clock): void {
  sql(db).enrol.run({ user_id: e.userId, course: e.course, role: e.role, now: clock ? clock.now() : null });
}

export function unenrol(db: Db, e: { userId: number; course: string }): boolean {
  return sql(db).unenrol.run({ user_id: e.userId, course: e.course }).changes > 0;
}

export function enrolmentRole(db: Db, userId: number, course: string): Role | null {
  return sql(db).enrolment.get({ user_id: userId, course })?.role ?? null;
}

export function enrolmentsOf(db: Db, userId: number): Array<{ course: string; role: Role }> {
  return sql(db).enrolmentsOf.all({ user_id: userId });
}

/** The users enrolled in a course (optionally only one role), by name. */
export function listEnrolled(db: Db, course: string, role?: Role): EnrolledUser[] {
  const rows = role ? sql(db).listRole.all({ course, role }) : sql(db).listAll.all({ course });
  return rows.map((r) => ({ id: r.id, email: r.email, name: r.name, studentId: r.student_id, role: r.role, hasPassword: r.has_password === 1, enrolledAt: r.created_at }));
}
