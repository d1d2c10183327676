import { createHmac, randomBytes } from 'node:crypto';
import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import type { Deps } from '../../plugin.js';
import { runGenerator, type GeneratorOutcome } from './generator.js';
import { teamOf } from '../teams/store.js';
import { currentVersion, getVersion, type Assignment, type Version } from './store.js';

/** The generator's run, in its own file; here too for the callers that know it from variants. */
export { MAX_PARAMS_BYTES, runGenerator, type GeneratorOutcome } from './generator.js';

/** The student as a generator and a template see them. */
export interface VariantStudent {
  id: string;
  name: string;
}

/** Who a variant is for: the accounts user (CurrentUser fits). */
export interface VariantUser {
  id: number;
  name: string;
}

export interface Variant {
  assignmentId: number;
  versionId: number;
  /** The version's number (1, 2, ...), as the lecturer sees it. */
  version: number;
  seed: string;
  params: Record<string, unknown>;
  createdAt: number;
}

/** A failed generation is not retried for this long, so that reloads do not hammer the sandbox. */
export const FAILURE_BACKOFF_MS = 30_000;

interface VariantRow {
  id: number;
  assignment_id: number;
  version_id: number;
  user_id: number;
  student_key: string;
  student_name: string;
  seed: string;
  params: string;
  created_at: number;
}

export interface GeneratorRun {
  id: number;
  versionId: number;
  versionNumber: number;
  userId: number | null;
  userName: string | null;
  seed: string;
  outcome: 'failed' | 'regenerated';
  status: string;
  message: string;
  stdout: string;
  stderr: string;
  wallMs: number;
  actor: string | null;
  createdAt: number;
}

function statements(db: Db) {
  return {
    get: db.prepare<{ assignment_id: number; user_id: number }, VariantRow>('SELECT * FROM variants WHERE assignment_id = :assignment_id AND user_id = :user_id'),
    insert: db.prepare<{ assignment_id: number; version_id: number; user_id: number; key: string; name: string; seed: string; params: string; now: number }>(
      `INSERT INTO variants (assignment_id, version_id, user_id, student_key, student_name, seed, params, created_at)
       VALUES (:assignment_id, :version_id, :user_id, :key, :name, :seed, :params, :now)
       ON CONFLICT (assignment_id, user_id) DO NOTHING`,
    ),
    replace: db.prepare<{ assignment_id: number; version_id: number; user_id: number; key: string; name: string; seed: string; params: string; now: number }>(
      `INSERT INTO variants (assignment_id, version_id, user_id, student_key, student_name, seed, params, created_at)
       VALUES (:assignment_id, :version_id, :user_id, :key, :name, :seed, :params, :now)
       ON CONFLICT (assignment_id, user_id) DO UPDATE SET version_id = excluded.version_id, student_key = excluded.student_key,
         student_name = excluded.student_name, seed = excluded.seed, params = excluded.params, created_at = excluded.created_at`,
    ),
    list: db.prepare<{ assignment_id: number }, VariantRow & { email: string | null; current_name: string | null; student_id: string | null; version_number: number }>(
      `SELECT v.*, u.email, u.name AS current_name, u.student_id, av.number AS version_number
         FROM variants v
         LEFT JOIN users u ON u.id = v.user_id
         JOIN assignment_versions av ON av.id = v.version_id
        WHERE v.assignment_id = :assignment_id
        ORDER BY coalesce(u.name, v.student_name), v.user_id`,
    ),
    logRun: db.prepare<{
      assignment_id: number;
      version_id: number;
      user_id: number | null;
      seed: string;
      outcome: string;
      status: string;
      message: string;
      stdout: string;
      stderr: string;
      wall_ms: number;
      actor: string | null;
      now: number;
    }>(
      `INSERT INTO generator_runs (assignment_id, version_id, user_id, seed, outcome, status, message, stdout, stderr, wall_ms, actor, created_at)
       VALUES (:assignment_id, :version_id, :user_id, :seed, :outcome, :status, :message, :stdout, :stderr, :wall_ms, :actor, :now)`,
    ),
    pruneRuns: db.prepare<{ assignment_id: number }>(
      `DELETE FROM generator_runs WHERE assignment_id = :assignment_id AND id <= (
         SELECT id FROM generator_runs WHERE assignment_id = :assignment_id ORDER BY id DESC LIMIT 1 OFFSET 200)`,
    ),
    runs: db.prepare<{ assignment_id: number; limit: number }, GeneratorRun>(
      `SELECT r.id, r.version_id AS versionId, av.number AS versionNumber, r.user_id AS userId, u.name AS userName, r.seed, r.outcome,
              r.status, r.message, r.stdout, r.stderr, r.wall_ms AS wallMs, r.actor, r.created_at AS createdAt
         FROM generator_runs r
         JOIN assignment_versions av ON av.id = r.version_id
         LEFT JOIN users u ON u.id = r.user_id
        WHERE r.assignment_id = :assignment_id ORDER BY r.id DESC LIMIT :limit`,
    ),
    getTeam: db.prepare<{ team_id: number }, Pick<VariantRow, 'version_id' | 'seed' | 'params' | 'created_at'> & { assignment_id: number }>(
      'SELECT assignment_id, version_id, seed, params, created_at FROM team_variants WHERE team_id = :team_id',
    ),
    insertTeam: db.prepare<{ team_id: number; assignment_id: number; version_id: number; seed: string; params: string; now: number }>(
      `INSERT INTO team_variants (team_id, assignment_id, version_id, seed, params, created_at)
       VALUES (:team_id, :assignment_id, :version_id, :seed, :params, :now) ON CONFLICT (team_id) DO NOTHING`,
    ),
    secretGet: db.prepare<{ key: string }, { value: string }>('SELECT value FROM settings WHERE key = :key'),
    secretPut: db.prepare<{ key: string; value: string }>('INSERT OR IGNORE INTO settings (key, value) VALUES (:key, :value)'),
  };
}

