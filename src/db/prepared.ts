import type { Db } from './open.js';

/**
 * A plugin's prepared statements, made once per database handle and reused for every request.
 * Keyed by the handle (not module state) so that several apps in one process, as in the tests,
 * each get their own.
 */
export function preparedFor<T>(make: (db: Db) => T): (db: Db) => T {
  // A pure memo, not an app's state: prepared statements are a function of the handle alone (the
  // same handle always gives equal statements), they belong to it and go with it. So the handle
  // keys them here rather than each app's instance carrying every plugin's statements.
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
