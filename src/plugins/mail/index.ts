import type { Plugin } from '../../plugin.js';
import { startDrainer } from './drain.js';
import { createMailer } from './mailer.js';
import { notifyResults } from './notify.js';
import { outboxHandlers } from './outbox-page.js';
import { mailRoutes } from './routes.js';

/**
 * Outgoing mail over SMTP: the outbox (outbox.ts), the `mail` service other plugins queue messages
 * through (mailer.ts), the background sender (drain.ts) and the staff's view of what was sent.
 */
const mail: Plugin = {
  name: 'mail',
  create(deps) {
    const mailer = createMailer(deps);
    const pages = outboxHandlers(deps);
    return {
      provides: { mail: mailer },
      routes: (r) => mailRoutes(r, pages),
      async start() {
        const config = deps.config.mail;
        if (!config) return async () => undefined;
        return startDrainer(deps, config, () => notifyResults(deps, mailer));
      },
    };
  },
};

export default mail;