const sql = preparedFor(statements);

/** The course's secret for seeds: made once, kept in settings; INSERT OR IGNORE makes a race harmless. */
export function courseSecret(db: Db, course: string): string {
  const key = `course-secret:${course}`;
  const s = sql(db);
  const row = s.secretGet.get({ key });
  if (row) return row.value;
  s.secretPut.run({ key, value: randomBytes(32).toString('hex') });
  return s.secretGet.get({ key })!.value;
}

/** HMAC-SHA256(course secret, slug NUL student id), hex. */
export function deriveSeed(secret: string, slug: string, studentId: string): string {
  return createHmac('sha256', secret).update(`${slug}\0${studentId}`).digest('hex');
}

/** The id a student's seed is derived from and that the generator sees: the accounts user id. */
export function studentOf(user: VariantUser): VariantStudent {
  return { id: String(user.id), name: user.name };
}

/** The parameters of the insert and replace statements: one student's generated variant. */
function variantRow(assignment: Assignment, version: Version, userId: number, student: VariantStudent, seed: string, params: unknown, now: number) {
  return { assignment_id: assignment.id, version_id: version.id, user_id: userId, key: student.id, name: student.name, seed, params: JSON.stringify(params), now };
}

function toVariant(db: Db, row: Pick<VariantRow, 'assignment_id' | 'version_id' | 'seed' | 'params' | 'created_at'>): Variant {
  return {
    assignmentId: row.assignment_id,
    versionId: row.version_id,
    version: getVersion(db, row.version_id)?.number ?? 0,
    seed: row.seed,
    params: JSON.parse(row.params) as Record<string, unknown>,
    createdAt: row.created_at,
  };
}

/** The stored variant, without making one. */
export function findVariant(db: Db, assignmentId: number, userId: number): Variant | undefined {
  const row = sql(db).get.get({ assignment_id: assignmentId, user_id: userId });
  return row ? toVariant(db, row) : undefined;
}

