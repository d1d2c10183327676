import { inputOf, type RouteContext } from '../../core/routes.js';
import { UserError } from '../../lib/errors.js';
import { currentSession, endSession, startSession } from './session.js';
import type { AppContext, Deps } from '../../plugin.js';
import { hashPassword, MAX_PASSWORD, needsRehash, passwordProblem, verifyPassword } from './password.js';
import { addressKey } from '../../lib/net.js';
import { beginLogin, blockedMessage, settleLogin } from './rate-limit.js';
import { destroyAllSessions } from './sessions.js';
import { loginForm, mailChoiceForm, newPasswordForm, passwordChangeForm } from './forms.js';
import { connectedProviders } from './oauth.js';
import { lookupSignupToken, useSignupTokens } from './signup.js';
import { enrolmentsOf, findUserByEmail, normaliseEmail, setCredentials, setMailResults, setPasswordHash, toCurrentUser } from './users.js';
import { formError, safeNext } from './util.js';

/** One message for an unknown address and a wrong password: the form must not reveal who has an account. */
export const LOGIN_FAILED = 'The e-mail address or the password is not right.';

const ACCOUNT_NOTICES: Record<string, string> = {
  password: 'Your password has been changed. Other devices have been signed out.',
  welcome: 'Your password is set. Welcome!',
  reset: 'Your new password is set. Other devices have been signed out.',
  connected: 'The sign-in provider is connected to your account.',
  'mail-on': 'You will get an e-mail when a result of your submissions is in.',
  'mail-off': 'You will no longer get an e-mail when a result is in.',
};

/** Every sign-in provider, OpenID Connect and plain OAuth 2.0, for the sign-in and account pages. */
export function providers(deps: Deps): Array<{ id: string; name: string; kind: 'oidc' | 'oauth' }> {
  return [...deps.config.oidc.map((p) => ({ id: p.id, name: p.name, kind: 'oidc' as const })), ...deps.config.oauth.map((p) => ({ id: p.id, name: p.name, kind: 'oauth' as const }))];
}

