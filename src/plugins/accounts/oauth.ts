import type * as OpenId from 'openid-client';
import type { OAuthProviderConfig } from '../../config.js';
import type { RouteContext } from '../../core/routes.js';
import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import { wantsJson } from '../../core/http.js';
import { UserError } from '../../lib/errors.js';
import { clearCookie, setCookie, startSession } from './session.js';
import type { AppContext, Deps } from '../../plugin.js';
import { holdsStaffPower } from './authority.js';
import { isToken, randomToken, sha256 } from './sessions.js';
import { findUserByEmail, findUserById, isEmail, normaliseEmail, toCurrentUser, type UserRow } from './users.js';
import { isLoopbackIssuer } from './oidc.js';
import { safeNext } from './util.js';

/**
 * Sign-in with plain OAuth 2.0 providers (GitHub, Facebook, X, or any provider with a userinfo
 * endpoint), through the same client library as OpenID Connect (openid-client): authorization
 * code flow with PKCE and state; the user is whoever the userinfo endpoint names.
 *
 * Nobody gets an account or a role by signing in. A provider identity is linked to a Lectern
 * account either
 * - by its owner, signed in, pressing "Connect" on the account page (any account), or
 * - on first sign-in, by an address the provider says is verified, and only to an account that
 *   holds no power beyond a student's (authority.ts `holdsStaffPower`): a provider's word about
 *   an address is not enough to open an administrator's or a staff member's account.
 * An identity linked by address that later leads to an account with staff power is refused until
 * the owner connects it while signed in, so a sign-in never brings a role by e-mail alone.
 */
export const OAUTH_COOKIE = 'lectern_oauth';
export const OAUTH_COOKIE_PATH = '/auth/oauth/';
const TRANSACTION_MS = 10 * 60_000;
const USER_AGENT = 'Lectern';

export function oauthRedirectUri(publicUrl: string, providerId: string): string {
  return `${publicUrl}/auth/oauth/${providerId}/callback`;
}

interface Transaction {
  provider: string;
  state: string;
  code_verifier: string;
  next: string;
  expires_at: number;
  link_user_id: number | null;
}

function statements(db: Db) {
  return {
    insert: db.prepare<{ id_hash: string; provider: string; state: string; verifier: string; next: string; expires: number; link: number | null }>(
      `INSERT INTO oidc_transactions (id_hash, provider, state, nonce, code_verifier, next, expires_at, link_user_id)
       VALUES (:id_hash, :provider, :state, '', :verifier, :next, :expires, :link)`,
    ),
    take: db.prepare<{ id_hash: string }, Transaction>('DELETE FROM oidc_transactions WHERE id_hash = :id_hash RETURNING provider, state, code_verifier, next, expires_at, link_user_id'),
    identity: db.prepare<{ provider: string; subject: string }, { user_id: number; linked_by: 'email' | 'account' | null }>(
      'SELECT user_id, linked_by FROM oidc_identities WHERE provider = :provider AND subject = :subject',
    ),
    link: db.prepare<{ provider: string; subject: string; user_id: number; email: string | null; now: number; by: 'email' | 'account' }>(
      `INSERT INTO oidc_identities (provider, subject, user_id, email, created_at, last_login_at, linked_by)
       VALUES (:provider, :subject, :user_id, :email, :now, :now, :by)`,
    ),
    relink: db.prepare<{ provider: string; subject: string; email: string | null; now: number }>(
      `UPDATE oidc_identities SET linked_by = 'account', email = coalesce(:email, email), last_login_at = :now WHERE provider = :provider AND subject = :subject`,
    ),
    seen: db.prepare<{ provider: string; subject: string; email: string | null; now: number }>(
      'UPDATE oidc_identities SET last_login_at = :now, email = coalesce(:email, email) WHERE provider = :provider AND subject = :subject',
    ),
    ofUser: db.prepare<{ user_id: number }, { provider: string; email: string | null; linked_by: string | null }>('SELECT provider, email, linked_by FROM oidc_identities WHERE user_id = :user_id'),
  };
}

const statementsFor = preparedFor(statements);

