import { inputOf, type RouteContext } from '../../core/routes.js';
import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import { UserError } from '../../lib/errors.js';
import { startSession } from './session.js';
import type { Deps } from '../../plugin.js';
import { hashPassword, passwordProblem } from './password.js';
import { addressKey } from '../../lib/net.js';
import { destroyAllSessions, isToken, randomToken, sha256 } from './sessions.js';
import { useSignupTokens } from './signup.js';
import { findUserByEmail, findUserById, isEmail, normaliseEmail, setCredentials, toCurrentUser, type UserRow } from './users.js';
import { formError } from './util.js';
import { forgotForm, newPasswordForm } from './forms.js';

/**
 * "Forgot password" by e-mail. Whoever can read the account's mailbox may choose its password:
 * the same proof a staff listing by address rests on, so a reset also lifts the mark of a
 * course's sign-up link (authority.ts: the owner of the address has now spoken for it). The
 * answer to a request is the same whether or not the address has an account; the limits count
 * requests per client address whatever was typed, and per account (silently) so that nobody can
 * flood a mailbox.
 */
export const RESET_TTL_MS = 60 * 60_000;
const REQUEST_WINDOW_MS = 60 * 60_000;
export const RESET_LIMITS = { address: 20, account: 3 } as const;

export const RESET_SENT =
  'If an account with this address exists, a message with a link to choose a new password is on its way. The link works once, for one hour. Check your spam folder if nothing arrives within a few minutes.';

function statements(db: Db) {
  return {
    insert: db.prepare<{ token_hash: string; user_id: number; now: number; expires: number }>(
      'INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES (:token_hash, :user_id, :now, :expires)',
    ),
    find: db.prepare<{ token_hash: string }, { user_id: number; expires_at: number; used_at: number | null }>('SELECT user_id, expires_at, used_at FROM password_resets WHERE token_hash = :token_hash'),
    useAll: db.prepare<{ user_id: number; now: number }>('UPDATE password_resets SET used_at = :now WHERE user_id = :user_id AND used_at IS NULL'),
    recentForUser: db.prepare<{ user_id: number; since: number }, { n: number }>('SELECT count(*) AS n FROM password_resets WHERE user_id = :user_id AND created_at > :since'),
    recentFromAddress: db.prepare<{ address: string; since: number }, { n: number }>('SELECT count(*) AS n FROM password_reset_requests WHERE address = :address AND at > :since'),
    request: db.prepare<{ address: string; now: number }>('INSERT INTO password_reset_requests (address, at) VALUES (:address, :now)'),
    pruneResets: db.prepare<{ before: number }>('DELETE FROM password_resets WHERE expires_at <= :before'),
    pruneRequests: db.prepare<{ before: number }>('DELETE FROM password_reset_requests WHERE at <= :before'),
  };
}

const sql = preparedFor(statements);

export function prunePasswordResets(db: Db, now: number): void {
  // Kept a day after expiry, so that a late click says "expired" rather than "not valid".
  sql(db).pruneResets.run({ before: now - 24 * 3600_000 });
  sql(db).pruneRequests.run({ before: now - REQUEST_WINDOW_MS });
}

type Lookup = { ok: true; user: UserRow } | { ok: false; reason: 'unknown' | 'used' | 'expired' };

function lookup(db: Db, now: number, token: string): Lookup {
  if (!isToken(token)) return { ok: false, reason: 'unknown' };
  const row = sql(db).find.get({ token_hash: sha256(token) });
  if (!row) return { ok: false, reason: 'unknown' };
  if (row.used_at !== null) return { ok: false, reason: 'used' };
  if (row.expires_at <= now) return { ok: false, reason: 'expired' };
  const user = findUserById(db, row.user_id);
  return user ? { ok: true, user } : { ok: false, reason: 'unknown' };
}

function failure(reason: 'unknown' | 'used' | 'expired'): UserError {
  if (reason === 'unknown') return new UserError(404, 'This password reset link is not valid. Check that you copied all of it, or ask for a new one on the sign-in page.');
  if (reason === 'used') return new UserError(410, 'This password reset link has already been used. Sign in with your new password, or ask for a new link on the sign-in page.');
  return new UserError(410, 'This password reset link has expired (they work for one hour). Ask for a new one on the sign-in page.');
}

export function resetUrl(publicUrl: string, token: string): string {
  return `${publicUrl}/password/reset/${token}`;
}

