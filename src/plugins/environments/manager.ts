import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Deps } from '../../plugin.js';
import { listAssignments, materialiseVersion, type Version } from '../assignments/store.js';
import { BuildError, buildEnvironment, sweepBuilds } from './builder.js';
import { environmentRoot, environmentsDir, EnvironmentUnavailable, normaliseSpec, specHash, unreachable, type NormalisedSpec } from './environments.js';
import { claimNext, finishEnvironment, getEnvironment, listEnvironments, removeEnvironment, requestEnvironment, requeueInterrupted, setProgress, type EnvironmentRow } from './store.js';

/** What one app's environments plugin keeps while it runs (its instance holds one). */
export class EnvironmentBuilds {
  /** Wakes the build loop (an import just asked for an environment); null while no loop runs. */
  wake: (() => void) | null = null;
  /** Versions that asked for an environment that is not built (a job of a version that is no longer current): what to build it from. */
  readonly requesters = new Map<string, Version>();
  /** Environments runs are using right now: never collected under them. */
  readonly inUse = new Map<string, number>();

  kick(): void {
    this.wake?.();
  }
}

const MAX_WAIT_MS = 60 * 60_000;

/** The environment a version needs, asked for when it is not known yet. Null: the host's /usr. */
export function requireEnvironment(deps: Pick<Deps, 'db' | 'clock'>, builds: EnvironmentBuilds, version: Version): { hash: string; spec: NormalisedSpec } | null {
  const env = version.config.environment;
  if (!env) return null;
  const spec = normaliseSpec(env, version.manifest);
  const hash = specHash(spec);
  builds.requesters.set(hash, version);
  if (!getEnvironment(deps.db, hash)) {
    requestEnvironment(deps.db, hash, spec, deps.clock.now());
    builds.kick();
  }
  return { hash, spec };
}

/** Hashes the current versions of every course need, with a version to build each from. */
function needed(deps: Deps): Map<string, Version> {
  const out = new Map<string, Version>();
  for (const course of deps.content.courses) {
    for (const { version } of listAssignments(deps.db, course.slug)) {
      const env = version.config.environment;
      if (env) out.set(specHash(normaliseSpec(env, version.manifest)), version);
    }
  }
  return out;
}

/**
 * One build at a time, in the background: a build downloads hundreds of megabytes and unpacks
 * them, and grading must keep its CPU. Environments no current version uses are removed.
 */
