import { UserError } from '../../lib/errors.js';

/**
 * The gradebook's rows: search, filter, sort and one page of them, all from the query string so
 * that every view is a link (works without JavaScript, survives a reload, can be shared).
 */

export const STATUSES = {
  missing: 'missing (no submission)',
  late: 'late (penalty on the counted submission)',
  'needs-grading': 'needs grading by staff',
  waiting: 'waiting for tests',
  extension: 'has an extension',
} as const;
export type StatusFilter = keyof typeof STATUSES;

export const PAGE_SIZES = [25, 50, 100, 200] as const;

export interface BookQuery {
  /** Search in name, e-mail and student id. */
  q: string;
  /** Search in team names. */
  team: string;
  status: StatusFilter | '';
  /** Restrict the status filter to one assignment; '' is any. */
  in: string;
  /** name | email | id | total | <assignment slug> */
  sort: string;
  dir: 'asc' | 'desc';
  page: number;
  per: number;
}

export interface BookCell {
  slug: string;
  final: number | null;
  /** The counted score as a fraction of the assignment's maximum (sorting); null: nothing counted. */
  fraction: number | null;
  missing: boolean;
  late: boolean;
  needsGrading: boolean;
  waiting: boolean;
  extension: boolean;
  team: string | null;
}

export interface BookRow {
  id: number;
  name: string;
  email: string;
  studentId: string | null;
  cells: BookCell[];
  total: number | null;
}

function one(v: unknown): string {
  return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : '';
}

/** Reads the query string; anything a person could have typed wrong is a 400 naming the field. */
export function parseBookQuery(query: Record<string, unknown>, slugs: string[]): BookQuery {
  const q = one(query.q).trim().slice(0, 200);
  const team = one(query.team).trim().slice(0, 200);
  const status = one(query.status);
  if (status && !(status in STATUSES)) throw new UserError(400, `status: choose one of ${Object.keys(STATUSES).join(', ')}.`);
  const inSlug = one(query.in);
  if (inSlug && !slugs.includes(inSlug)) throw new UserError(400, `in: there is no assignment "${inSlug.slice(0, 60)}" in this course.`);
  const sort = one(query.sort) || 'name';
  if (!['name', 'email', 'id', 'total', ...slugs].includes(sort)) throw new UserError(400, 'sort: choose name, email, id, total or an assignment id.');
  const dirText = one(query.dir) || (sort === 'total' || slugs.includes(sort) ? 'desc' : 'asc');
  if (dirText !== 'asc' && dirText !== 'desc') throw new UserError(400, 'dir: choose asc or desc.');
  const perText = one(query.per) || '50';
  const per = Number(perText);
  if (!(PAGE_SIZES as readonly number[]).includes(per)) throw new UserError(400, `per: choose ${PAGE_SIZES.join(', ')} rows per page.`);
  const pageText = one(query.page) || '1';
  if (!/^\d{1,6}$/.test(pageText) || Number(pageText) < 1) throw new UserError(400, 'page: give a page number (1 or more).');
  return { q, team, status: status as StatusFilter | '', in: inSlug, sort, dir: dirText, page: Number(pageText), per };
}

function matchesStatus(row: BookRow, status: StatusFilter, only: string): boolean {
  const cells = only ? row.cells.filter((c) => c.slug === only) : row.cells;
  switch (status) {
    case 'missing':
      return cells.some((c) => c.missing);
    case 'late':
      return cells.some((c) => c.late);
    case 'needs-grading':
      return cells.some((c) => c.needsGrading);
    case 'waiting':
      return cells.some((c) => c.waiting);
    case 'extension':
      return cells.some((c) => c.extension);
  }
}

const collator = new Intl.Collator('en', { sensitivity: 'base', numeric: true });

function compareNullable(a: number | null, b: number | null, dir: 1 | -1): number {
  // Nothing to compare sorts last whichever the direction.
  if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
  return (a - b) * dir;
}

export interface BookPage {
  rows: BookRow[];
  /** Rows after filtering, before paging. */
  matching: number;
  page: number;
  pages: number;
}

export function selectRows(all: BookRow[], query: BookQuery): BookPage {
  const needle = query.q.toLowerCase();
  const teamNeedle = query.team.toLowerCase();
  let rows = all.filter(
    (r) =>
      (!needle || r.name.toLowerCase().includes(needle) || r.email.toLowerCase().includes(needle) || (r.studentId ?? '').toLowerCase().includes(needle)) &&
      (!teamNeedle || r.cells.some((c) => c.team !== null && c.team.toLowerCase().includes(teamNeedle))) &&
      (!query.status || matchesStatus(r, query.status, query.in)),
  );
  const dir = query.dir === 'asc' ? 1 : -1;
  const byName = (a: BookRow, b: BookRow) => collator.compare(a.name, b.name) || a.id - b.id;
  let compare: (a: BookRow, b: BookRow) => number;
  if (query.sort === 'name') compare = (a, b) => byName(a, b) * dir;
  else if (query.sort === 'email') compare = (a, b) => (collator.compare(a.email, b.email) || a.id - b.id) * dir;
  else if (query.sort === 'id') compare = (a, b) => (a.studentId === null || b.studentId === null ? (a.studentId === b.studentId ? 0 : a.studentId === null ? 1 : -1) : collator.compare(a.studentId, b.studentId) * dir) || byName(a, b);
  else if (query.sort === 'total') compare = (a, b) => compareNullable(a.total, b.total, dir) || byName(a, b);
  else {
    const j = all[0]?.cells.findIndex((c) => c.slug === query.sort) ?? -1;
    compare = (a, b) => compareNullable(a.cells[j]?.fraction ?? null, b.cells[j]?.fraction ?? null, dir) || byName(a, b);
  }
  rows = [...rows].sort(compare);
  const pages = Math.max(1, Math.ceil(rows.length / query.per));
  const page = Math.min(query.page, pages);
  return { rows: rows.slice((page - 1) * query.per, page * query.per), matching: rows.length, page, pages };
}

/** The query string of a view, with some fields changed; defaults are left out to keep links short. */
export function bookHref(base: string, query: BookQuery, change: Partial<BookQuery> = {}): string {
  const q = { ...query, ...change };
  const params = new URLSearchParams();
  if (q.q) params.set('q', q.q);
  if (q.team) params.set('team', q.team);
  if (q.status) params.set('status', q.status);
  if (q.in) params.set('in', q.in);
  if (q.sort !== 'name') params.set('sort', q.sort);
  params.set('dir', q.dir);
  if (q.per !== 50) params.set('per', String(q.per));
  if (q.page !== 1) params.set('page', String(q.page));
  const text = params.toString();
  return text ? `${base}?${text}` : base;
}
