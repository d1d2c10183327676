import type { Db } from './open.js';

/**
 * A plugin's prepared statements, made once per database handle and reused for every request.
 * Keyed by the handle (not module state) so that several apps in one process, as in the tests,
 * each get their own.
 */
export function preparedFor<T>(make: (db: Db) => T): (db: Db) => T {
  const cache = new WeakMap<Db, T>();
  return (db) => {
    let statements = cache.get(db);
    if (!statements) {
      statements = make(db);
      cache.set(db, statements);
    }
    return statements;
  };
}