export function startEnvironments(deps: Deps, builds: EnvironmentBuilds): () => Promise<void> {
  const log = deps.log.child({ plugin: 'environments' });
  const dir = environmentsDir(deps.config.dataDir);
  const controller = new AbortController();
  let stopped = false;

  async function buildOne(row: EnvironmentRow, from: Version | undefined): Promise<void> {
    log.info({ hash: row.hash }, 'building an environment');
    let lastWrite = 0;
    try {
      const inputs = from ? await materialiseVersion(deps, from) : null;
      const setupPath = from?.config.environment?.setup ?? null;
      const { bytes, log: text } = await buildEnvironment({
        dir,
        hash: row.hash,
        spec: row.spec,
        inputs,
        setupPath,
        signal: controller.signal,
        onProgress(progress, text) {
          const now = Date.now();
          if (now - lastWrite < 1000) return;
          lastWrite = now;
          setProgress(deps.db, row.hash, progress, text);
        },
      });
      finishEnvironment(deps.db, row.hash, { ok: true, error: null, bytes, log: text, now: deps.clock.now() });
      log.info({ hash: row.hash, bytes }, 'environment ready');
    } catch (err) {
      if (stopped) return;
      const message = err instanceof BuildError ? err.message : `the build failed: ${(err as Error).message}`;
      finishEnvironment(deps.db, row.hash, { ok: false, error: message, bytes: null, log: (err as { log?: string }).log ?? '', now: deps.clock.now() });
      log.warn({ hash: row.hash, error: message }, 'environment build failed');
    }
  }

  async function collectGarbage(keep: Map<string, Version>): Promise<void> {
    for (const row of listEnvironments(deps.db)) {
      if (keep.has(row.hash) || (builds.inUse.get(row.hash) ?? 0) > 0 || row.state === 'building' || row.state === 'queued') continue;
      await rm(path.join(dir, row.hash), { recursive: true, force: true });
      removeEnvironment(deps.db, row.hash);
      log.info({ hash: row.hash }, 'environment no current version uses: removed');
    }
  }

  const loop = (async () => {
    await sweepBuilds(dir);
    const requeued = requeueInterrupted(deps.db);
    if (requeued) log.info({ requeued }, 'environment builds cut off by a restart start again');
    while (!stopped) {
      try {
        const want = needed(deps);
        for (const [hash, version] of want) if (!getEnvironment(deps.db, hash)) requestEnvironment(deps.db, hash, normaliseSpec(version.config.environment!, version.manifest), deps.clock.now());
        const row = claimNext(deps.db, deps.clock.now());
        if (row) {
          await buildOne(row, want.get(row.hash) ?? builds.requesters.get(row.hash));
          builds.requesters.delete(row.hash);
          continue;
        }
        await collectGarbage(want);
      } catch (err) {
        log.error({ err }, 'environment loop failed');
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5000);
        builds.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      builds.wake = null;
    }
  })();

  return async () => {
    stopped = true;
    controller.abort();
    builds.kick();
    await loop;
  };
}


/**
 * The root a job runs in, once its environment is built (the job keeps its grader and its lease
 * meanwhile). A failed build makes the job "could not be graded" with the build's error.
 */
export async function useEnvironmentOf(deps: Pick<Deps, 'db' | 'clock' | 'config'>, builds: EnvironmentBuilds, version: Version, signal?: AbortSignal): Promise<{ root: string; release(): void } | null> {
  const env = version.config.environment;
  if (!env) return null;
  const hash = specHash(normaliseSpec(env, version.manifest));
  const mine = builds.inUse;
  mine.set(hash, (mine.get(hash) ?? 0) + 1);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    const n = (mine.get(hash) ?? 1) - 1;
    if (n > 0) mine.set(hash, n);
    else mine.delete(hash);
  };
  try {
    const root = await waitForEnvironment(deps, builds, version, signal);
    return { root: root!, release };
  } catch (err) {
    release();
    throw err;
  }
}

async function waitForEnvironment(deps: Pick<Deps, 'db' | 'clock' | 'config'>, builds: EnvironmentBuilds, version: Version, signal?: AbortSignal): Promise<string | null> {
  const need = requireEnvironment(deps, builds, version);
  if (!need) return null;
  const until = Date.now() + MAX_WAIT_MS;
  for (;;) {
    const row = getEnvironment(deps.db, need.hash);
    if (row?.state === 'ready') {
      let root: string;
      try {
        root = await environmentRoot(deps.config.dataDir, need.hash);
      } catch {
        // Recorded as ready but its folder is gone (removed by hand): build it again.
        removeEnvironment(deps.db, need.hash);
        requireEnvironment(deps, builds, version);
        continue;
      }
      const blocked = await unreachable(root);
      if (blocked) throw new EnvironmentUnavailable(blocked);
      return root;
    } else if (row?.state === 'failed') {
      throw new EnvironmentUnavailable(`the assignment's environment could not be built: ${row.error ?? 'unknown error'} (see the build log on the assignment's staff page)`);
    } else if (!row) {
      requireEnvironment(deps, builds, version);
    }
    if (signal?.aborted) throw new EnvironmentUnavailable('stopped while waiting for the environment');
    if (Date.now() > until) throw new EnvironmentUnavailable(`the assignment's environment was still not built after ${MAX_WAIT_MS / 60_000} minutes`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