function logRun(deps: Pick<Deps, 'db' | 'clock'>, a: { assignment: Assignment; version: Version; userId: number | null; seed: string; outcome: 'failed' | 'regenerated'; actor: string | null }, o: GeneratorOutcome, message?: string): void {
  const s = sql(deps.db);
  deps.db.transaction(() => {
    s.logRun.run({
      assignment_id: a.assignment.id,
      version_id: a.version.id,
      user_id: a.userId,
      seed: a.seed,
      outcome: a.outcome,
      status: o.ok ? 'ok' : o.status,
      message: message ?? (o.ok ? '' : o.message),
      stdout: o.ok ? '' : o.stdout,
      stderr: o.stderr,
      wall_ms: Math.round(o.wallMs),
      actor: a.actor,
      now: deps.clock.now(),
    });
    s.pruneRuns.run({ assignment_id: a.assignment.id });
  })();
}

export function listGeneratorRuns(db: Db, assignmentId: number, limit = 20): GeneratorRun[] {
  return sql(db).runs.all({ assignment_id: assignmentId, limit });
}

/**
 * One app's generator runs in flight and its recent failures: the assignments plugin's instance
 * holds one, so that several apps in one process (tests) never share a run.
 */
export interface VariantRuns {
  running: Map<string, Promise<Variant | null>>;
  failures: Map<string, { at: number; versionId: number }>;
}

export function newVariantRuns(): VariantRuns {
  return { running: new Map(), failures: new Map() };
}

export interface EnsureVariantRequest {
  course: string;
  slug: string;
  user: VariantUser;
}

/**
 * The student's variant of an assignment, made on first use: seed from the course secret, then
 * the current version's generator in the sandbox, then stored for good. Returns null when the
 * assignment does not exist or its generator failed (logged for the lecturer; nothing stored).
 * Concurrent first visits share one generator run in this process; across processes the
 * unique index decides and the loser reads the winner's row.
 */
export async function makeVariant(deps: Deps, runs: VariantRuns, req: EnsureVariantRequest): Promise<Variant | null> {
  const current = currentVersion(deps.db, req.course, req.slug);
  if (!current) return null;
  const { assignment, version } = current;
  // A team has one variant, seeded by the team: every member sees the same numbers.
  const team = teamOf(deps.db, assignment.id, req.user.id);
  const holder = team
    ? {
        key: `${assignment.id}:team:${team.id}`,
        student: { id: `team-${team.id}`, name: team.name },
        find: () => findTeamVariant(deps.db, team.id),
        insert: (seed: string, params: unknown) =>
          sql(deps.db).insertTeam.run({ team_id: team.id, assignment_id: assignment.id, version_id: version.id, seed, params: JSON.stringify(params), now: deps.clock.now() }),
      }
    : {
        key: `${assignment.id}:${req.user.id}`,
        student: studentOf(req.user),
        find: () => findVariant(deps.db, assignment.id, req.user.id),
        insert: (seed: string, params: unknown) => sql(deps.db).insert.run(variantRow(assignment, version, req.user.id, studentOf(req.user), seed, params, deps.clock.now())),
      };
  const existing = holder.find();
  if (existing) return existing;
  const key = holder.key;
  const { running: inflight, failures: recentFailures } = runs;
  const running = inflight.get(key);
  if (running) return running;
  const work = (async (): Promise<Variant | null> => {
    const failed = recentFailures.get(key);
    if (failed && failed.versionId === version.id && deps.clock.now() - failed.at < FAILURE_BACKOFF_MS) return null;
    const student = holder.student;
    const seed = deriveSeed(courseSecret(deps.db, req.course), req.slug, student.id);
    const outcome = await runGenerator(deps, version, seed, student);
    if (!outcome.ok) {
      recentFailures.set(key, { at: deps.clock.now(), versionId: version.id });
      if (recentFailures.size > 10_000) recentFailures.clear();
      deps.log.warn({ course: req.course, slug: req.slug, userId: req.user.id, team: team?.id, version: version.number, status: outcome.status, reason: outcome.message }, 'variant generator failed');
      logRun(deps, { assignment, version, userId: req.user.id, seed, outcome: 'failed', actor: null }, outcome);
      return null;
    }
    recentFailures.delete(key);
    holder.insert(seed, outcome.params);
    const stored = holder.find()!;
    deps.log.info({ course: req.course, slug: req.slug, userId: req.user.id, team: team?.id, version: stored.version }, 'variant created');
    return stored;
  })();
  inflight.set(key, work);
  try {
    return await work;
  } finally {
    inflight.delete(key);
  }
}

