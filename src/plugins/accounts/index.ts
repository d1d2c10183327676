import { csrfMiddleware } from '../../middleware/csrf.js';
import { fromOldShape, type OldShapePlugin } from '../../core/assemble.js';
import { sessionMiddleware, sessionStore } from '../../middleware/session.js';
import type { Deps } from '../../plugin.js';
import { userCommand, usersCommand } from './commands.js';
import { localRoutes } from './local.js';
import { oidcRoutes } from './oidc.js';
import { generatePassword, hashPassword } from './password.js';
import { createLoginLimiter } from './rate-limit.js';
import { oauthRoutes } from './oauth.js';
import { passwordResetRoutes, prunePasswordResets } from './reset.js';
import { rosterRoutes } from './roster-routes.js';
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

const accounts: OldShapePlugin = {
  name: 'accounts',
  middleware: (deps) => [sessionMiddleware(deps), csrfMiddleware(deps)],
  routes(router, deps) {
    localRoutes(router, deps);
    oidcRoutes(router, deps);
    oauthRoutes(router, deps);
    passwordResetRoutes(router, deps);
    rosterRoutes(router, deps);
  },
  async start(deps) {
    const firstAdmin = ensureFirstAdmin(deps).catch((err: unknown) => deps.log.error({ err }, 'creating the first administrator failed'));
    const limiter = createLoginLimiter(deps.db);
    const prune = () => {
      const now = deps.clock.now();
      try {
        sessionStore(deps.db).prune(now);
        limiter.prune(now);
        pruneSignupTokens(deps.db, now);
        prunePasswordResets(deps.db, now);
        deps.db.prepare('DELETE FROM oidc_transactions WHERE expires_at <= :now').run({ now });
      } catch (err) {
        deps.log.error({ err }, 'pruning expired sessions failed');
      }
    };
    prune();
    const timer = setInterval(prune, 3600_000);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await firstAdmin;
    };
  },
  commands: { users: usersCommand, user: userCommand },
};

export default fromOldShape(accounts);
