import { isIPv6 } from 'node:net';
import type { Db } from '../../db/open.js';

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

/** IPv4 as is; IPv6 by its /64, since one host usually owns a whole /64. */
export function addressKey(ip: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4) return v4[1]!;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

export function createLoginLimiter(db: Db) {
  const s = {
    insert: db.prepare<{ scope: Scope; key: string; at: number }>('INSERT INTO login_failures (scope, key, at) VALUES (:scope, :key, :at)'),
    recent: db.prepare<{ scope: Scope; key: string; since: number }, { at: number }>(
      'SELECT at FROM login_failures WHERE scope = :scope AND key = :key AND at > :since ORDER BY at',
    ),
    clear: db.prepare<{ scope: Scope; key: string }>('DELETE FROM login_failures WHERE scope = :scope AND key = :key'),
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
    /** The first limit this attempt runs into, or null. */
    blocked(account: string, address: string, now: number): Blocked | null {
      return check('account', account, now) ?? check('address', address, now);
    },
    fail: db.transaction((account: string, address: string, now: number) => {
      s.insert.run({ scope: 'account', key: account, at: now });
      s.insert.run({ scope: 'address', key: address, at: now });
      s.prune.run({ before: now - LOGIN_WINDOW_MS });
    }),
    succeed(account: string): void {
      s.clear.run({ scope: 'account', key: account });
    },
    prune(now: number): number {
      return s.prune.run({ before: now - LOGIN_WINDOW_MS }).changes;
    },
  };
}

export type LoginLimiter = ReturnType<typeof createLoginLimiter>;

export function blockedMessage(b: Blocked, now: number): string {
  const minutes = Math.max(1, Math.ceil((b.retryAtMs - now) / 60_000));
  const when = `Try again in ${minutes} minute${minutes === 1 ? '' : 's'}`;
  return b.scope === 'account'
    ? `Too many failed sign-in attempts for this account. ${when}.`
    : `Too many failed sign-in attempts from your network. ${when}.`;
}