/** A dotted path into a JSON answer ("data.confirmed_email"). */
function pick(value: unknown, path: string): unknown {
  let v = value;
  for (const key of path.split('.')) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** Who the provider says the user is: a stable subject, a name, and the addresses it has verified (preferred first). */
export interface ProviderIdentity {
  subject: string;
  name: string | null;
  email: string | null;
  verified: string[];
}

class ProviderAnswerError extends Error {}

async function getJson(client: typeof OpenId, config: OpenId.Configuration, token: string, url: string): Promise<unknown> {
  const res = await client.fetchProtectedResource(config, token, new URL(url), 'GET', undefined, new Headers({ accept: 'application/json', 'user-agent': USER_AGENT }));
  if (!res.ok) throw new ProviderAnswerError(`${new URL(url).pathname} answered ${res.status}`);
  try {
    return await res.json();
  } catch {
    throw new ProviderAnswerError(`${new URL(url).pathname} did not answer JSON`);
  }
}

export async function readIdentity(client: typeof OpenId, config: OpenId.Configuration, provider: OAuthProviderConfig, token: string): Promise<ProviderIdentity> {
  const info = await getJson(client, config, token, provider.userinfoEndpoint);
  const rawSubject = pick(info, provider.subjectField);
  if ((typeof rawSubject !== 'string' && typeof rawSubject !== 'number') || String(rawSubject) === '') throw new ProviderAnswerError(`userinfo has no "${provider.subjectField}"`);
  const rawName = pick(info, provider.nameField);
  const rawEmail = pick(info, provider.emailField);
  const email = typeof rawEmail === 'string' && isEmail(normaliseEmail(rawEmail)) ? normaliseEmail(rawEmail) : null;
  const verified: string[] = [];
  if (provider.emailVerified === 'emails-endpoint') {
    const list = await getJson(client, config, token, provider.emailsEndpoint!);
    if (Array.isArray(list)) {
      // GitHub: [{email, verified, primary}]; the primary address first.
      const entries = list.filter((e): e is { email: string; verified: unknown; primary?: unknown } => !!e && typeof (e as { email?: unknown }).email === 'string');
      entries.sort((a, b) => Number(b.primary === true) - Number(a.primary === true));
      for (const e of entries) if (e.verified === true && isEmail(normaliseEmail(e.email))) verified.push(normaliseEmail(e.email));
    }
  } else if (email) {
    const flag = provider.emailVerified === 'always' ? true : pick(info, provider.emailVerified);
    if (flag === true || flag === 'true') verified.push(email);
  }
  return { subject: String(rawSubject), name: typeof rawName === 'string' ? rawName : null, email: email ?? verified[0] ?? null, verified: [...new Set(verified)] };
}

function unavailable(ctx: AppContext, provider: OAuthProviderConfig): void {
  const message = `Signing in with ${provider.name} is not possible right now: Lectern could not reach it. Try again in a few minutes, or sign in with your password.`;
  ctx.set('Retry-After', '60');
  if (wantsJson(ctx)) ctx.body = { error: message, status: 503, requestId: ctx.state.requestId };
  else ctx.render('error.njk', { status: 503, title: 'Sign-in unavailable', message });
  ctx.status = 503;
}

/** Connected providers of a user, for the account page. */
export function connectedProviders(deps: Deps, userId: number): Array<{ id: string; name: string; email: string | null }> {
  const rows = statementsFor(deps.db).ofUser.all({ user_id: userId });
  return deps.config.oauth.flatMap((p) => {
    const row = rows.find((r) => r.provider === p.id);
    return row ? [{ id: p.id, name: p.name, email: row.email }] : [];
  });
}

/** Sign-in, connect and callback of every configured OAuth 2.0 provider; null when none is (routes.ts then declares none). */
export function oauthHandlers(deps: Deps) {
  if (!deps.config.oauth.length) return null;
  // Loaded only when a provider is configured (start-up time), as for OpenID Connect.
  const openid = import('openid-client');
  openid.catch(() => undefined);
  const sql = statementsFor(deps.db);
  const configs = new Map<string, Promise<OpenId.Configuration>>();

  function configFor(provider: OAuthProviderConfig): Promise<OpenId.Configuration> {
    let pending = configs.get(provider.id);
    if (!pending) {
      pending = openid.then((client) => {
        const auth = !provider.clientSecret ? client.None() : provider.tokenAuth === 'client_secret_post' ? client.ClientSecretPost(provider.clientSecret) : client.ClientSecretBasic(provider.clientSecret);
        const config = new client.Configuration(
          {
            // Plain OAuth 2.0 has no issuer identifier; the authorization server's origin stands in.
            issuer: new URL(provider.authorizationEndpoint).origin,
            authorization_endpoint: provider.authorizationEndpoint,
            token_endpoint: provider.tokenEndpoint,
            userinfo_endpoint: provider.userinfoEndpoint,
          },
          provider.clientId,
          undefined,
          auth,
        );
        if ([provider.authorizationEndpoint, provider.tokenEndpoint, provider.userinfoEndpoint].some(isLoopbackIssuer)) client.allowInsecureRequests(config);
        config.timeout = 10;
        return config;
      });
      configs.set(provider.id, pending);
    }
    return pending;
  }

  function providerFor(id: string | undefined): OAuthProviderConfig {
    const provider = deps.config.oauth.find((p) => p.id === id);
    if (!provider) throw new UserError(404, 'There is no such sign-in provider.');
    return provider;
  }

  async function begin(ctx: AppContext, provider: OAuthProviderConfig, next: string, linkUserId: number | null) {
    const config = await configFor(provider);
    const client = await openid;
    const id = randomToken(32);
    const state = client.randomState();
    const verifier = client.randomPKCECodeVerifier();
    sql.insert.run({ id_hash: sha256(id), provider: provider.id, state, verifier, next, expires: deps.clock.now() + TRANSACTION_MS, link: linkUserId });
    setCookie(ctx, deps.config, OAUTH_COOKIE, id, { maxAge: TRANSACTION_MS / 1000, path: OAUTH_COOKIE_PATH });
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: oauthRedirectUri(deps.config.publicUrl, provider.id),
      scope: provider.scope,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(url.href);
  }

  async function signIn(ctx: RouteContext) {
    const provider = providerFor(ctx.params.provider);
    await begin(ctx, provider, safeNext(ctx.query.next), null);
  }

  /** Connecting a provider to the signed-in account: a form (CSRF-checked), never a link to follow. */
  async function connect(ctx: RouteContext) {
    const provider = providerFor(ctx.params.provider);
    await begin(ctx, provider, '/account?done=connected', ctx.state.user!.id);
  }

  async function callback(ctx: RouteContext) {
    const provider = providerFor(ctx.params.provider);
    ctx.set('Cache-Control', 'no-store');
    const cookie = ctx.cookies.get(OAUTH_COOKIE);
    clearCookie(ctx, deps.config, OAUTH_COOKIE, OAUTH_COOKIE_PATH);
    // Taken (deleted) before anything else: a callback URL works once.
    const tx = isToken(cookie) ? sql.take.all({ id_hash: sha256(cookie) })[0] : undefined;
    if (!tx || tx.provider !== provider.id || tx.expires_at <= deps.clock.now()) {
      ctx.state.log.info({ provider: provider.id, hadCookie: !!cookie }, 'OAuth callback without a live sign-in');
      throw new UserError(400, `This sign-in with ${provider.name} has expired, was already completed, or was started in another browser. Start again from the sign-in page.`);
    }
    if (tx.link_user_id !== null && ctx.state.user?.id !== tx.link_user_id) {
      throw new UserError(400, `Connecting ${provider.name} was started by another session. Sign in and start again from your account page.`);
    }
    if (typeof ctx.query.error === 'string') {
      ctx.state.log.info({ provider: provider.id, error: ctx.query.error }, 'provider refused sign-in');
      const why = typeof ctx.query.error_description === 'string' ? ctx.query.error_description : ctx.query.error;
      throw new UserError(403, `${provider.name} did not sign you in (${why.slice(0, 200)}). Start again from the sign-in page.`);
    }
    const client = await openid;
    const config = await configFor(provider);
    const current = new URL(oauthRedirectUri(deps.config.publicUrl, provider.id));
    current.search = ctx.querystring;
    let tokens: OpenId.TokenEndpointResponse;
    try {
      tokens = await client.authorizationCodeGrant(config, current, { pkceCodeVerifier: tx.code_verifier, expectedState: tx.state });
    } catch (err) {
      const e = err as { code?: string; error?: string; cause?: { code?: string } };
      if (e.code === 'OAUTH_RESPONSE_BODY_ERROR' || e.error) {
        ctx.state.log.warn({ provider: provider.id, code: e.code, error: e.error }, 'OAuth sign-in rejected');
        throw new UserError(400, `The sign-in with ${provider.name} could not be completed (${e.error ?? e.code}). Start again from the sign-in page.`);
      }
      if (typeof e.code === 'string' && e.code.startsWith('OAUTH_')) {
        ctx.state.log.warn({ provider: provider.id, code: e.code }, 'OAuth answer did not check out');
        throw new UserError(400, `The sign-in with ${provider.name} could not be completed (the answer did not check out). Start again from the sign-in page.`);
      }
      ctx.state.log.error({ err, provider: provider.id }, 'OAuth token endpoint unreachable');
      return unavailable(ctx, provider);
    }
    let identity: ProviderIdentity;
    try {
      identity = await readIdentity(client, config, provider, tokens.access_token);
    } catch (err) {
      if (err instanceof ProviderAnswerError) {
        ctx.state.log.warn({ provider: provider.id, reason: err.message }, 'OAuth userinfo unusable');
        throw new UserError(502, `${provider.name} did not say who you are (${err.message}). Try again, or sign in with your password.`);
      }
      ctx.state.log.error({ err, provider: provider.id }, 'OAuth userinfo unreachable');
      return unavailable(ctx, provider);
    }
    const now = deps.clock.now();
    const linked = sql.identity.get({ provider: provider.id, subject: identity.subject });
    let user: UserRow | undefined;
    if (tx.link_user_id !== null) {
      if (linked && linked.user_id !== tx.link_user_id) throw new UserError(409, `This ${provider.name} account is already connected to another Lectern account.`);
      if (linked) sql.relink.run({ provider: provider.id, subject: identity.subject, email: identity.email, now });
      else sql.link.run({ provider: provider.id, subject: identity.subject, user_id: tx.link_user_id, email: identity.email, now, by: 'account' });
      ctx.state.log.info({ provider: provider.id, userId: tx.link_user_id }, 'OAuth identity connected by its owner');
      return ctx.redirect(safeNext(tx.next));
    }
    if (linked) {
      user = findUserById(deps.db, linked.user_id);
      if (!user) throw new UserError(403, 'Your account no longer exists. Ask your lecturer.');
      if (linked.linked_by !== 'account' && holdsStaffPower(deps, user)) {
        ctx.state.log.info({ provider: provider.id, userId: user.id }, 'OAuth identity linked by address refused for a staff account');
        throw new UserError(403, `Your account now has staff rights, so ${provider.name} alone no longer opens it. Sign in with your password, then connect ${provider.name} on your account page.`);
      }
      sql.seen.run({ provider: provider.id, subject: identity.subject, email: identity.email, now });
    } else {
      if (!identity.verified.length) {
        ctx.state.log.info({ provider: provider.id, hasEmail: !!identity.email }, 'OAuth sign-in without a verified address');
        throw new UserError(403, `${provider.name} did not give Lectern a verified e-mail address${identity.email ? ` (${identity.email} is not verified there)` : ''}, so your account cannot be matched to a course roster. Verify the address with ${provider.name}, or sign in with your password and connect ${provider.name} on your account page.`);
      }
      const candidates = [...new Map(identity.verified.flatMap((a) => { const u = findUserByEmail(deps.db, a); return u ? [[u.id, u] as const] : []; })).values()];
      if (!candidates.length) {
        ctx.state.log.info({ provider: provider.id }, 'OAuth user not on any roster');
        throw new UserError(403, `None of the verified addresses of your ${provider.name} account (${identity.verified.slice(0, 3).join(', ')}) is on a course roster; ask your lecturer.`);
      }
      if (candidates.length > 1) throw new UserError(409, `Your ${provider.name} account has addresses of several Lectern accounts. Sign in with your password, then connect ${provider.name} on your account page.`);
      user = candidates[0]!;
      if (holdsStaffPower(deps, user)) {
        ctx.state.log.info({ provider: provider.id, userId: user.id }, 'OAuth link by address refused for a staff account');
        throw new UserError(403, `Staff and administrator accounts are not opened by a ${provider.name} address alone. Sign in with your password, then connect ${provider.name} on your account page.`);
      }
      sql.link.run({ provider: provider.id, subject: identity.subject, user_id: user.id, email: identity.email, now, by: 'email' });
      ctx.state.log.info({ provider: provider.id, userId: user.id }, 'OAuth identity linked by verified address');
    }
    startSession(ctx, deps, toCurrentUser(user));
    ctx.state.log.info({ userId: user.id, method: `oauth:${provider.id}` }, 'signed in');
    ctx.redirect(safeNext(tx.next));
  }

  return { signIn, connect, callback };
}

export type OAuthHandlers = NonNullable<ReturnType<typeof oauthHandlers>>;
