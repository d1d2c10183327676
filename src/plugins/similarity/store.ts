import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import type { PairOut } from './types.js';

/** One student or team: the submission of theirs that was compared. */
export interface Subject {
  key: string;
  submissionId: number;
  number: number;
  label: string;
  teamId: number | null;
  members: Array<{ id: number; name: string; email: string }>;
}

export interface StoredReport {
  subjects: Subject[];
  pairs: PairOut[];
  /** Groups of more than two subjects joined by pairs at or above clusterAt. */
  clusters: string[][];
  clusterAt: number;
  language: string;
  extension: string;
  totalPairs: number;
  warnings: string[];
  starterExcluded: boolean;
  durationMs: number;
  maxRssKb: number;
}

export type ReportState = 'queued' | 'running' | 'done' | 'failed';

export interface ReportRow {
  id: number;
  assignmentId: number;
  state: ReportState;
  progress: number;
  stage: string;
  maxShare: number;
  createdBy: string;
  createdAt: number;
  finishedAt: number | null;
  error: string | null;
}

export interface EvidenceRun {
  /** Whose code ran, on whose parameters. */
  code: number;
  paramsOf: number;
  status: string;
  score: number | null;
  maxScore: number | null;
  gradable: boolean;
}

export interface Evidence {
  id: number;
  reportId: number;
  leftSub: number;
  rightSub: number;
  state: 'queued' | 'running' | 'done' | 'failed';
  runs: EvidenceRun[];
  flagged: boolean;
  summary: string;
  createdBy: string;
  createdAt: number;
}

interface Row {
  id: number;
  assignment_id: number;
  state: ReportState;
  progress: number;
  stage: string;
  max_share: number;
  created_by: string;
  created_at: number;
  finished_at: number | null;
  error: string | null;
}

interface EvidenceRow {
  id: number;
  report_id: number;
  left_sub: number;
  right_sub: number;
  state: Evidence['state'];
  runs: string;
  flagged: number;
  summary: string;
  created_by: string;
  created_at: number;
}

function statements(db: Db) {
  return {
    insert: db.prepare<{ assignmentId: number; maxShare: number; by: string; now: number }>(
      `INSERT INTO similarity_reports (assignment_id, state, progress, stage, max_share, created_by, created_at)
       VALUES (:assignmentId, 'queued', 0, 'waiting', :maxShare, :by, :now)`,
    ),
    byId: db.prepare<[number], Row>('SELECT id, assignment_id, state, progress, stage, max_share, created_by, created_at, finished_at, error FROM similarity_reports WHERE id = ?'),
    latest: db.prepare<[number], Row>(
      'SELECT id, assignment_id, state, progress, stage, max_share, created_by, created_at, finished_at, error FROM similarity_reports WHERE assignment_id = ? ORDER BY id DESC LIMIT 1',
    ),
    report: db.prepare<[number], { report: string | null }>('SELECT report FROM similarity_reports WHERE id = ?'),
    progress: db.prepare<{ id: number; progress: number; stage: string }>(
      `UPDATE similarity_reports SET state = 'running', progress = :progress, stage = :stage WHERE id = :id AND state IN ('queued', 'running')`,
    ),
    finish: db.prepare<{ id: number; now: number; report: string }>(
      `UPDATE similarity_reports SET state = 'done', progress = 1, stage = 'done', finished_at = :now, report = :report WHERE id = :id`,
    ),
    fail: db.prepare<{ id: number; now: number; error: string }>(
      `UPDATE similarity_reports SET state = 'failed', finished_at = :now, error = :error WHERE id = :id AND state IN ('queued', 'running')`,
    ),
    unfinished: db.prepare<[], { id: number }>(`SELECT id FROM similarity_reports WHERE state IN ('queued', 'running')`),
    insertEvidence: db.prepare<{ reportId: number; left: number; right: number; by: string; now: number }>(
      `INSERT INTO similarity_evidence (report_id, left_sub, right_sub, state, created_by, created_at)
       VALUES (:reportId, :left, :right, 'queued', :by, :now)
       ON CONFLICT (report_id, left_sub, right_sub) DO UPDATE SET state = 'queued', runs = '[]', flagged = 0, summary = '', created_by = excluded.created_by, created_at = excluded.created_at`,
    ),
    evidence: db.prepare<{ reportId: number; left: number; right: number }, EvidenceRow>(
      'SELECT * FROM similarity_evidence WHERE report_id = :reportId AND left_sub = :left AND right_sub = :right',
    ),
    evidenceOfReport: db.prepare<[number], EvidenceRow>('SELECT * FROM similarity_evidence WHERE report_id = ?'),
    setEvidence: db.prepare<{ id: number; state: string; runs: string; flagged: number; summary: string }>(
      'UPDATE similarity_evidence SET state = :state, runs = :runs, flagged = :flagged, summary = :summary WHERE id = :id',
    ),
    unfinishedEvidence: db.prepare<[], { id: number }>(`SELECT id FROM similarity_evidence WHERE state IN ('queued', 'running')`),
    failEvidence: db.prepare<{ id: number; summary: string }>(`UPDATE similarity_evidence SET state = 'failed', summary = :summary WHERE id = :id`),
  };
}

