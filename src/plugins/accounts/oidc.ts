import type * as OpenId from 'openid-client';
import type { OidcProviderConfig } from '../../config.js';
import type { RouteContext } from '../../core/routes.js';
import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import { wantsJson } from '../../core/http.js';
import { UserError } from '../../lib/errors.js';
import { clearCookie, setCookie, startSession } from './session.js';
import type { AppContext, Deps } from '../../plugin.js';
import { isToken, randomToken, sha256 } from './sessions.js';
import { findUserByEmail, findUserById, normaliseEmail, toCurrentUser } from './users.js';
import { safeNext } from './util.js';

/**
 * Single sign-on with OpenID Connect (authorization code flow with PKCE; state and nonce checked
 * by openid-client). Any number of providers come from config.oidc. A provider identity is linked
 * to an existing user the first time, by an e-mail address the provider says it has verified;
 * nobody gets an account by signing in: the roster decides who is on a course.
 */
export const OIDC_COOKIE = 'lectern_oidc';
export const OIDC_COOKIE_PATH = '/auth/oidc/';
const TRANSACTION_MS = 10 * 60_000;

export function redirectUri(publicUrl: string, providerId: string): string {
  return `${publicUrl}/auth/oidc/${providerId}/callback`;
}

/** openid-client refuses plain http; a provider on this machine (tests, development) may use it (an issuer or an OAuth endpoint). */
export function isLoopbackIssuer(issuer: string): boolean {
  const u = new URL(issuer);
  return u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
}

interface Transaction {
  provider: string;
  state: string;
  nonce: string;
  code_verifier: string;
  next: string;
  expires_at: number;
}

function statements(db: Db) {
  return {
    insert: db.prepare<{ id_hash: string; provider: string; state: string; nonce: string; verifier: string; next: string; expires: number }>(
      `INSERT INTO oidc_transactions (id_hash, provider, state, nonce, code_verifier, next, expires_at)
       VALUES (:id_hash, :provider, :state, :nonce, :verifier, :next, :expires)`,
    ),
    take: db.prepare<{ id_hash: string }, Transaction>(
      'DELETE FROM oidc_transactions WHERE id_hash = :id_hash RETURNING provider, state, nonce, code_verifier, next, expires_at',
    ),
    identity: db.prepare<{ provider: string; subject: string }, { user_id: number }>('SELECT user_id FROM oidc_identities WHERE provider = :provider AND subject = :subject'),
    link: db.prepare<{ provider: string; subject: string; user_id: number; email: string | null; now: number }>(
      `INSERT INTO oidc_identities (provider, subject, user_id, email, created_at, last_login_at)
       VALUES (:provider, :subject, :user_id, :email, :now, :now)`,
    ),
    seen: db.prepare<{ provider: string; subject: string; email: string | null; now: number }>(
      'UPDATE oidc_identities SET last_login_at = :now, email = coalesce(:email, email) WHERE provider = :provider AND subject = :subject',
    ),
    prune: db.prepare<{ now: number }>('DELETE FROM oidc_transactions WHERE expires_at <= :now'),
  };
}

const statementsFor = preparedFor(statements);

/** Sign-ins (OpenID Connect and OAuth, oauth.ts) that were started and never completed: gone once expired. */
export function pruneSignInTransactions(db: Db, now: number): number {
  return statementsFor(db).prune.run({ now }).changes;
}

/** Whether the provider vouches for the address: OIDC's email_verified, or Entra's xms_edov. */
function emailVerified(claims: Record<string, unknown>): boolean {
  const v = claims.email_verified ?? claims.xms_edov;
  return v === true || v === 'true';
}

