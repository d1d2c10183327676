import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { MIGRATIONS_DIR } from '../paths.js';
import type { Db } from './open.js';


export class DatabaseAheadError extends Error {
  constructor(
    readonly databaseVersion: number,
    readonly codeVersion: number,
  ) {
    super(
      `The database is at schema version ${databaseVersion} but this code only knows up to ${codeVersion}. ` +
        'It was migrated by newer code: deploy that code again (or restore a backup) instead of running this one.',
    );
    this.name = 'DatabaseAheadError';
  }
}

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const list: Migration[] = [];
  const seen = new Map<number, string>();
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith('.sql')) continue;
    const m = /^(\d{4})_[a-z0-9_-]+\.sql$/.exec(name);
    if (!m) throw new Error(`Migration file name "${name}" must look like 0001_what_it_does.sql`);
    const version = Number(m[1]);
    const other = seen.get(version);
    if (other) throw new Error(`Two migrations share version ${version}: ${other} and ${name}`);
    seen.set(version, name);
    list.push({ version, name, sql: readFileSync(path.join(dir, name), 'utf8') });
  }
  return list.sort((a, b) => a.version - b.version);
}

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Applies every migration newer than the database, each in its own transaction together with
 * its user_version bump, so a crash leaves the schema at a version boundary.
 * Returns the names of the files applied.
 */
export function migrate(db: Db, migrations: Migration[] = loadMigrations()): string[] {
  const latest = migrations.at(-1)?.version ?? 0;
  const current = schemaVersion(db);
  if (current > latest) throw new DatabaseAheadError(current, latest);
  const applied: string[] = [];
  for (const m of migrations) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    })();
    applied.push(m.name);
  }
  return applied;
}

/** Fails when the database is ahead of the code; says how many migrations are pending. */
export function checkMigrations(db: Db, migrations: Migration[] = loadMigrations()): { current: number; latest: number; pending: string[] } {
  const latest = migrations.at(-1)?.version ?? 0;
  const current = schemaVersion(db);
  if (current > latest) throw new DatabaseAheadError(current, latest);
  return { current, latest, pending: migrations.filter((m) => m.version > current).map((m) => m.name) };
}
