import type { Transporter } from 'nodemailer';
import type { MailConfig } from '../../config.js';
import type { Deps } from '../../plugin.js';
import { claimMail, markFailed, markRetry, markSent, type OutboxRow } from './outbox.js';

/**
 * Sends the outbox, one message at a time over a pooled SMTP connection, in the process that runs
 * the plugins' start() (the cluster's primary). A message is leased while it is sent; a process
 * that dies mid-send leaves the lease to run out and the message is sent again (it keeps its
 * Message-ID, so the rare duplicate is recognisable). A failure the server calls permanent for
 * this message (5xx on the envelope or the message) ends it at once; anything else (server down,
 * refused login, timeouts) is retried with back-off until `maxAttempts`.
 */
const LEASE_MS = 5 * 60_000;
const MAX_BACKOFF_MS = 6 * 3600_000;
/** How long a stop waits for a send in flight before leaving it to the lease. */
const STOP_WAIT_MS = 5_000;

export function backoffMs(config: MailConfig, attempts: number): number {
  return Math.min(MAX_BACKOFF_MS, config.retryMs * 2 ** Math.max(0, attempts - 1));
}

function permanent(err: unknown): boolean {
  const e = err as { code?: string; responseCode?: number };
  if (e.code !== 'EENVELOPE' && e.code !== 'EMESSAGE') return false;
  return e.responseCode === undefined || e.responseCode >= 500;
}

function describe(err: unknown): string {
  const e = err as { code?: string; responseCode?: number; response?: string; message?: string };
  return [e.code, e.responseCode, e.response ?? e.message].filter((x) => x !== undefined && x !== '').join(' ');
}

/** `beforeRound` runs at the start of every round (queues messages made from other plugins' data). */
export function startDrainer(deps: Deps, config: MailConfig, beforeRound?: () => void): () => Promise<void> {
  const log = deps.log;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | null = null;
  let transport: Transporter | undefined;

  async function transporter(): Promise<Transporter> {
    if (!transport) {
      // Loaded on first use: a server that never sends mail does not pay for it at start-up.
      const { default: nodemailer } = await import('nodemailer');
      transport = nodemailer.createTransport({
        host: config.host,
        port: config.port,
        secure: config.secure,
        ...(config.user ? { auth: { user: config.user, pass: config.password ?? '' } } : {}),
        pool: true,
        maxConnections: 1,
        connectionTimeout: 30_000,
        greetingTimeout: 30_000,
        socketTimeout: 60_000,
      });
    }
    return transport;
  }

  async function sendOne(row: OutboxRow): Promise<void> {
    const now = () => deps.clock.now();
    try {
      const t = await transporter();
      await t.sendMail({
        from: config.from,
        to: row.recipient,
        subject: row.subject,
        text: row.body,
        messageId: row.message_id,
        headers: { 'Auto-Submitted': 'auto-generated' },
      });
      markSent(deps.db, row.id, now());
      log.info({ mail: row.id, kind: row.kind, attempts: row.attempts }, 'mail sent');
    } catch (err) {
      const reason = describe(err);
      if (permanent(err) || row.attempts >= config.maxAttempts) {
        markFailed(deps.db, row.id, reason);
        log.error({ mail: row.id, kind: row.kind, attempts: row.attempts, reason }, 'mail failed for good');
      } else {
        const at = now() + backoffMs(config, row.attempts);
        markRetry(deps.db, row.id, at, reason);
        log.warn({ mail: row.id, kind: row.kind, attempts: row.attempts, reason, retryAt: at }, 'mail not sent; will retry');
      }
    }
  }

  async function drain(): Promise<void> {
    try {
      beforeRound?.();
    } catch (err) {
      // A busy database: the next round looks again, from the same place.
      log.warn({ err }, 'could not queue result notifications');
    }
    while (!stopped) {
      let row: OutboxRow | undefined;
      try {
        row = claimMail(deps.db, deps.clock.now(), LEASE_MS);
      } catch (err) {
        // A busy or full database: the rows stay and the next round tries again.
        log.warn({ err }, 'could not read the mail outbox');
        return;
      }
      if (!row) return;
      await sendOne(row);
    }
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      running = drain()
        .catch((err: unknown) => log.error({ err }, 'mail drain failed'))
        .finally(() => {
          running = null;
          schedule();
        });
    }, config.pollMs);
    timer.unref();
  }

  running = drain()
    .catch((err: unknown) => log.error({ err }, 'mail drain failed'))
    .finally(() => {
      running = null;
      schedule();
    });

  return async () => {
    stopped = true;
    clearTimeout(timer);
    if (running) {
      let wait: NodeJS.Timeout | undefined;
      await Promise.race([running, new Promise<void>((resolve) => (wait = setTimeout(resolve, STOP_WAIT_MS)))]);
      clearTimeout(wait);
    }
    transport?.close();
  };
}
