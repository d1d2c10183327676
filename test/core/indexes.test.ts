import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { openDatabase, type Db } from '../../src/db/open.js';
import { countLiveSessions } from '../../src/plugins/accounts/sessions.js';
import { createJobQueue } from '../../src/plugins/autotest/queue.js';
import { fixedClock } from '../../src/lib/clock.js';
import { tempDir } from '../helpers/index.js';

/**
 * Query plans of the statements that run all the time (every request, every queue poll), read
 * from SQLite itself with EXPLAIN QUERY PLAN on the real schema. The statements are the ones the
 * plugins prepare: a recording wrapper around the database collects their SQL as they are made.
 */

interface PlanRow {
  id: number;
  parent: number;
  detail: string;
}

function recordingDb(db: Db): { db: Db; sql: string[] } {
  const sql: string[] = [];
  const wrapped = new Proxy(db, {
    get(target, prop, receiver) {
      if (prop === 'prepare') {
        return (source: string) => {
          sql.push(source);
          return target.prepare(source);
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { db: wrapped, sql };
}

/** EXPLAIN QUERY PLAN with every parameter bound (the plan does not depend on the values). */
function plan(db: Db, sql: string): string[] {
  const named = [...new Set([...sql.matchAll(/[:@$]([A-Za-z_]\w*)/g)].map((m) => m[1]!))];
  const positional = (sql.match(/\?/g) ?? []).length;
  const stmt = db.prepare(`EXPLAIN QUERY PLAN ${sql}`);
  const rows = (named.length ? stmt.all(Object.fromEntries(named.map((n) => [n, 1]))) : stmt.all(...Array<number>(positional).fill(1))) as PlanRow[];
  return rows.map((r) => r.detail);
}

/** A full scan of `table` (not over one of its indexes). */
function fullScans(details: string[], table: string): string[] {
  return details.filter((d) => new RegExp(`^SCAN ${table}\\b`).test(d) && !/USING (COVERING )?INDEX|USING INTEGER PRIMARY KEY/.test(d));
}

let db: Db;

beforeAll(() => {
  db = openDatabase(path.join(tempDir('lectern-indexes-'), 'lectern.db'));
  migrate(db);
});

afterAll(() => db.close());

describe('indexes', () => {
  it('every foreign key has an index starting with its column', () => {
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all();
    const missing: string[] = [];
    let checked = 0;
    for (const { name: table } of tables) {
      const fks = db.pragma(`foreign_key_list("${table}")`) as Array<{ id: number; seq: number; table: string; from: string }>;
      const leading = new Set<string>();
      for (const index of db.pragma(`index_list("${table}")`) as Array<{ name: string; partial: number }>) {
        // A partial index does not serve a parent's delete or update, which must see every row.
        if (index.partial) continue;
        const cols = db.pragma(`index_info("${index.name}")`) as Array<{ seqno: number; name: string }>;
        const first = cols.find((c) => c.seqno === 0)?.name;
        if (first) leading.add(first);
      }
      // An INTEGER PRIMARY KEY is the rowid: indexed by the table itself.
      const columns = db.pragma(`table_info("${table}")`) as Array<{ name: string; type: string; pk: number }>;
      const pkCols = columns.filter((c) => c.pk > 0);
      if (pkCols.length === 1 && pkCols[0]!.type.toUpperCase() === 'INTEGER') leading.add(pkCols[0]!.name);
      for (const fk of fks.filter((f) => f.seq === 0)) {
        checked++;
        if (!leading.has(fk.from)) missing.push(`${table}.${fk.from} -> ${fk.table}`);
      }
    }
    expect(checked).toBeGreaterThan(10);
    expect(missing, 'foreign keys without an index on their column').toEqual([]);
  });

  it('the session lookup is by primary key, joined to its user by primary key', () => {
    const { db: rec, sql } = recordingDb(db);
    // Any session function prepares the store's statements on the recording handle.
    countLiveSessions(rec, 0, 0);
    const find = sql.find((s) => /FROM sessions s JOIN users u/.test(s));
    expect(find, 'the session lookup statement').toBeDefined();
    const details = plan(db, find!);
    expect(details).toEqual(
      expect.arrayContaining([expect.stringMatching(/^SEARCH s USING INDEX sqlite_autoindex_sessions_1 \(id_hash=\?\)/), expect.stringMatching(/^SEARCH u USING INTEGER PRIMARY KEY \(rowid=\?\)/)]),
    );
  });

  it('the queue never scans the jobs table: claim, position, lease and supersede use indexes', () => {
    const { db: rec, sql } = recordingDb(db);
    createJobQueue(rec, fixedClock());
    const claim = sql.find((s) => /ORDER BY priority DESC, id\s+LIMIT 1/.test(s) && /UPDATE jobs SET state = 'running'/.test(s));
    const position = sql.find((s) => /count\(\*\) AS n FROM jobs WHERE state = 'queued' AND \(priority >/.test(s));
    expect(claim, 'the claim statement').toBeDefined();
    expect(position, 'the queue position statement').toBeDefined();
    expect(plan(db, claim!).join('\n')).toMatch(/jobs USING (COVERING )?INDEX jobs_poll/);
    expect(plan(db, position!).join('\n')).toMatch(/jobs USING (COVERING )?INDEX jobs_poll/);
    const scans = sql.flatMap((s) => fullScans(plan(db, s), 'jobs').map((d) => `${d}\n    in ${s.replace(/\s+/g, ' ').trim()}`));
    expect(scans, 'statements of the queue that scan the whole jobs table').toEqual([]);
  });
});
