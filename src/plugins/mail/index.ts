import { fromOldShape, type OldShapePlugin } from '../../core/assemble.js';
import { startDrainer } from './drain.js';
import { createMailer } from './mailer.js';
import { notifyResults } from './notify.js';
import { mailRoutes } from './routes.js';

/**
 * Outgoing mail over SMTP: the outbox (outbox.ts), the service other plugins queue messages
 * through (mailer.ts), the background sender (drain.ts) and the staff's view of what was sent.
 */
const mail: OldShapePlugin = {
  name: 'mail',
  routes(router, deps) {
    mailRoutes(router, deps);
  },
  async start(deps) {
    const config = deps.config.mail;
    if (!config) return async () => undefined;
    const mailer = createMailer(deps);
    return startDrainer(deps, config, () => notifyResults(deps, mailer));
  },
};

export default fromOldShape(mail);