/** The provider is down: not the user's fault, but they should be told what to do (not a generic 500). */
function unavailable(ctx: AppContext, provider: OidcProviderConfig): void {
  const message = `Signing in with ${provider.name} is not possible right now: Lectern could not reach it. Try again in a few minutes, or sign in with your password.`;
  ctx.set('Retry-After', '60');
  if (wantsJson(ctx)) ctx.body = { error: message, status: 503, requestId: ctx.state.requestId };
  else ctx.render('error.njk', { status: 503, title: 'Sign-in unavailable', message });
  ctx.status = 503;
}

/** openid-client wraps the precise reason (which claim failed) in `cause`; the log wants it. */
function explain(err: unknown): { claim?: string; reason: string } {
  const reasons: string[] = [];
  let claim: string | undefined;
  let e = err as { message?: string; cause?: unknown; claim?: unknown } | undefined;
  for (let depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    if (typeof e.message === 'string') reasons.push(e.message);
    if (typeof e.claim === 'string') claim ??= e.claim;
    e = e.cause as typeof e;
  }
  return { ...(claim ? { claim } : {}), reason: reasons.join(': ') };
}

/** The sign-in and callback of every configured OpenID Connect provider; null when none is (routes.ts then declares none). */
export function oidcHandlers(deps: Deps) {
  if (!deps.config.oidc.length) return null;
  // Loaded only when a provider is configured: openid-client and its JOSE library take a
  // noticeable part of the start-up time of a server that never uses them.
  const openid = import('openid-client');
  // Awaited by every handler; this only keeps a failure from counting as unhandled meanwhile.
  openid.catch(() => undefined);
  const sql = statementsFor(deps.db);
  const discovered = new Map<string, Promise<OpenId.Configuration>>();

  function configFor(provider: OidcProviderConfig): Promise<OpenId.Configuration> {
    let pending = discovered.get(provider.id);
    if (!pending) {
      pending = openid.then((client) => {
        const options: OpenId.DiscoveryRequestOptions = isLoopbackIssuer(provider.issuer) ? { execute: [client.allowInsecureRequests], timeout: 10 } : { timeout: 10 };
        return client.discovery(new URL(provider.issuer), provider.clientId, provider.clientSecret, provider.clientSecret ? undefined : client.None(), options);
      });
      // A provider that was down is asked again next time rather than remembered as broken.
      pending.catch(() => discovered.delete(provider.id));
      discovered.set(provider.id, pending);
    }
    return pending;
  }

  function providerFor(id: string | undefined): OidcProviderConfig {
    const provider = deps.config.oidc.find((p) => p.id === id);
    if (!provider) throw new UserError(404, 'There is no such sign-in provider.');
    return provider;
  }

  async function begin(ctx: RouteContext) {
    const provider = providerFor(ctx.params.provider);
    let config: OpenId.Configuration;
    try {
      config = await configFor(provider);
    } catch (err) {
      ctx.state.log.error({ err, provider: provider.id }, 'OpenID provider discovery failed');
      return unavailable(ctx, provider);
    }
    const client = await openid;
    const id = randomToken(32);
    const state = client.randomState();
    const nonce = client.randomNonce();
    const verifier = client.randomPKCECodeVerifier();
    const now = deps.clock.now();
    sql.insert.run({ id_hash: sha256(id), provider: provider.id, state, nonce, verifier, next: safeNext(ctx.query.next), expires: now + TRANSACTION_MS });
    setCookie(ctx, deps.config, OIDC_COOKIE, id, { maxAge: TRANSACTION_MS / 1000, path: OIDC_COOKIE_PATH });
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri(deps.config.publicUrl, provider.id),
      scope: 'openid email profile',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(url.href);
  }

  async function callback(ctx: RouteContext) {
    const provider = providerFor(ctx.params.provider);
    ctx.set('Cache-Control', 'no-store');
    const cookie = ctx.cookies.get(OIDC_COOKIE);
    clearCookie(ctx, deps.config, OIDC_COOKIE, OIDC_COOKIE_PATH);
    // Taken (deleted) before anything else: a callback URL works once, even if replayed at once.
    const tx = isToken(cookie) ? sql.take.all({ id_hash: sha256(cookie) })[0] : undefined;
    if (!tx || tx.provider !== provider.id || tx.expires_at <= deps.clock.now()) {
      ctx.state.log.info({ provider: provider.id, hadCookie: !!cookie }, 'OpenID callback without a live sign-in');
      throw new UserError(400, `This sign-in with ${provider.name} has expired, was already completed, or was started in another browser. Start again from the sign-in page.`);
    }
    if (typeof ctx.query.error === 'string') {
      ctx.state.log.info({ provider: provider.id, error: ctx.query.error }, 'provider refused sign-in');
      const why = typeof ctx.query.error_description === 'string' ? ctx.query.error_description : ctx.query.error;
      throw new UserError(403, `${provider.name} did not sign you in (${why.slice(0, 200)}). Start again from the sign-in page.`);
    }
    let config: OpenId.Configuration;
    try {
      config = await configFor(provider);
    } catch (err) {
      ctx.state.log.error({ err, provider: provider.id }, 'OpenID provider discovery failed');
      return unavailable(ctx, provider);
    }
    const client = await openid;
    const current = new URL(redirectUri(deps.config.publicUrl, provider.id));
    current.search = ctx.querystring;
    let claims: Record<string, unknown>;
    try {
      const tokens = await client.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: tx.code_verifier,
        expectedState: tx.state,
        expectedNonce: tx.nonce,
        idTokenExpected: true,
      });
      claims = { ...(tokens.claims() ?? {}) };
      if (typeof claims.email !== 'string' && typeof claims.sub === 'string') {
        // Some providers put the address only in userinfo.
        const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
        claims = { ...info, ...claims, email: info.email, email_verified: info.email_verified };
      }
    } catch (err) {
      const e = err as { code?: string; message?: string; error?: string };
      const { claim, reason } = explain(err);
      ctx.state.log.warn({ provider: provider.id, code: e.code, error: e.error, claim, reason }, 'OpenID sign-in rejected');
      throw new UserError(400, `The sign-in with ${provider.name} could not be completed (${e.error ?? e.code ?? 'the answer did not check out'}). Start again from the sign-in page.`);
    }
    const subject = String(claims.sub);
    const email = typeof claims.email === 'string' ? normaliseEmail(claims.email) : null;
    const now = deps.clock.now();
    let userId = sql.identity.get({ provider: provider.id, subject })?.user_id;
    if (userId !== undefined) {
      sql.seen.run({ provider: provider.id, subject, email, now });
    } else {
      if (!email) throw new UserError(403, `${provider.name} did not tell Lectern your e-mail address, so your account cannot be matched to a course roster. Ask your lecturer.`);
      if (!emailVerified(claims)) {
        ctx.state.log.info({ provider: provider.id, email }, 'OpenID e-mail not verified');
        throw new UserError(403, `${provider.name} has not verified the e-mail address of your account (${email}), so Lectern cannot match it to a course roster. Ask your lecturer.`);
      }
      const user = findUserByEmail(deps.db, email);
      if (!user) {
        ctx.state.log.info({ provider: provider.id, email }, 'OpenID user not on any roster');
        throw new UserError(403, `Your university account (${email}) is not on any course roster; ask your lecturer.`);
      }
      sql.link.run({ provider: provider.id, subject, user_id: user.id, email, now });
      ctx.state.log.info({ provider: provider.id, userId: user.id }, 'OpenID identity linked');
      userId = user.id;
    }
    const user = findUserById(deps.db, userId);
    if (!user) throw new UserError(403, 'Your account no longer exists. Ask your lecturer.');
    startSession(ctx, deps, toCurrentUser(user));
    ctx.state.log.info({ userId: user.id, method: `oidc:${provider.id}` }, 'signed in');
    ctx.redirect(safeNext(tx.next));
  }

  return { begin, callback };
}

export type OidcHandlers = NonNullable<ReturnType<typeof oidcHandlers>>;
