import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';

/** One submission of a bundle's self-check and how it fared. */
export interface SelfCheckEntry {
  name: string;
  kind: 'reference' | 'hostile';
  status: string;
  score: number | null;
  maxScore: number | null;
  gradable: boolean;
  tamper: string[];
  /** Reference: full marks; hostile: nothing scored. */
  ok: boolean;
  note: string;
}

export interface SelfCheck {
  versionId: number;
  state: 'running' | 'done' | 'error';
  entries: SelfCheckEntry[];
  warning: boolean;
  message: string | null;
  heldBackFor: number | null;
  confirmedBy: string | null;
  confirmedAt: number | null;
  startedAt: number;
  finishedAt: number | null;
  /**
   * While running: whether its submissions wait for a grader (`queued`: Redis mode, no free
   * worker, or Redis unreachable) or are being graded, and what the remote loop last noted.
   */
  phase: 'queued' | 'running' | null;
  progress: string | null;
}

/** While a check runs, its message column holds the progress note, `queued: …` or `running: …`. */
const QUEUED = 'queued: ';
const RUNNING = 'running: ';

interface Row {
  version_id: number;
  state: SelfCheck['state'];
  entries: string;
  warning: number;
  message: string | null;
  held_back_for: number | null;
  confirmed_by: string | null;
  confirmed_at: number | null;
  started_at: number;
  finished_at: number | null;
}

function toCheck(r: Row): SelfCheck {
  const running = r.state === 'running';
  const queued = running && (r.message ?? '').startsWith(QUEUED);
  return {
    versionId: r.version_id,
    state: r.state,
    entries: JSON.parse(r.entries) as SelfCheckEntry[],
    warning: r.warning === 1,
    message: running ? null : r.message,
    phase: running ? (queued ? 'queued' : 'running') : null,
    progress: running && r.message ? r.message.slice(queued ? QUEUED.length : r.message.startsWith(RUNNING) ? RUNNING.length : 0) : null,
    heldBackFor: r.held_back_for,
    confirmedBy: r.confirmed_by,
    confirmedAt: r.confirmed_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

function statements(db: Db) {
  return {
    get: db.prepare<[number], Row>('SELECT * FROM self_checks WHERE version_id = ?'),
    next: db.prepare<[], { id: number }>(
      `SELECT v.id FROM assignment_versions v LEFT JOIN self_checks c ON c.version_id = v.id
        WHERE c.version_id IS NULL ORDER BY v.id DESC LIMIT 1`,
    ),
    start: db.prepare<{ version_id: number; now: number }>(`INSERT INTO self_checks (version_id, state, started_at) VALUES (:version_id, 'running', :now) ON CONFLICT DO NOTHING`),
    finish: db.prepare<{ version_id: number; state: string; entries: string; warning: number; message: string | null; held: number | null; now: number }>(
      `UPDATE self_checks SET state = :state, entries = :entries, warning = :warning, message = :message, held_back_for = :held, finished_at = :now WHERE version_id = :version_id`,
    ),
    progress: db.prepare<{ version_id: number; message: string }>(`UPDATE self_checks SET message = :message WHERE version_id = :version_id AND state = 'running'`),
    forgetRunning: db.prepare(`DELETE FROM self_checks WHERE state = 'running'`),
    release: db.prepare<[number]>(`DELETE FROM self_checks WHERE version_id = ? AND state = 'running'`),
    confirm: db.prepare<{ version_id: number; by: string; now: number }>('UPDATE self_checks SET confirmed_by = :by, confirmed_at = :now WHERE version_id = :version_id AND confirmed_at IS NULL'),
    warnings: db.prepare<{ course: string }, { version_id: number; number: number; slug: string; message: string | null }>(
      `SELECT c.version_id, v.number, a.slug, c.message FROM self_checks c
         JOIN assignment_versions v ON v.id = c.version_id JOIN assignments a ON a.id = v.assignment_id
        WHERE a.course = :course AND c.warning = 1 AND c.confirmed_at IS NULL ORDER BY c.version_id DESC`,
    ),
    waiting: db.prepare<{ course: string }, { version_id: number; number: number; slug: string; state: SelfCheck['state'] | null; warning: number | null; queued: number | null; current: number | null }>(
      `SELECT v.id AS version_id, v.number, a.slug, c.state, c.warning, substr(c.message, 1, ${QUEUED.length}) = '${QUEUED}' AS queued, cur.number AS current FROM assignments a
         JOIN assignment_versions v ON v.id = a.pending_version
         LEFT JOIN assignment_versions cur ON cur.id = a.current_version
         LEFT JOIN self_checks c ON c.version_id = v.id
        WHERE a.course = :course ORDER BY a.slug`,
    ),
  };
}
const sql = preparedFor(statements);

export function getSelfCheck(db: Db, versionId: number): SelfCheck | null {
  const r = sql(db).get.get(versionId);
  return r ? toCheck(r) : null;
}

/** The newest version without a self-check, claimed as running; null when none is left. */
export function claimNextSelfCheck(db: Db, now: number): number | null {
  return db.transaction(() => {
    const next = sql(db).next.get();
    if (!next) return null;
    sql(db).start.run({ version_id: next.id, now });
    return next.id;
  })();
}

export function finishSelfCheck(db: Db, versionId: number, r: { state: 'done' | 'error'; entries: SelfCheckEntry[]; warning: boolean; message: string | null; heldBackFor: number | null; now: number }): void {
  sql(db).finish.run({ version_id: versionId, state: r.state, entries: JSON.stringify(r.entries), warning: r.warning ? 1 : 0, message: r.message, held: r.heldBackFor, now: r.now });
}

/** Notes how a running check fares: its submissions wait for a grader (`queued`) or are being graded. */
export function noteSelfCheckProgress(db: Db, versionId: number, phase: 'queued' | 'running', note: string): void {
  sql(db).progress.run({ version_id: versionId, message: `${phase === 'queued' ? QUEUED : RUNNING}${note}` });
}

/** Gives a claimed check back, to be claimed again later (its result could not be stored). */
export function releaseSelfCheck(db: Db, versionId: number): void {
  sql(db).release.run(versionId);
}

/** Checks a previous process left half done are run again. */
export function forgetRunningSelfChecks(db: Db): void {
  sql(db).forgetRunning.run();
}

/** The lecturer read the warning and wants the version anyway. */
export function confirmSelfCheck(db: Db, versionId: number, by: string, now: number): void {
  sql(db).confirm.run({ version_id: versionId, by, now });
}

/** Versions of a course whose self-check warns and that no lecturer confirmed: red on the dashboard. */
export function selfCheckWarnings(db: Db, course: string): Array<{ versionId: number; number: number; slug: string; message: string | null }> {
  return sql(db)
    .warnings.all({ course })
    .map((r) => ({ versionId: r.version_id, number: r.number, slug: r.slug, message: r.message }));
}

/** Versions of a course that wait, not current, for their self-check or a lecturer: on the dashboard. */
export function waitingVersions(db: Db, course: string): Array<{ versionId: number; number: number; slug: string; current: number | null; status: 'not run yet' | 'queued' | 'running' | 'could not run' | 'failed' | 'passed' }> {
  return sql(db)
    .waiting.all({ course })
    .map((r) => ({
      versionId: r.version_id,
      number: r.number,
      slug: r.slug,
      current: r.current,
      status: r.state === null ? 'not run yet' : r.state === 'running' ? (r.queued ? 'queued' : 'running') : r.state === 'error' ? 'could not run' : r.warning ? 'failed' : 'passed',
    }));
}
