import type { Plugin } from '../../plugin.js';
import { userCommand, usersCommand } from './commands.js';
import { csrfMiddleware } from './csrf.js';
import { localHandlers } from './local.js';
import { oauthHandlers } from './oauth.js';
import { oidcHandlers } from './oidc.js';
import { resetHandlers } from './reset.js';
import { rosterHandlers } from './roster-page.js';
import { accountRoutes } from './routes.js';
import { sessionMiddleware } from './session.js';
import { startUpkeep } from './upkeep.js';

/**
 * Accounts: sessions and CSRF (middleware for every request), sign-in (password, OpenID Connect,
 * OAuth), sign-up links, password reset, rosters. What an app keeps (the CSRF key, the sign-in
 * providers' client configurations) lives in what create() returns; sessions, users and
 * enrolments are plain functions over the database (sessions.ts, users.ts, members.ts).
 */
const accounts: Plugin = {
  name: 'accounts',
  needs: ['mail'],
  commands: { users: usersCommand, user: userCommand },
  create(deps) {
    const handlers = {
      local: localHandlers(deps),
      reset: resetHandlers(deps),
      roster: rosterHandlers(deps),
      oidc: oidcHandlers(deps),
      oauth: oauthHandlers(deps),
    };
    return {
      middleware: [sessionMiddleware(deps), csrfMiddleware(deps)],
      routes: (r) => accountRoutes(r, handlers),
      start: () => startUpkeep(deps),
    };
  },
};

export default accounts;
