import type { Db } from '../../db/open.js';
import type { Version } from '../assignments/store.js';
import { describeBytes } from '../assignments/config.js';
import { normaliseSpec, specHash } from './environments.js';
import type { EnvironmentStatus } from './service.js';
import { getEnvironment } from './store.js';

/** What the staff page shows of a version's environment; null when it runs on the host's /usr. */
export function environmentStatus(db: Db, version: Version): EnvironmentStatus | null {
  const env = version.config.environment;
  if (!env) return null;
  const hash = specHash(normaliseSpec(env, version.manifest));
  const row = getEnvironment(db, hash);
  return { hash, state: row?.state ?? 'unknown', progress: row?.progress ?? '', error: row?.error ?? null, size: row?.bytes ? describeBytes(row.bytes) : null, debian: env.debian, python: env.python, npm: env.npm ?? [] };
}
