import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Deps } from '../../plugin.js';
import { getAssignmentById, getVersion, materialiseVersion, promotePendingVersion, readBlob, type Version } from '../assignments/store.js';
import { asText, renderText } from '../assignments/render.js';
import { runGenerator } from '../assignments/variants.js';
import { hostileSubmissions } from './hostile.js';
import { planFor } from './run/plan.js';
import type { Grade } from './run/grade.js';
import { runPrepared, runSettings, type JobSpec } from './run/run.js';
import { claimNextSelfCheck, finishSelfCheck, forgetRunningSelfChecks, releaseSelfCheck, type SelfCheckEntry } from './self-check-store.js';
import { isDatabaseBusy } from '../../lib/unavailable.js';
import { environmentHashOf, EnvironmentUnavailable, normaliseSpec } from '../environments/environments.js';

const STUDENT = { id: 'self-check', name: 'Self Check' };

/** What every submission of a version's check is graded with: what a real job of it gets (runner.ts jobSpec), less the submission. */
export type CheckSpec = Pick<JobSpec, 'command' | 'limits' | 'params' | 'points' | 'defaultVisibility' | 'plan' | 'run'>;

/** One submission of a self-check: its files as a student would hand them in. */
export interface CheckSubmission {
  name: string;
  kind: SelfCheckEntry['kind'];
  files: Array<{ path: string; data: Buffer }>;
  note: string;
}

/**
 * The "grade one submission" step of a self-check, the only part that differs between modes: this
 * machine's sandbox in SQLite mode (localGrader), a grading worker through Redis in Redis mode
 * (redis-self-check.ts). `parallel`: how many of a version's submissions it takes at once.
 */
export interface CheckGrader {
  parallel: number;
  grade(version: Version, spec: CheckSpec, submission: CheckSubmission, signal: AbortSignal): Promise<Grade>;
}

/**
 * Runs a bundle version against its reference solution (solution/, when shipped; text files are
 * templates over the parameters, like starter/) and the built-in hostile submissions, exactly as
 * a student's submission would be graded, each by `grader`. A hostile one scoring above zero, or
 * the reference below full marks, is a warning. The one place that judgement is made, whichever
 * machine grades.
 */
export async function selfCheckVersion(deps: Pick<Deps, 'db' | 'sandbox' | 'blobs' | 'config'>, version: Version, grader: CheckGrader, signal: AbortSignal = new AbortController().signal): Promise<{ entries: SelfCheckEntry[]; warning: boolean; message: string | null }> {
  const generated = await runGenerator(deps, version, 'self-check', STUDENT);
  if (!generated.ok) return { entries: [], warning: true, message: `the generator failed: ${generated.message}` };
  const params = generated.params;
  const plan = planFor(version.config, params, STUDENT);
  const spec: CheckSpec = { command: version.config.test.command, limits: version.config.test.limits, params, points: version.config.points ?? 1, defaultVisibility: version.config.feedback.tests, plan, run: settingsOf(version) };
  const submissions: CheckSubmission[] = [];
  const solution = version.manifest.filter((e) => e.path.startsWith('solution/'));
  if (solution.length) {
    const files: CheckSubmission['files'] = [];
    for (const e of solution) {
      const data = await readBlob(deps, e.sha256);
      const text = asText(data);
      files.push({ path: e.path.slice('solution/'.length), data: text === null ? data : Buffer.from(renderText(text, { params, student: STUDENT }, undefined, e.path)) });
    }
    submissions.push({ name: 'reference solution (solution/)', kind: 'reference', files, note: 'must get full marks' });
  }
  for (const h of hostileSubmissions(version.config.files)) submissions.push({ name: h.name, kind: 'hostile', files: [{ path: h.file, data: Buffer.from(h.source) }], note: h.tries });

  const grades: Array<Grade | undefined> = new Array(submissions.length);
  // One submission that cannot be graded stops the others: the check as a whole could not run.
  const stopAll = new AbortController();
  const stop = () => stopAll.abort();
  signal.addEventListener('abort', stop, { once: true });
  // A stop that came while the generator ran fired no event: without this every submission would
  // still be graded, and a restart would wait for the whole check.
  if (signal.aborted) stop();
  let next = 0;
  const lane = async () => {
    while (next < submissions.length && !stopAll.signal.aborted) {
      const i = next++;
      grades[i] = await grader.grade(version, spec, submissions[i]!, stopAll.signal);
    }
  };
  try {
    let first: { err: unknown } | null = null;
    const lanes = Array.from({ length: Math.max(1, Math.min(grader.parallel, submissions.length)) }, () =>
      lane().catch((err: unknown) => {
        first ??= { err };
        stop();
      }),
    );
    await Promise.all(lanes);
    if (first) throw (first as { err: unknown }).err;
  } finally {
    signal.removeEventListener('abort', stop);
  }

  const entries: SelfCheckEntry[] = [];
  submissions.forEach(({ name, kind, note }, i) => {
    const g = grades[i];
    if (!g) return;
    const full = g.gradable && g.score !== null && g.maxScore !== null && g.score >= g.maxScore;
    const ok = kind === 'reference' ? full : !g.gradable || (g.score ?? 0) === 0;
    entries.push({ name, kind, status: g.status, score: g.score, maxScore: g.maxScore, gradable: g.gradable, tamper: (g.tamper ?? []).map((f) => f.detail), ok, note: kind === 'reference' && !g.gradable ? (g.problem ?? '').slice(0, 500) : note });
  });
  const bad = entries.filter((e) => !e.ok);
  const message = bad.length
    ? bad.map((e) => (e.kind === 'reference' ? `the reference solution scored ${e.score ?? 'nothing'} of ${e.maxScore ?? '?'}` : `the hostile submission "${e.name}" scored ${e.score} of ${e.maxScore}`)).join('; ')
    : null;
  return { entries, warning: bad.length > 0, message };
}

