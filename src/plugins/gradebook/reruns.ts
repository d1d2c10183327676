import { shownVersionFor } from '../assignments/freeze.js';
import { randomBytes } from 'node:crypto';
import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import type { CurrentUser } from '../../lib/auth.js';
import type { Deps } from '../../plugin.js';
import { getVersion, type Current } from '../assignments/store.js';
import { PRIORITY } from '../autotest/queue.js';
import { batchProgress, type BatchProgress } from '../autotest/store.js';
import type { Submission } from '../submissions/store.js';
import { recordAudit } from '../audit/store.js';

export type RerunScope = 'one' | 'counted' | 'all';

export interface RerunBatch {
  id: string;
  scope: RerunScope;
  /** null: each submission's own version. */
  versionNumber: number | null;
  jobs: number;
  createdBy: string;
  createdAt: number;
  progress: BatchProgress;
}

interface BatchRow {
  id: string;
  assignment_id: number;
  scope: RerunScope;
  version_id: number | null;
  jobs: number;
  created_by: string;
  created_at: number;
}

function statements(db: Db) {
  return {
    insert: db.prepare<BatchRow>(
      `INSERT INTO rerun_batches (id, assignment_id, scope, version_id, jobs, created_by, created_at)
       VALUES (:id, :assignment_id, :scope, :version_id, :jobs, :created_by, :created_at)`,
    ),
    recent: db.prepare<{ assignmentId: number; limit: number }, BatchRow>('SELECT * FROM rerun_batches WHERE assignment_id = :assignmentId ORDER BY created_at DESC, rowid DESC LIMIT :limit'),
    byId: db.prepare<{ id: string }, BatchRow>('SELECT * FROM rerun_batches WHERE id = :id'),
  };
}

const sql = preparedFor(statements);

function toBatch(db: Db, r: BatchRow): RerunBatch {
  return {
    id: r.id,
    scope: r.scope,
    versionNumber: r.version_id === null ? null : (getVersion(db, r.version_id)?.number ?? null),
    jobs: r.jobs,
    createdBy: r.created_by,
    createdAt: r.created_at,
    progress: batchProgress(db, r.id),
  };
}

export function recentBatches(db: Db, assignmentId: number, limit = 5): RerunBatch[] {
  return sql(db)
    .recent.all({ assignmentId, limit })
    .map((r) => toBatch(db, r));
}

export function getBatch(db: Db, assignmentId: number, id: string): RerunBatch | undefined {
  const r = sql(db).byId.get({ id });
  return r && r.assignment_id === assignmentId ? toBatch(db, r) : undefined;
}

/**
 * Queues the tests of the given submissions again, as one batch: behind live submissions
 * (PRIORITY.rerun), against the current version as it reaches each student unless `ownVersion`. The jobs, the batch row
 * and the audit entry are written in one transaction; the graders are woken after the commit.
 * Each job records its own result, so a submission's newest result is the re-run's.
 */
export function startRerun(
  deps: Pick<Deps, 'db' | 'clock' | 'services'>,
  req: { current: Current; course: string; scope: RerunScope; submissions: Submission[]; ownVersion: boolean; actor: CurrentUser; target: string },
): RerunBatch {
  const { assignment, version } = req.current;
  const grading = deps.services.grading;
  const now = deps.clock.now();
  const id = `rerun-${now.toString(36)}-${randomBytes(4).toString('hex')}`;
  deps.db.transaction(() => {
    for (const s of req.submissions) {
      // "The current version" is, for each student, the newest that reaches them (freeze.ts): a
      // version for new students only must not test the work of one kept on an older statement.
      grading.enqueue(s.id, req.ownVersion ? s.versionId : shownVersionFor(deps.db, req.current, s.userId).id, { priority: PRIORITY.rerun, reason: 'rerun', batch: id });
    }
    sql(deps.db).insert.run({
      id,
      assignment_id: assignment.id,
      scope: req.scope,
      version_id: req.ownVersion ? null : version.id,
      jobs: req.submissions.length,
      created_by: req.actor.email,
      created_at: now,
    });
    recordAudit(deps.db, {
      at: now,
      actor: req.actor,
      course: req.course,
      action: 'rerun',
      target: req.target,
      details: {
        assignment: assignment.slug,
        batch: id,
        scope: req.scope,
        version: req.ownVersion ? 'own' : version.number,
        jobs: req.submissions.length,
        ...(req.submissions.length <= 20 ? { submissions: req.submissions.map((s) => s.id) } : {}),
      },
    });
  })();
  grading.notify();
  return getBatch(deps.db, assignment.id, id)!;
}
