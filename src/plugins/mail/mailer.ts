import nunjucks from 'nunjucks';
import type { Config } from '../../config.js';
import type { Db } from '../../db/open.js';
import type { Clock } from '../../lib/clock.js';
import { formatDateTime } from '../../lib/views.js';
import { VIEWS_DIR } from '../../paths.js';
import { enqueueMail } from './outbox.js';

/**
 * The mail service other plugins use: `deps.services.mail` (the mail plugin's one Mailer per app;
 * list 'mail' in the plugin's needs), then `mailer.queue(...)` inside the transaction that makes what the message tells (a sign-up
 * link, an invitation). Queueing writes one outbox row and never touches the network, so a
 * request is neither slowed nor failed by the mail server; the mail plugin's drainer sends it.
 * Without SMTP configured `enabled` is false and `queue` returns null: callers then show the
 * link on the page instead.
 */
export interface MailMessage {
  /** What it is, for the outbox view: "signup", "password-reset", "team-invite", ... */
  kind: string;
  /** A text view under views/: its first line is "Subject: …", then a blank line, then the body. */
  template: string;
  vars: Record<string, unknown>;
  to: string;
  userId?: number | null;
  /** The course whose staff see this message in their outbox view (null: site mail, administrator only). */
  course?: string | null;
}

export interface Mailer {
  readonly enabled: boolean;
  queue(message: MailMessage): number | null;
  /** Renders a message without queueing it (what would be sent). */
  render(template: string, vars: Record<string, unknown>): { subject: string; body: string };
}

declare module '../../plugin.js' {
  interface Services {
    /** Queues outgoing mail (src/plugins/mail/mailer.ts); `enabled` is false without SMTP. */
    mail: Mailer;
  }
}

/** The mail plugin's Mailer, made once per app; other plugins use `deps.services.mail`. */
export function createMailer(deps: { db: Db; clock: Clock; config: Config }): Mailer {
  // Text, not HTML: nothing is escaped, and a subject can never span lines (no header injection).
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(VIEWS_DIR, { noCache: deps.config.env === 'development' }), { autoescape: false, throwOnUndefined: false, trimBlocks: true, lstripBlocks: true });
  env.addFilter('datetime', (ms: unknown, tz?: string) => formatDateTime(ms, tz ?? 'UTC'));
  const domain = new URL(deps.config.publicUrl).hostname.replace(/^\[|\]$/g, '') || 'lectern';

  function render(template: string, vars: Record<string, unknown>): { subject: string; body: string } {
    const text = env.render(template, { publicUrl: deps.config.publicUrl, ...vars });
    const m = /^Subject:(.*)\r?\n\r?\n?([\s\S]*)$/.exec(text);
    if (!m) throw new Error(`mail template ${template} must begin with a "Subject:" line`);
    return { subject: m[1]!.replace(/\s+/g, ' ').trim().slice(0, 200), body: m[2]!.replace(/\s+$/, '') + '\n' };
  }

  return {
    enabled: deps.config.mail !== null,
    render,
    queue(message) {
      if (!deps.config.mail) return null;
      const { subject, body } = render(message.template, message.vars);
      return enqueueMail(deps.db, deps.clock.now(), { kind: message.kind, course: message.course ?? null, userId: message.userId ?? null, to: message.to, subject, body }, domain);
    },
  };
}