/** "Forgot password": the request form, and the link's page that sets the new password (routes.ts declares them). */
export function resetHandlers(deps: Deps) {
  // The mail plugin's service, read when a request needs it (never while plugins are created).
  const mail = () => deps.services.mail;
  const page = 'accounts/forgot.njk';

  function forgotPage(ctx: RouteContext) {
    ctx.set('Cache-Control', 'no-store');
    ctx.render(page, { mailOn: mail().enabled, email: typeof ctx.query.email === 'string' ? ctx.query.email.slice(0, 254) : '' });
  }

  async function forgot(ctx: RouteContext) {
    const mailer = mail();
    const form = inputOf(ctx, forgotForm);
    const email = normaliseEmail(form.email);
    ctx.set('Cache-Control', 'no-store');
    const vars = { mailOn: mailer.enabled, email };
    if (!mailer.enabled) return formError(ctx, 409, 'This site sends no mail, so a password cannot be reset by e-mail. Ask your lecturer for a new sign-up link.', page, vars);
    if (!isEmail(email)) return formError(ctx, 400, 'email: enter the e-mail address of your account.', page, vars);
    const address = addressKey(ctx.ip);
    const now = deps.clock.now();
    const outcome = deps.db.transaction(() => {
      if ((sql(deps.db).recentFromAddress.get({ address, since: now - REQUEST_WINDOW_MS })?.n ?? 0) >= RESET_LIMITS.address) return 'limited' as const;
      sql(deps.db).request.run({ address, now });
      const user = findUserByEmail(deps.db, email);
      if (!user) return 'unknown' as const;
      if ((sql(deps.db).recentForUser.get({ user_id: user.id, since: now - REQUEST_WINDOW_MS })?.n ?? 0) >= RESET_LIMITS.account) return 'quiet' as const;
      const token = randomToken(32);
      sql(deps.db).insert.run({ token_hash: sha256(token), user_id: user.id, now, expires: now + RESET_TTL_MS });
      mailer.queue({
        kind: 'password-reset',
        template: 'mail/messages/password-reset.njk',
        vars: { name: user.name, email: user.email, url: resetUrl(deps.config.publicUrl, token), minutes: RESET_TTL_MS / 60_000 },
        to: user.email,
        userId: user.id,
      });
      return 'sent' as const;
    }).immediate();
    if (outcome === 'limited') {
      ctx.set('Retry-After', String(REQUEST_WINDOW_MS / 1000));
      return formError(ctx, 429, 'Too many password reset requests from your network in the last hour. Try again later.', page, vars);
    }
    ctx.state.log.info({ outcome, address }, 'password reset requested');
    ctx.render(page, { ...vars, flash: { kind: 'ok', message: RESET_SENT }, done: true });
  }

  function resetPage(ctx: RouteContext) {
    const found = lookup(deps.db, deps.clock.now(), ctx.params.token ?? '');
    if (!found.ok) throw failure(found.reason);
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.render('accounts/reset.njk', { account: toCurrentUser(found.user), token: ctx.params.token });
  }

  async function reset(ctx: RouteContext) {
    const token = ctx.params.token ?? '';
    const form = inputOf(ctx, newPasswordForm);
    const found = lookup(deps.db, deps.clock.now(), token);
    if (!found.ok) throw failure(found.reason);
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Referrer-Policy', 'no-referrer');
    const password = form.password;
    const problem = passwordProblem(password) ?? (password !== form.confirm ? 'The password and its confirmation differ.' : null);
    if (problem) return formError(ctx, 422, problem, 'accounts/reset.njk', { account: toCurrentUser(found.user), token });
    const hash = await hashPassword(password);
    // Checked again inside the transaction: the same link posted twice must not win twice.
    const lost = deps.db.transaction(() => {
      const again = lookup(deps.db, deps.clock.now(), token);
      if (!again.ok) return again.reason;
      setCredentials(deps.db, again.user.id, hash, null);
      sql(deps.db).useAll.run({ user_id: again.user.id, now: deps.clock.now() });
      useSignupTokens(deps.db, deps.clock, again.user.id);
      destroyAllSessions(deps.db, again.user.id);
      return null;
    })();
    if (lost) throw failure(lost);
    const user = findUserById(deps.db, found.user.id)!;
    startSession(ctx, deps, toCurrentUser(user));
    ctx.state.log.info({ userId: user.id }, 'password reset by e-mail; other sessions ended');
    ctx.redirect('/account?done=reset');
  }

  return { forgotPage, forgot, resetPage, reset };
}

export type ResetHandlers = ReturnType<typeof resetHandlers>;
