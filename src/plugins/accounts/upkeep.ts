import type { Deps } from '../../plugin.js';
import { pruneSignInTransactions } from './oidc.js';
import { generatePassword, hashPassword } from './password.js';
import { pruneLoginFailures } from './rate-limit.js';
import { prunePasswordResets } from './reset.js';
import { pruneSessions } from './sessions.js';
import { pruneSignupTokens } from './signup.js';
import { countUsers, createUser } from './users.js';

export const FIRST_ADMIN_EMAIL = 'admin@localhost';

/**
 * On the very first start (no users at all) there must be someone who can sign in: create an
 * admin and tell the operator its password, once. Not in tests, which create their own users.
 * The password is hashed on the thread pool while the server starts listening (the hash is a
 * third of a fresh start); nobody can sign in as the admin before its password is printed anyway.
 */
async function ensureFirstAdmin(deps: Deps): Promise<void> {
  if (deps.config.env === 'test' || countUsers(deps.db) > 0) return;
  const password = generatePassword();
  const passwordHash = await hashPassword(password);
  try {
    createUser(deps.db, { email: FIRST_ADMIN_EMAIL, name: 'Administrator', passwordHash, isAdmin: true }, deps.clock);
  } catch (err) {
    // Another worker process won the race; it prints the password.
    if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') return;
    throw err;
  }
  deps.log.warn({ email: FIRST_ADMIN_EMAIL }, 'created the first administrator');
  process.stderr.write(
    `\nLectern created the first administrator account (shown only this once):\n` +
      `  e-mail:   ${FIRST_ADMIN_EMAIL}\n  password: ${password}\n` +
      `Sign in at /login and change the password on the account page.\n\n`,
  );
}

/** Removes what has expired: sessions, counted sign-in failures, sign-up and reset links, unfinished provider sign-ins. */
function prune(deps: Deps): void {
  const now = deps.clock.now();
  try {
    pruneSessions(deps.db, now);
    pruneLoginFailures(deps.db, now);
    pruneSignupTokens(deps.db, now);
    prunePasswordResets(deps.db, now);
    pruneSignInTransactions(deps.db, now);
  } catch (err) {
    deps.log.error({ err }, 'pruning expired sessions failed');
  }
}

/** The accounts plugin's background work: the first administrator, then pruning every hour. */
export async function startUpkeep(deps: Deps): Promise<() => Promise<void>> {
  const firstAdmin = ensureFirstAdmin(deps).catch((err: unknown) => deps.log.error({ err }, 'creating the first administrator failed'));
  prune(deps);
  const timer = setInterval(() => prune(deps), 3600_000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await firstAdmin;
  };
}
