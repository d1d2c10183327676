import { parse } from 'csv-parse/sync';
import type { Db } from '../../db/open.js';
import type { Clock } from '../../lib/clock.js';
import type { Content } from '../../lib/content.js';
import { toCsv } from '../../lib/csv.js';
import { mayVouch, type Voucher } from './authority.js';
import { issueSignupToken, signupUrl } from './signup.js';
import { createUser, enrol, enrolmentRole, findUserByEmail, findUserById, isEmail, listEnrolled, normaliseEmail, updateUser } from './users.js';

type RosterDeps = { db: Db; clock: Clock; content: Content };

/**
 * Class rosters: CSV with e-mail, name and student id (a header row is optional and, when present,
 * may name the columns in any order). Every problem is reported with its line number, all at
 * once, and nothing is imported until the whole file is clean.
 */
export interface RosterRow {
  line: number;
  email: string;
  name: string;
  studentId: string | null;
}

export interface RosterProblem {
  line: number;
  message: string;
}

export const MAX_ROSTER_BYTES = 1024 * 1024;
export const MAX_ROSTER_ROWS = 10_000;

const HEADER_NAMES: Record<string, 'email' | 'name' | 'studentId' | 'given' | 'family'> = {
  email: 'email',
  'e-mail': 'email',
  mail: 'email',
  'email address': 'email',
  'e-mail address': 'email',
  name: 'name',
  'full name': 'name',
  'student name': 'name',
  'display name': 'name',
  'first name': 'given',
  'given name': 'given',
  firstname: 'given',
  'last name': 'family',
  'family name': 'family',
  lastname: 'family',
  surname: 'family',
  'student id': 'studentId',
  student_id: 'studentId',
  studentid: 'studentId',
  'student number': 'studentId',
  id: 'studentId',
  number: 'studentId',
  'matriculation number': 'studentId',
};

function headerKey(cell: string): string {
  return cell.trim().toLowerCase().replace(/\s+/g, ' ');
}

/** Spreadsheets in many locales export with ";" (or tabs): take what the first line uses. */
function guessDelimiter(text: string): string {
  const first = text.split(/\r?\n/).find((l) => l.trim() !== '') ?? '';
  const count = (ch: string) => first.split(ch).length - 1;
  const candidates = [',', ';', '\t'].map((d) => ({ d, n: count(d) })).sort((a, b) => b.n - a.n);
  return candidates[0]!.n > 0 ? candidates[0]!.d : ',';
}

function csvMessage(code: string, fallback: string): string {
  if (code === 'CSV_QUOTE_NOT_CLOSED') return 'a quoted field is never closed (a " is missing); nothing after it could be read';
  if (code === 'CSV_INVALID_CLOSING_QUOTE') return 'text follows a closing quote; inside a quoted field write a quote as ""';
  return fallback;
}

export function parseRoster(text: string): { rows: RosterRow[]; problems: RosterProblem[] } {
  const problems: RosterProblem[] = [];
  const rows: RosterRow[] = [];
  if (Buffer.byteLength(text) > MAX_ROSTER_BYTES) return { rows, problems: [{ line: 0, message: `The roster is larger than ${MAX_ROSTER_BYTES / 1024} KiB.` }] };
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, {
      bom: true,
      delimiter: guessDelimiter(text),
      relax_column_count: true,
      skip_empty_lines: true,
      trim: true,
      info: true,
      skip_records_with_error: true,
      on_skip: (err) => {
        if (err) problems.push({ line: Number((err as unknown as { lines?: number }).lines ?? 0), message: csvMessage(err.code, err.message) });
        return undefined;
      },
    }) as unknown as Array<{ record: string[]; info: { lines: number } }>;
  } catch (err) {
    const e = err as { lines?: number; message: string };
    return { rows, problems: [{ line: e.lines ?? 0, message: `the file is not valid CSV: ${e.message}` }] };
  }
  records = records.filter((r) => r.record.some((c) => c !== ''));
  if (!records.length) return { rows, problems: problems.length ? problems : [{ line: 0, message: 'The roster is empty.' }] };

  // A header is a first row without an e-mail address that names an e-mail column.
  let columns: Array<'email' | 'name' | 'studentId' | 'given' | 'family' | undefined> = ['email', 'name', 'studentId'];
  let positional = true;
  const first = records[0]!.record;
  if (!first.some((c) => c.includes('@')) && first.some((c) => HEADER_NAMES[headerKey(c)] === 'email')) {
    columns = first.map((c) => HEADER_NAMES[headerKey(c)]);
    positional = false;
    records = records.slice(1);
    const named = new Set(columns);
    if (!named.has('name') && !(named.has('given') || named.has('family'))) {
      problems.push({ line: 1, message: 'The header names no name column (expected "name", or "first name" and "last name").' });
    }
  }
  if (records.length > MAX_ROSTER_ROWS) return { rows, problems: [{ line: 0, message: `The roster has more than ${MAX_ROSTER_ROWS} rows.` }] };

  const seen = new Map<string, number>();
  for (const { record, info } of records) {
    const line = info.lines;
    if (positional && record.length > 3) {
      problems.push({ line, message: `expected 3 columns (e-mail, name, student id), found ${record.length}; put quotes around a name that contains "${guessDelimiter(text)}"` });
      continue;
    }
    const get = (key: 'email' | 'name' | 'studentId' | 'given' | 'family') => {
      const i = columns.indexOf(key);
      return i >= 0 ? (record[i] ?? '').trim() : '';
    };
    const email = normaliseEmail(get('email'));
    const name = (get('name') || [get('given'), get('family')].filter(Boolean).join(' ')).replace(/\s+/g, ' ');
    const studentId = get('studentId');
    const before = problems.length;
    if (!email) problems.push({ line, message: 'the e-mail address is missing' });
    else if (!isEmail(email)) problems.push({ line, message: `"${email}" is not an e-mail address` });
    if (!name) problems.push({ line, message: 'the name is missing' });
    else if (name.length > 200) problems.push({ line, message: 'the name is longer than 200 characters' });
    if (studentId.length > 64) problems.push({ line, message: 'the student id is longer than 64 characters' });
    const earlier = email ? seen.get(email) : undefined;
    if (earlier !== undefined) problems.push({ line, message: `${email} appears twice (also on line ${earlier})` });
    if (email && earlier === undefined) seen.set(email, line);
    if (problems.length === before) rows.push({ line, email, name, studentId: studentId || null });
  }
  problems.sort((a, b) => a.line - b.line);
  return { rows, problems };
}

