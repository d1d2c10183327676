import { accessRule } from '../../core/routes.js';
import { requireUser } from '../../lib/auth.js';
import { UserError } from '../../lib/errors.js';

/** The site administrator; as for the audit log, the pages do not exist for anyone else (404). */
export const siteAdmin = accessRule('administrator', (ctx) => {
  const user = requireUser(ctx);
  if (!user.isAdmin) throw new UserError(404, 'There is nothing at this address.');
});