/** Local sign-in, sign-out, the account page, password change and the sign-up links (routes.ts declares them). */
export function localHandlers(deps: Deps) {
  function loginPage(ctx: RouteContext) {
    const next = safeNext(ctx.query.next);
    if (ctx.state.user) return ctx.redirect(next);
    ctx.set('Cache-Control', 'no-store');
    ctx.render('accounts/login.njk', { next, providers: providers(deps), email: '', mailOn: deps.config.mail !== null });
  }

  async function login(ctx: RouteContext) {
    const form = inputOf(ctx, loginForm);
    const next = safeNext(form.next);
    const email = normaliseEmail(form.email);
    const password = form.password;
    const vars = { next, providers: providers(deps), email, mailOn: deps.config.mail !== null };
    ctx.set('Cache-Control', 'no-store');
    if (!email || !password) return formError(ctx, 400, 'Enter your e-mail address and your password.', 'accounts/login.njk', vars);
    if (password.length > MAX_PASSWORD) return formError(ctx, 401, LOGIN_FAILED, 'accounts/login.njk', vars);
    const address = addressKey(ctx.ip);
    const now = deps.clock.now();
    const begun = beginLogin(deps.db, email, address, now);
    if ('blocked' in begun) {
      const { blocked } = begun;
      ctx.set('Retry-After', String(Math.max(1, Math.ceil((blocked.retryAtMs - now) / 1000))));
      ctx.state.log.warn({ scope: blocked.scope, address }, 'sign-in rate limited');
      return formError(ctx, 429, blockedMessage(blocked, now), 'accounts/login.njk', vars);
    }
    const user = findUserByEmail(deps.db, email);
    // verifyPassword runs scrypt even without a stored hash, so both failures take as long.
    const ok = (await verifyPassword(password, user?.password_hash)) && !!user;
    settleLogin(deps.db, begun.attempt, ok);
    if (!user || !ok) {
      ctx.state.log.info({ known: !!user, address }, 'sign-in failed');
      return formError(ctx, 401, LOGIN_FAILED, 'accounts/login.njk', vars);
    }
    if (user.password_hash && needsRehash(user.password_hash)) setPasswordHash(deps.db, user.id, await hashPassword(password));
    startSession(ctx, deps, toCurrentUser(user));
    ctx.state.log.info({ userId: user.id, method: 'password' }, 'signed in');
    ctx.redirect(next);
  }

  function logout(ctx: RouteContext) {
    if (ctx.state.user) ctx.state.log.info({ userId: ctx.state.user.id }, 'signed out');
    endSession(ctx, deps);
    ctx.redirect('/');
  }

  /** The account page; its routes are for signed-in users only (ctx.state.user is there). */
  function renderAccount(ctx: AppContext, extra: Record<string, unknown> = {}) {
    const user = ctx.state.user!;
    const row = findUserByEmail(deps.db, user.email);
    const courses = enrolmentsOf(deps.db, user.id).map((e) => ({ ...e, course: deps.content.course(e.course) ?? { slug: e.course, title: e.course } }));
    for (const c of deps.content.courses) {
      const staff = c.staff.find((s) => s.email === user.email);
      if (staff && !courses.some((e) => e.course.slug === c.slug)) courses.push({ course: c, role: staff.role });
    }
    const notice = typeof ctx.query.done === 'string' ? ACCOUNT_NOTICES[ctx.query.done] : undefined;
    const connected = connectedProviders(deps, user.id);
    ctx.set('Cache-Control', 'no-store');
    ctx.render('accounts/account.njk', {
      account: { ...user, hasPassword: !!row?.password_hash, mailResults: row?.mail_results === 1 },
      mailOn: deps.config.mail !== null,
      courses: courses.map((e) => ({ slug: e.course.slug, title: e.course.title, role: ctx.state.roleIn?.(e.course.slug) ?? e.role })),
      providers: providers(deps),
      oauth: deps.config.oauth.map((p) => {
        const c = connected.find((x) => x.id === p.id);
        return { id: p.id, name: p.name, connected: !!c, email: c?.email ?? null };
      }),
      ...(notice ? { flash: { kind: 'ok', message: notice } } : {}),
      ...extra,
    });
  }

  function accountPage(ctx: RouteContext) {
    renderAccount(ctx);
  }

  function mailChoice(ctx: RouteContext) {
    const user = ctx.state.user!;
    const { results } = inputOf(ctx, mailChoiceForm);
    setMailResults(deps.db, user.id, results === 'on');
    ctx.redirect(`/account?done=mail-${results}`);
  }

  async function changePassword(ctx: RouteContext) {
    const user = ctx.state.user!;
    const form = inputOf(ctx, passwordChangeForm);
    const row = findUserByEmail(deps.db, user.email);
    const fail = (status: number, message: string) => {
      if (ctx.accepts('html', 'json') === 'json') throw new UserError(status, message);
      renderAccount(ctx, { error: message });
      ctx.status = status;
    };
    if (!row?.password_hash) return fail(400, 'Your account has no password: you sign in through your university account.');
    const address = addressKey(ctx.ip);
    const now = deps.clock.now();
    const begun = beginLogin(deps.db, user.email, address, now);
    if ('blocked' in begun) {
      ctx.set('Retry-After', String(Math.max(1, Math.ceil((begun.blocked.retryAtMs - now) / 1000))));
      return fail(429, blockedMessage(begun.blocked, now));
    }
    const currentOk = await verifyPassword(form.current, row.password_hash);
    settleLogin(deps.db, begun.attempt, currentOk);
    if (!currentOk) return fail(422, 'The current password is not right.');
    const fresh = form.password;
    const problem = passwordProblem(fresh);
    if (problem) return fail(422, problem);
    if (fresh !== form.confirm) return fail(422, 'The new password and its confirmation differ.');
    const hash = await hashPassword(fresh);
    const old = currentSession(ctx);
    deps.db.transaction(() => {
      setPasswordHash(deps.db, user.id, hash);
      destroyAllSessions(deps.db, user.id);
    })();
    // This browser stays signed in, under a new session id; every other session is gone.
    if (old) ctx.state.session = null;
    startSession(ctx, deps, user);
    ctx.state.log.info({ userId: user.id }, 'password changed; other sessions ended');
    ctx.redirect('/account?done=password');
  }

  function signupFailure(reason: 'unknown' | 'used' | 'expired' | 'withdrawn'): UserError {
    if (reason === 'withdrawn') return new UserError(410, 'This sign-up link is no longer valid for this account. Ask your lecturer or the site administrator for a new one.');
    if (reason === 'unknown') return new UserError(404, 'This sign-up link is not valid. Check that you copied all of it, or ask your lecturer for a new one.');
    if (reason === 'used') return new UserError(410, 'This sign-up link has already been used. Sign in with your e-mail address and password.');
    return new UserError(410, 'This sign-up link has expired. Ask your lecturer for a new one.');
  }

  function signupPage(ctx: RouteContext) {
    const found = lookupSignupToken(deps, ctx.params.token ?? '');
    if (!found.ok) throw signupFailure(found.reason);
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.render('accounts/signup.njk', { invitee: toCurrentUser(found.user), token: ctx.params.token });
  }

  async function signup(ctx: RouteContext) {
    const token = ctx.params.token ?? '';
    const form = inputOf(ctx, newPasswordForm);
    const found = lookupSignupToken(deps, token);
    if (!found.ok) throw signupFailure(found.reason);
    const invitee = toCurrentUser(found.user);
    const password = form.password;
    const problem = passwordProblem(password) ?? (password !== form.confirm ? 'The password and its confirmation differ.' : null);
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Referrer-Policy', 'no-referrer');
    if (problem) return formError(ctx, 422, problem, 'accounts/signup.njk', { invitee, token });
    const hash = await hashPassword(password);
    // Checked again inside the transaction: two tabs posting the same link must not both win.
    const won = deps.db.transaction(() => {
      const again = lookupSignupToken(deps, token);
      if (!again.ok) return again.reason;
      setCredentials(deps.db, invitee.id, hash, again.via);
      useSignupTokens(deps.db, deps.clock, invitee.id);
      destroyAllSessions(deps.db, invitee.id);
      return null;
    })();
    if (won) throw signupFailure(won);
    startSession(ctx, deps, { ...invitee, claimedVia: found.via });
    ctx.state.log.info({ userId: invitee.id }, 'signed up');
    // Straight to the course they were invited to (its page greets them), not to a password form.
    const course = enrolmentsOf(deps.db, invitee.id).find((e) => deps.content.course(e.course))?.course;
    ctx.redirect(course ? `/courses/${encodeURIComponent(course)}/?welcome=1` : '/account?done=welcome');
  }

  return { loginPage, login, logout, accountPage, mailChoice, changePassword, signupPage, signup };
}

export type LocalHandlers = ReturnType<typeof localHandlers>;
