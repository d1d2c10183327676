import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import type { NormalisedSpec } from './environments.js';

export type EnvironmentState = 'queued' | 'building' | 'ready' | 'failed';

export interface EnvironmentRow {
  hash: string;
  spec: NormalisedSpec;
  state: EnvironmentState;
  progress: string;
  log: string;
  error: string | null;
  bytes: number | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

/** A row under its EnvironmentRow names; only the spec is still JSON. */
type Row = Omit<EnvironmentRow, 'spec'> & { spec: string };

const COLUMNS = 'hash, spec, state, progress, log, error, bytes, created_at AS createdAt, started_at AS startedAt, finished_at AS finishedAt';

function toRow(r: Row): EnvironmentRow {
  return { ...r, spec: JSON.parse(r.spec) as NormalisedSpec };
}

function statements(db: Db) {
  return {
    request: db.prepare<{ hash: string; spec: string; now: number }>(
      `INSERT INTO environments (hash, spec, state, created_at) VALUES (:hash, :spec, 'queued', :now) ON CONFLICT (hash) DO NOTHING`,
    ),
    get: db.prepare<[string], Row>(`SELECT ${COLUMNS} FROM environments WHERE hash = ?`),
    all: db.prepare<[], Row>(`SELECT ${COLUMNS} FROM environments ORDER BY created_at`),
    nextQueued: db.prepare<[], Row>(`SELECT ${COLUMNS} FROM environments WHERE state = 'queued' ORDER BY created_at LIMIT 1`),
    claim: db.prepare<{ hash: string; now: number }>("UPDATE environments SET state = 'building', started_at = :now, progress = 'starting', log = '', error = NULL WHERE hash = :hash AND state = 'queued'"),
    progress: db.prepare<{ hash: string; progress: string; log: string }>("UPDATE environments SET progress = :progress, log = :log WHERE hash = :hash AND state = 'building'"),
    finish: db.prepare<{ hash: string; state: EnvironmentState; error: string | null; bytes: number | null; log: string; now: number }>(
      "UPDATE environments SET state = :state, error = :error, bytes = :bytes, log = :log, progress = '', finished_at = :now WHERE hash = :hash",
    ),
    requeueBuilding: db.prepare("UPDATE environments SET state = 'queued', progress = '' WHERE state = 'building'"),
    retry: db.prepare<[string]>("UPDATE environments SET state = 'queued', error = NULL, progress = '' WHERE hash = ? AND state = 'failed'"),
    remove: db.prepare<[string]>('DELETE FROM environments WHERE hash = ?'),
  };
}
const sql = preparedFor(statements);

export function requestEnvironment(db: Db, hash: string, spec: NormalisedSpec, now: number): void {
  sql(db).request.run({ hash, spec: JSON.stringify(spec), now });
}
export function getEnvironment(db: Db, hash: string): EnvironmentRow | null {
  const r = sql(db).get.get(hash);
  return r ? toRow(r) : null;
}
export function listEnvironments(db: Db): EnvironmentRow[] {
  return sql(db).all.all().map(toRow);
}
/** The oldest queued environment, now marked as building by this process; null when none. */
export function claimNext(db: Db, now: number): EnvironmentRow | null {
  return db.transaction(() => {
    const r = sql(db).nextQueued.get();
    if (!r || sql(db).claim.run({ hash: r.hash, now }).changes !== 1) return null;
    return toRow(sql(db).get.get(r.hash)!);
  }).immediate();
}
export function setProgress(db: Db, hash: string, progress: string, log: string): void {
  sql(db).progress.run({ hash, progress, log });
}
export function finishEnvironment(db: Db, hash: string, r: { ok: boolean; error: string | null; bytes: number | null; log: string; now: number }): void {
  sql(db).finish.run({ hash, state: r.ok ? 'ready' : 'failed', error: r.error, bytes: r.bytes, log: r.log, now: r.now });
}
/** At start-up: a build that was running when the process died starts again. */
export function requeueInterrupted(db: Db): number {
  return sql(db).requeueBuilding.run().changes;
}
export function retryEnvironment(db: Db, hash: string): boolean {
  return sql(db).retry.run(hash).changes === 1;
}
export function removeEnvironment(db: Db, hash: string): void {
  sql(db).remove.run(hash);
}
