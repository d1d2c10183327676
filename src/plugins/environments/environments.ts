import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { AssignmentConfig, EnvironmentSpec } from '../assignments/config.js';
import type { ManifestEntry } from '../assignments/bundle.js';

/** Bump when the way roots are built changes, so that old roots are not reused. */
export const BUILD_RECIPE = 1;

/** What decides an environment's content: equal specs share one root. */
export interface NormalisedSpec {
  recipe: number;
  debian: string[];
  python: string[];
  /**
   * npm packages, from the registry. Absent rather than empty, so that the roots of environments
   * without npm keep the hash they were built under.
   */
  npm?: string[];
  /** sha256 of the OCI archive, or null. */
  oci: string | null;
  /** sha256 of the setup script, or null. */
  setup: string | null;
  /** Files the build reads from the bundle (wheels for pip, the OCI archive, the setup script): path -> sha256. */
  inputs: Record<string, string>;
}

/** Bundle folder whose files pip may install from (no package index is reachable from a build). */
export const WHEELS_DIR = 'environment/wheels/';

export function normaliseSpec(spec: EnvironmentSpec, manifest: Pick<ManifestEntry, 'path' | 'sha256'>[]): NormalisedSpec {
  const byPath = new Map(manifest.map((e) => [e.path, e.sha256]));
  const inputs: Record<string, string> = {};
  for (const e of manifest) if (e.path.startsWith(WHEELS_DIR)) inputs[e.path] = e.sha256;
  if (spec.oci && byPath.has(spec.oci)) inputs[spec.oci] = byPath.get(spec.oci)!;
  if (spec.setup && byPath.has(spec.setup)) inputs[spec.setup] = byPath.get(spec.setup)!;
  return {
    recipe: BUILD_RECIPE,
    debian: [...spec.debian].sort(),
    python: [...spec.python].sort(),
    ...(spec.npm?.length ? { npm: [...new Set(spec.npm)].sort() } : {}),
    oci: spec.oci ? (byPath.get(spec.oci) ?? null) : null,
    setup: spec.setup ? (byPath.get(spec.setup) ?? null) : null,
    inputs: Object.fromEntries(Object.entries(inputs).sort(([a], [b]) => (a < b ? -1 : 1))),
  };
}

export function specHash(spec: NormalisedSpec): string {
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex');
}

/** The environment a version runs in (its hash), or null for the host's /usr. */
export function environmentHashOf(config: Pick<AssignmentConfig, 'environment'>, manifest: Pick<ManifestEntry, 'path' | 'sha256'>[]): string | null {
  const env = config.environment;
  return env ? specHash(normaliseSpec(env, manifest)) : null;
}

/** Under the data dir (a web server) or the cache dir (a remote worker). */
export function environmentsDir(dataDir: string): string {
  return path.join(dataDir, 'environments');
}

/** A built environment's root filesystem; `root` is only ever renamed into place when complete. */
export function rootDir(dataDir: string, hash: string): string {
  return path.join(environmentsDir(dataDir), hash, 'root');
}

export class EnvironmentNotReady extends Error {}

/**
 * A job's environment cannot be had (its build failed, the sandbox user cannot reach it, it took
 * too long): the job is "could not be graded" with this message.
 */
export class EnvironmentUnavailable extends Error {}

/** The root to run in; throws EnvironmentNotReady while it is still being built (the job waits and retries). */
export async function environmentRoot(dataDir: string, hash: string): Promise<string> {
  if (!/^[0-9a-f]{64}$/.test(hash)) throw new EnvironmentNotReady(`"${hash}" is not an environment hash`);
  const dir = rootDir(dataDir, hash);
  try {
    if ((await stat(path.join(dir, 'usr'))).isDirectory()) return dir;
  } catch {
    // Not built (yet) on this machine.
  }
  throw new EnvironmentNotReady(`the assignment's environment ${hash.slice(0, 12)} is not built on this machine yet`);
}

/**
 * When the server runs as root, bubblewrap starts as the unprivileged sandbox user, which must be
 * able to pass through every folder above the root (o+x; it cannot list or read them).
 */
export async function unreachable(root: string): Promise<string | null> {
  if (process.getuid?.() !== 0) return null;
  let dir = path.dirname(root);
  while (dir !== path.dirname(dir)) {
    const st = await stat(dir);
    if ((st.mode & 0o001) === 0) return `the sandbox user cannot reach the assignment's environment: ${dir} is not searchable by others (chmod o+x ${dir}; that lets it pass through, not list or read)`;
    dir = path.dirname(dir);
  }
  return null;
}