/**
 * SQLite mode's grader: this machine's sandbox, as many submissions at once as the process has
 * graders (a check is a burst of about ten runs, several of which wait out a limit: one at a time,
 * the demo course of a fresh `npm start` stayed closed for 94 s on an idle 2-core machine), in
 * the version's built environment `root` (null: the host's /usr), the root its real jobs run in
 * (see environmentForCheck).
 */
export function localGrader(deps: Pick<Deps, 'db' | 'sandbox' | 'blobs' | 'config'>, root: string | null): CheckGrader {
  return {
    parallel: Math.max(1, deps.config.graders),
    async grade(version, spec, submission, signal) {
      const bundleDir = await materialiseVersion(deps, version);
      const tests = version.manifest.some((e) => e.path.startsWith('tests/')) ? path.join(bundleDir, 'tests') : null;
      const dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-selfcheck-'));
      try {
        const inputs = [];
        for (const f of submission.files) {
          const host = path.join(dir, f.path.replace(/\//g, '_'));
          await writeFile(host, f.data, { mode: 0o644 });
          inputs.push({ from: host, to: f.path });
        }
        return (await runPrepared(deps.sandbox, spec, { submission: inputs, tests, bundleDir, root }, signal)).grade;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

/** The run settings a real job of the version gets (runner.ts jobSpec): layout, env:, environment. */
function settingsOf(version: Version) {
  return {
    ...runSettings(version.config, version.manifest.map((e) => e.path), version.createdAt, environmentHashOf(version.config, version.manifest)),
    environmentSpec: version.config.environment ? normaliseSpec(version.config.environment, version.manifest) : null,
    environmentSetup: version.config.environment?.setup ?? null,
  };
}

type Held = { root: string; release(): void };

/** Versions checked at once on grading workers: their submissions wait in Redis side by side. */
const REMOTE_CHECKS = 8;

/**
 * Waits for the environment a version's jobs run in, as a real job does (runner.ts
 * useEnvironment): `root` null for the host's /usr, or `failure` when the build failed or cannot
 * happen here (the check then fails with that message, as a job would be "could not be graded").
 */
export async function environmentForCheck(deps: Pick<Deps, 'services'>, version: Version, signal: AbortSignal): Promise<{ env: Held | null; failure: string | null }> {
  if (!version.config.environment) return { env: null, failure: null };
  const service = deps.services.environments;
  if (!service) return { env: null, failure: 'the assignment needs an environment, and this app has no environments plugin' };
  try {
    return { env: await service.use(version, signal), failure: null };
  } catch (err) {
    if (err instanceof EnvironmentUnavailable && !signal.aborted) return { env: null, failure: err.message };
    throw err;
  }
}

/**
 * The background loop, in the one process that checks (background.ts): checks each new version
 * once, newest first, one at a time. `remote` grades its submissions on grading workers (Redis
 * mode), which build the version's environment themselves; otherwise they run in this machine's
 * sandbox, and a version with an environment waits for its build beside the loop (a build takes
 * minutes; the loop meanwhile checks the other versions) and joins it once the root is there. A
 * version waiting as its assignment's pending version (see importBundle's hold) becomes current when its check passes; one that fails keeps waiting, never having been current,
 * until a lecturer confirms it on its staff page.
 */
export function startSelfChecks(deps: Deps, remote?: CheckGrader): () => Promise<void> {
  const controller = new AbortController();
  forgetRunningSelfChecks(deps.db);
  let running: Promise<void> | null = null;
  /**
   * Stores a finished check. The database may be locked for a while by another process (a long
   * import, a backup): a check takes minutes to run, so its result is worth a few tries; after
   * those the claim is given back and the version is checked again later. Never lets the error
   * escape: a background loop that throws takes the whole server down.
   */
  const store = async (versionId: number, write: () => void): Promise<boolean> => {
    for (let attempt = 1; ; attempt++) {
      try {
        write();
        return true;
      } catch (err) {
        if (!isDatabaseBusy(err) || attempt >= 10 || controller.signal.aborted) {
          deps.log.error({ err, versionId, attempt }, 'bundle self-check result could not be stored; it will run again');
          try {
            releaseSelfCheck(deps.db, versionId);
          } catch (releaseErr) {
            deps.log.warn({ err: releaseErr, versionId }, 'bundle self-check claim not given back; the next start runs it again');
          }
          return false;
        }
        deps.log.warn({ versionId, attempt }, 'bundle self-check result waits for the database');
        await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
      }
    }
  };
  /** Claimed versions whose environment is ready (or failed), waiting for the loop; in order. */
  const ready: Array<{ version: Version; env: Held | null; failure: string | null }> = [];
  /** Claimed versions waiting for their environment's build: settled before stop returns. */
  const preparing = new Set<Promise<void>>();
  const prepare = (version: Version) => {
    const p = environmentForCheck(deps, version, controller.signal)
      .then(
        ({ env, failure }) => {
          if (controller.signal.aborted) env?.release();
          else ready.push({ version, env, failure });
        },
        (err: unknown) => {
          // Stopped while waiting, or the environment's store failed: the claim is given back
          // (a stop leaves it to the next start's forgetRunningSelfChecks), checked again later.
          if (controller.signal.aborted) return;
          deps.log.warn({ err, versionId: version.id }, 'bundle self-check could not wait for its environment; it will run again');
          try {
            releaseSelfCheck(deps.db, version.id);
          } catch (releaseErr) {
            deps.log.warn({ err: releaseErr, versionId: version.id }, 'bundle self-check claim not given back; the next start runs it again');
          }
        },
      )
      .finally(() => {
        preparing.delete(p);
        tick();
      });
    preparing.add(p);
  };
  const checkOne = async (version: Version, env: Held | null, failure: string | null): Promise<boolean> => {
    const versionId = version.id;
    let r: Awaited<ReturnType<typeof selfCheckVersion>>;
    try {
      // A build that failed fails the check with the build's message, as a job of the version would not be graded.
      r = failure !== null ? { entries: [], warning: true, message: failure } : await selfCheckVersion(deps, version, remote ?? localGrader(deps, env?.root ?? null), controller.signal);
    } catch (err) {
      // Stopped (a restart): the next start's forgetRunningSelfChecks runs it again.
      if (controller.signal.aborted) return false;
      deps.log.warn({ err, versionId }, 'bundle self-check failed');
      const message = (err as Error).message;
      return store(versionId, () => finishSelfCheck(deps.db, versionId, { state: 'error', entries: [], warning: false, message, heldBackFor: null, now: deps.clock.now() }));
    } finally {
      env?.release();
    }
    if (controller.signal.aborted) return false;
    let promoted = false;
    let waiting = false;
    const stored = await store(versionId, () => {
      const assignment = getAssignmentById(deps.db, version.assignmentId);
      const serving = assignment?.currentVersionId ? getVersion(deps.db, assignment.currentVersionId) : undefined;
      waiting = assignment?.pendingVersionId === version.id;
      promoted = deps.db.transaction(() => {
        finishSelfCheck(deps.db, versionId, { state: 'done', ...r, heldBackFor: r.warning && waiting && serving ? serving.number : null, now: deps.clock.now() });
        return !r.warning && promotePendingVersion(deps.db, version.id);
      }).immediate();
    });
    if (stored) deps.log.info({ versionId, warning: r.warning, promoted, waiting }, 'bundle self-check finished');
    return stored;
  };
  /** Checks under way on grading workers (Redis mode). */
  const remoteChecks = new Set<Promise<void>>();
  const once = async () => {
    for (;;) {
      if (controller.signal.aborted) return;
      const next = ready.shift();
      if (next) {
        if (!(await checkOne(next.version, next.env, next.failure))) return;
        continue;
      }
      if (remote && remoteChecks.size >= REMOTE_CHECKS) return;
      const versionId = claimNextSelfCheck(deps.db, deps.clock.now());
      if (versionId === null) return;
      const version = getVersion(deps.db, versionId);
      if (!version) continue;
      if (remote) {
        // The workers grade; this loop only waits for them, so checks of several versions wait
        // side by side (one with no worker free does not hold back those imported after it).
        const p: Promise<void> = checkOne(version, null, null)
          .then(
            () => undefined,
            (err: unknown) => deps.log.warn({ err, versionId }, 'bundle self-check failed; the next start runs it again'),
          )
          .finally(() => {
            remoteChecks.delete(p);
            tick();
          });
        remoteChecks.add(p);
        continue;
      }
      if (version.config.environment) {
        prepare(version);
        continue;
      }
      if (!(await checkOne(version, null, null))) return;
    }
  };
  const tick = () => {
    running ??= once()
      .catch((err: unknown) => {
        // A claim or lookup failed (the database locked or full): the next tick tries again.
        deps.log.warn({ err }, 'bundle self-checks paused');
      })
      .finally(() => {
        running = null;
      });
  };
  tick();
  const timer = setInterval(tick, 3_000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    controller.abort();
    await running?.catch(() => undefined);
    await Promise.allSettled([...preparing, ...remoteChecks]);
    for (const r of ready.splice(0)) r.env?.release();
  };
}
