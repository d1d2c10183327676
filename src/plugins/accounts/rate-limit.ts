import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';

/**
 * Failed sign-ins are counted per account (the address typed, whether or not it exists, so the
 * limit reveals nothing) and per client address, in a sliding window kept in SQLite so that it
 * holds across restarts and worker processes.
 */
export const LOGIN_WINDOW_MS = 15 * 60_000;
export const LOGIN_LIMITS = {
  account: 5,
  // A lecture hall can sit behind one NAT address: generous, but still stops a scripted guesser.
  address: 50,
} as const;

export type Scope = keyof typeof LOGIN_LIMITS;

export interface Blocked {
  scope: Scope;
  retryAtMs: number;
}

/** An attempt counted against the limits while its password is checked; settle it once known. */
export interface Attempt {
  account: string;
  ids: number[];
}

function statements(db: Db) {
  const s = {
    insert: db.prepare<{ scope: Scope; key: string; at: number; settled: number }>('INSERT INTO login_failures (scope, key, at, settled) VALUES (:scope, :key, :at, :settled)'),
    recent: db.prepare<{ scope: Scope; key: string; since: number }, { at: number }>(
      'SELECT at FROM login_failures WHERE scope = :scope AND key = :key AND at > :since ORDER BY at',
    ),
    settle: db.prepare<{ id: number }>('UPDATE login_failures SET settled = 1 WHERE id = :id'),
    remove: db.prepare<{ id: number }>('DELETE FROM login_failures WHERE id = :id'),
    clearSettled: db.prepare<{ key: string; before: number }>("DELETE FROM login_failures WHERE scope = 'account' AND key = :key AND settled = 1 AND id < :before"),
    prune: db.prepare<{ before: number }>('DELETE FROM login_failures WHERE at <= :before'),
  };

  function check(scope: Scope, key: string, now: number): Blocked | null {
    const times = s.recent.all({ scope, key, since: now - LOGIN_WINDOW_MS }).map((r) => r.at);
    const limit = LOGIN_LIMITS[scope];
    if (times.length < limit) return null;
    // Allowed again once enough of the failures have left the window.
    const releasing = times[times.length - limit]!;
    return { scope, retryAtMs: releasing + LOGIN_WINDOW_MS };
  }

  return {
    ...s,
    begin: db.transaction((account: string, address: string, now: number): { blocked: Blocked } | { attempt: Attempt } => {
      const refused = check('account', account, now) ?? check('address', address, now);
      if (refused) return { blocked: refused };
      const ids = [
        Number(s.insert.run({ scope: 'account', key: account, at: now, settled: 0 }).lastInsertRowid),
        Number(s.insert.run({ scope: 'address', key: address, at: now, settled: 0 }).lastInsertRowid),
      ];
      s.prune.run({ before: now - LOGIN_WINDOW_MS });
      return { attempt: { account, ids } };
    }),
    settleAttempt: db.transaction((attempt: Attempt, ok: boolean): void => {
      if (!ok) {
        for (const id of attempt.ids) s.settle.run({ id });
        return;
      }
      for (const id of attempt.ids) s.remove.run({ id });
      s.clearSettled.run({ key: attempt.account, before: attempt.ids[0]! });
    }),
  };
}

const sql = preparedFor(statements);

/**
 * Checks the limits (per account first, then per address) and, when they allow it, counts the
 * attempt as a failure in the same transaction: of many attempts arriving at once, only as many as
 * the limit allows go on to have their password checked. Pass the result to settleLogin() once
 * the answer is known.
 */
export function beginLogin(db: Db, account: string, address: string, now: number): { blocked: Blocked } | { attempt: Attempt } {
  return sql(db).begin(account, address, now);
}

/**
 * A failure stays counted. A success removes its own rows and the account's failures settled
 * before it began, but not attempts still being checked beside it: those count when they fail.
 */
export function settleLogin(db: Db, attempt: Attempt, ok: boolean): void {
  sql(db).settleAttempt(attempt, ok);
}

export function pruneLoginFailures(db: Db, now: number): number {
  return sql(db).prune.run({ before: now - LOGIN_WINDOW_MS }).changes;
}

export function blockedMessage(b: Blocked, now: number): string {
  const minutes = Math.max(1, Math.ceil((b.retryAtMs - now) / 60_000));
  const when = `Try again in ${minutes} minute${minutes === 1 ? '' : 's'}`;
  return b.scope === 'account'
    ? `Too many failed sign-in attempts for this account. ${when}.`
    : `Too many failed sign-in attempts from your network. ${when}.`;
}