/**
 * The student's variant through the app's `variants` service (the assignments plugin's instance,
 * which holds the runs in flight): for other plugins and tests that have the app's deps.
 */
export function ensureVariant(deps: Pick<Deps, 'services'>, req: EnsureVariantRequest): Promise<Variant | null> {
  const service = deps.services.variants;
  if (!service) throw new Error('ensureVariant: this app has no assignments plugin');
  return service.resolve(req);
}

/** A team's stored variant, without making one. */
export function findTeamVariant(db: Db, teamId: number): Variant | undefined {
  const row = sql(db).getTeam.get({ team_id: teamId });
  return row ? toVariant(db, row) : undefined;
}

/** The parameters a submission is tested with: its team's variant, or its submitter's. */
export function variantForSubmission(db: Db, submission: { assignmentId: number; userId: number; teamId: number | null }): Variant | undefined {
  return submission.teamId !== null ? findTeamVariant(db, submission.teamId) : findVariant(db, submission.assignmentId, submission.userId);
}

export type RegenerateResult = { ok: true; variant: Variant; previous: Variant | undefined } | { ok: false; outcome: Extract<GeneratorOutcome, { ok: false }> };

/**
 * Remakes one student's variant on purpose, with the current version's generator. The old
 * parameters are kept in the generator log; a failure changes nothing.
 */
export async function regenerateVariant(deps: Deps, runs: VariantRuns, req: { course: string; slug: string; user: VariantUser; actor: string }): Promise<RegenerateResult | null> {
  const current = currentVersion(deps.db, req.course, req.slug);
  if (!current) return null;
  const { assignment, version } = current;
  const key = `${assignment.id}:${req.user.id}`;
  const { running: inflight, failures: recentFailures } = runs;
  // A first visit in progress finishes first, so the regeneration is what stays.
  await inflight.get(key)?.catch(() => null);
  const student = studentOf(req.user);
  const seed = deriveSeed(courseSecret(deps.db, req.course), req.slug, student.id);
  const previous = findVariant(deps.db, assignment.id, req.user.id);
  const outcome = await runGenerator(deps, version, seed, student);
  if (!outcome.ok) {
    logRun(deps, { assignment, version, userId: req.user.id, seed, outcome: 'failed', actor: req.actor }, outcome);
    return { ok: false, outcome };
  }
  const s = sql(deps.db);
  deps.db.transaction(() => {
    s.replace.run(variantRow(assignment, version, req.user.id, student, seed, outcome.params, deps.clock.now()));
  })();
  recentFailures.delete(key);
  logRun(
    deps,
    { assignment, version, userId: req.user.id, seed, outcome: 'regenerated', actor: req.actor },
    outcome,
    previous ? `previous: version ${previous.version}, parameters ${JSON.stringify(previous.params)}` : 'no previous variant',
  );
  deps.log.info({ course: req.course, slug: req.slug, userId: req.user.id, by: req.actor, version: version.number, previousVersion: previous?.version ?? null }, 'variant regenerated');
  return { ok: true, variant: findVariant(deps.db, assignment.id, req.user.id)!, previous };
}

export interface VariantListing {
  userId: number;
  name: string;
  email: string | null;
  studentId: string | null;
  version: number;
  seed: string;
  params: Record<string, unknown>;
  createdAt: number;
}

export function listVariants(db: Db, assignmentId: number): VariantListing[] {
  return sql(db)
    .list.all({ assignment_id: assignmentId })
    .map((r) => ({
      userId: r.user_id,
      name: r.current_name ?? r.student_name,
      email: r.email,
      studentId: r.student_id,
      version: r.version_number,
      seed: r.seed,
      params: JSON.parse(r.params) as Record<string, unknown>,
      createdAt: r.created_at,
    }));
}