const sql = preparedFor(statements);

function toRow(r: Row): ReportRow {
  return {
    id: r.id,
    assignmentId: r.assignment_id,
    state: r.state,
    progress: r.progress,
    stage: r.stage,
    maxShare: r.max_share,
    createdBy: r.created_by,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
    error: r.error,
  };
}

function toEvidence(r: EvidenceRow): Evidence {
  return {
    id: r.id,
    reportId: r.report_id,
    leftSub: r.left_sub,
    rightSub: r.right_sub,
    state: r.state,
    runs: JSON.parse(r.runs) as EvidenceRun[],
    flagged: r.flagged === 1,
    summary: r.summary,
    createdBy: r.created_by,
    createdAt: r.created_at,
  };
}

export function insertReport(db: Db, r: { assignmentId: number; maxShare: number; by: string; now: number }): number {
  return Number(sql(db).insert.run(r).lastInsertRowid);
}

export function getReport(db: Db, id: number): ReportRow | undefined {
  const r = sql(db).byId.get(id);
  return r ? toRow(r) : undefined;
}

export function latestReport(db: Db, assignmentId: number): ReportRow | undefined {
  const r = sql(db).latest.get(assignmentId);
  return r ? toRow(r) : undefined;
}

export function reportBody(db: Db, id: number): StoredReport | null {
  const r = sql(db).report.get(id);
  return r?.report ? (JSON.parse(r.report) as StoredReport) : null;
}

export function setProgress(db: Db, id: number, progress: number, stage: string): void {
  sql(db).progress.run({ id, progress, stage });
}

export function finishReport(db: Db, id: number, now: number, report: StoredReport): void {
  sql(db).finish.run({ id, now, report: JSON.stringify(report) });
}

export function failReport(db: Db, id: number, now: number, error: string): void {
  sql(db).fail.run({ id, now, error: error.slice(0, 2000) });
}

/** Work a previous process left unfinished (it stopped or died): said so, to be run again on demand. */
export function failUnfinished(db: Db, now: number): number {
  const s = sql(db);
  let n = 0;
  for (const r of s.unfinished.all()) n += s.fail.run({ id: r.id, now, error: 'The server restarted while this report was being made; run it again.' }).changes;
  for (const e of s.unfinishedEvidence.all()) n += s.failEvidence.run({ id: e.id, summary: 'The server restarted while this check ran; run it again.' }).changes;
  return n;
}

export function queueEvidence(db: Db, e: { reportId: number; left: number; right: number; by: string; now: number }): Evidence {
  const s = sql(db);
  s.insertEvidence.run(e);
  return toEvidence(s.evidence.get({ reportId: e.reportId, left: e.left, right: e.right })!);
}

export function findEvidence(db: Db, reportId: number, left: number, right: number): Evidence | undefined {
  const r = sql(db).evidence.get({ reportId, left, right });
  return r ? toEvidence(r) : undefined;
}

export function evidenceOfReport(db: Db, reportId: number): Evidence[] {
  return sql(db).evidenceOfReport.all(reportId).map(toEvidence);
}

export function updateEvidence(db: Db, id: number, e: { state: Evidence['state']; runs: EvidenceRun[]; flagged: boolean; summary: string }): void {
  sql(db).setEvidence.run({ id, state: e.state, runs: JSON.stringify(e.runs), flagged: e.flagged ? 1 : 0, summary: e.summary });
}
