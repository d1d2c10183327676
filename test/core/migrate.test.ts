import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DatabaseAheadError, checkMigrations, loadMigrations, migrate, schemaVersion } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/open.js';
import { ROOT, tempDir } from '../helpers/index.js';

function fixture(files: Record<string, string>): string {
  const dir = tempDir('lectern-mig-');
  for (const [name, sql] of Object.entries(files)) writeFileSync(path.join(dir, name), sql);
  return dir;
}

describe('migrations', () => {
  it('applies the project migrations to a fresh database, with WAL and foreign keys on', () => {
    const db = openDatabase(path.join(tempDir(), 'db.sqlite'));
    const applied = migrate(db);
    expect(applied[0]).toBe('0001_init.sql');
    expect(schemaVersion(db)).toBe(loadMigrations().at(-1)!.version);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
  });

  it('is a no-op when repeated', () => {
    const db = openDatabase(path.join(tempDir(), 'db.sqlite'));
    migrate(db);
    expect(migrate(db)).toEqual([]);
    db.close();
  });

  it('applies only newer files, each with its version, in order', () => {
    const dir = fixture({ '0001_a.sql': 'CREATE TABLE a (x INTEGER);', '0002_b.sql': 'CREATE TABLE b (y INTEGER);' });
    const db = openDatabase(path.join(tempDir(), 'db.sqlite'));
    expect(migrate(db, loadMigrations(dir))).toEqual(['0001_a.sql', '0002_b.sql']);
    writeFileSync(path.join(dir, '0003_c.sql'), 'ALTER TABLE b ADD COLUMN z TEXT;');
    expect(migrate(db, loadMigrations(dir))).toEqual(['0003_c.sql']);
    expect(schemaVersion(db)).toBe(3);
    db.close();
  });

  it('rolls back a failing file whole, keeping the previous version', () => {
    const dir = fixture({ '0001_a.sql': 'CREATE TABLE a (x INTEGER);', '0002_bad.sql': 'CREATE TABLE b (y INTEGER); INSERT INTO nowhere VALUES (1);' });
    const db = openDatabase(path.join(tempDir(), 'db.sqlite'));
    expect(() => migrate(db, loadMigrations(dir))).toThrow(/nowhere/);
    expect(schemaVersion(db)).toBe(1);
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'b'").get()).toEqual({ n: 0 });
    db.close();
  });

  it('refuses a database that is ahead of the code', () => {
    const db = openDatabase(path.join(tempDir(), 'db.sqlite'));
    db.pragma('user_version = 999');
    expect(() => migrate(db)).toThrow(DatabaseAheadError);
    expect(() => checkMigrations(db)).toThrow(/schema version 999/);
    db.close();
  });

  it('rejects badly named or duplicate migration files', () => {
    expect(() => loadMigrations(fixture({ 'init.sql': '' }))).toThrow(/must look like/);
    expect(() => loadMigrations(fixture({ '0001_a.sql': '', '0001_b.sql': '' }))).toThrow(/share version 1/);
  });

  it('`lectern migrate` runs them alone, and the server refuses a database from the future', () => {
    const data = tempDir();
    const env = { ...process.env, LECTERN_DATA: data, LECTERN_LOG_LEVEL: 'silent' };
    const out = execFileSync(process.execPath, [path.join(ROOT, 'dist/start.cjs'), 'migrate'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toBe('');
    const check = spawnSync(process.execPath, [path.join(ROOT, 'dist/start.cjs'), 'migrate', '--check'], { env, encoding: 'utf8' });
    expect(check.stderr).toMatch(/nothing pending/);
    const db = openDatabase(path.join(data, 'lectern.db'));
    db.pragma('user_version = 999');
    db.close();
    const serve = spawnSync(process.execPath, [path.join(ROOT, 'dist/start.cjs'), 'serve'], { env: { ...env, LECTERN_PORT: '0' }, encoding: 'utf8', timeout: 20_000 });
    expect(serve.status).toBe(2);
    expect(serve.stderr).toMatch(/schema version 999 but this code only knows up to/);
    mkdirSync(data, { recursive: true });
  });
});
