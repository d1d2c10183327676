import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

export type Db = Database.Database;

/** Opens (creating when missing) the SQLite file with the pragmas every connection needs. */
export function openDatabase(file: string): Db {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  // Writers queue briefly instead of failing when another process (CLI, worker) holds the lock.
  db.pragma('busy_timeout = 5000');
  // NORMAL is durable across process crashes in WAL mode; only a power cut can lose the last commits.
  db.pragma('synchronous = NORMAL');
  return db;
}

export function databasePath(dataDir: string): string {
  return path.join(dataDir, 'lectern.db');
}