export interface ImportResult {
  /** Accounts created by this import. */
  created: number;
  /** Existing accounts newly enrolled in the course. */
  enrolled: number;
  /** Already enrolled: left as they were (a name or student id is corrected until they sign up). */
  unchanged: number;
  /** Existing accounts this course may not vouch for (another course's, or staff elsewhere): enrolled, never renamed. */
  foreign: number;
  /** Every user on the roster, in file order. */
  userIds: number[];
}

/**
 * Creates missing users and enrols everyone as a student, in one transaction. An existing account
 * is corrected (name, student id) only when `voucher` may vouch for it (authority.ts); anyone
 * else's account is only enrolled.
 */
export function importRoster(deps: RosterDeps, course: string, rows: RosterRow[], voucher: Voucher): ImportResult {
  const { db, clock } = deps;
  return db.transaction(() => {
    const result: ImportResult = { created: 0, enrolled: 0, unchanged: 0, foreign: 0, userIds: [] };
    for (const row of rows) {
      const existing = findUserByEmail(db, row.email);
      let id: number;
      if (existing) {
        id = existing.id;
        // Until the student has signed up, the roster of the course that owns the account is the source of truth for these fields.
        if (!existing.password_hash && !existing.is_admin) {
          if (mayVouch(deps, voucher, existing, course)) updateUser(db, id, { name: row.name, studentId: row.studentId ?? existing.student_id });
          else result.foreign += 1;
        } else if (row.studentId && !existing.student_id && enrolmentRole(db, id, course) === 'student') {
          // A signed-up member of this course: only a missing student id is filled in.
          updateUser(db, id, { name: existing.name, studentId: row.studentId });
        }
      } else {
        id = createUser(db, { email: row.email, name: row.name, studentId: row.studentId, createdIn: course }, clock);
        result.created += 1;
      }
      if (enrolmentRole(db, id, course)) {
        if (existing) result.unchanged += 1;
      } else {
        enrol(db, { userId: id, course, role: 'student' }, clock);
        if (existing) result.enrolled += 1;
      }
      result.userIds.push(id);
    }
    return result;
  })();
}

export interface SignupLink {
  userId: number;
  email: string;
  name: string;
  studentId: string | null;
  url: string;
  expiresAt: number;
}

/**
 * Fresh sign-up links for the course's students who have no password yet and for whom `issuer`
 * may vouch (authority.ts); `withheld` counts the others. Links from earlier downloads keep
 * working until they expire or one of them is used.
 */
export function issueSignupLinks(
  deps: RosterDeps,
  publicUrl: string,
  course: string,
  opts: { days?: number; userIds?: number[]; issuer: Voucher },
): { links: SignupLink[]; withheld: number } {
  const { db, clock } = deps;
  // With a list of users (an import), links come in the roster's order; otherwise by name.
  const order = opts.userIds ? new Map(opts.userIds.map((id, i) => [id, i])) : null;
  return db.transaction(() => {
    let withheld = 0;
    const waiting = listEnrolled(db, course, 'student').filter((u) => !u.hasPassword && (!order || order.has(u.id)));
    const links = waiting
      .filter((u) => {
        const row = findUserById(db, u.id);
        const ok = !!row && mayVouch(deps, opts.issuer, row, course);
        if (!ok) withheld += 1;
        return ok;
      })
      .sort((a, b) => (order ? order.get(a.id)! - order.get(b.id)! : 0))
      .map((u) => {
        const { token, expiresAt } = issueSignupToken(db, clock, u.id, { course, issuer: opts.issuer, ...(opts.days ? { days: opts.days } : {}) });
        return { userId: u.id, email: u.email, name: u.name, studentId: u.studentId, url: signupUrl(publicUrl, token), expiresAt };
      });
    return { links, withheld };
  })();
}

/** The sign-up links as a spreadsheet: one row per account, the link and when it expires. */
export function signupLinksCsv(links: SignupLink[]): string {
  return toCsv([['email', 'name', 'student_id', 'signup_link', 'expires'], ...links.map((l) => [l.email, l.name, l.studentId, l.url, new Date(l.expiresAt).toISOString()])]);
}
