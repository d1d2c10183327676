import { OAuth2Server } from 'oauth2-mock-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { countUsers } from '../../src/plugins/accounts/users.js';
import { createTestApp, type Agent, type TestApp } from '../helpers/index.js';
import { makeUser } from '../helpers/accounts.js';

/**
 * Single sign-on against a real OpenID provider on loopback (oauth2-mock-server): discovery,
 * signed ID tokens, PKCE and nonce are all real; only the user's identity is chosen by the test.
 */
let provider: OAuth2Server;
let claims: Record<string, unknown> = {};
/** Rewrites the ID token's claims after the provider has filled them in. */
let tamper: ((payload: Record<string, unknown>) => void) | undefined;

beforeAll(async () => {
  provider = new OAuth2Server();
  await provider.issuer.keys.generate('RS256');
  await provider.start(0, '127.0.0.1');
  provider.service.on('beforeTokenSigning', (token: { payload: Record<string, unknown> }) => {
    Object.assign(token.payload, claims);
    if (token.payload.aud === 'lectern') tamper?.(token.payload);
  });
});
afterAll(async () => {
  await provider.stop();
});

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
  claims = {};
  tamper = undefined;
});

const PUBLIC_URL = 'http://lectern.test';

async function app(): Promise<TestApp> {
  return createTestApp({
    config: {
      publicUrl: PUBLIC_URL,
      oidc: [{ id: 'uni', name: 'Example University', issuer: provider.issuer.url!, clientId: 'lectern', clientSecret: 'client-secret' }],
    },
  });
}

/** Browser -> Lectern -> provider -> back: returns the callback path the provider redirected to. */
async function toProvider(agent: Agent, next = '/courses/prog1/'): Promise<{ authorize: URL; callback: string }> {
  const start = await agent.fetch(`/auth/oidc/uni?next=${encodeURIComponent(next)}`);
  expect(start.status).toBe(302);
  const authorize = new URL(start.headers.get('location')!);
  const back = await fetch(authorize, { redirect: 'manual' });
  expect(back.status).toBe(302);
  const callback = new URL(back.headers.get('location')!);
  expect(callback.origin).toBe(PUBLIC_URL);
  return { authorize, callback: callback.pathname + callback.search };
}

async function signedInName(agent: Agent): Promise<string | null> {
  const { res, text } = await agent.get('/account');
  if (res.status !== 200) return null;
  return /<dt>Name<\/dt><dd>([^<]*)<\/dd>/.exec(text)?.[1] ?? null;
}

describe('OpenID Connect sign-in', () => {
  it('offers the configured providers on the sign-in page', async () => {
    t = await app();
    const { text } = await t.agent().get('/login?next=/courses/prog1/');
    expect(text).toContain('href="/auth/oidc/uni?next=%2Fcourses%2Fprog1%2F"');
    expect(text).toContain('Sign in with Example University');
  });

  it('sends the browser to the provider with PKCE, state, nonce and the configured redirect URI', async () => {
    t = await app();
    const agent = t.agent();
    const { authorize } = await toProvider(agent);
    const q = authorize.searchParams;
    expect(authorize.origin + authorize.pathname).toBe(`${provider.issuer.url}/authorize`);
    expect(q.get('redirect_uri')).toBe(`${PUBLIC_URL}/auth/oidc/uni/callback`);
    expect(q.get('response_type')).toBe('code');
    expect(q.get('code_challenge_method')).toBe('S256');
    expect(q.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('state')).toBeTruthy();
    expect(q.get('nonce')).toBeTruthy();
    expect(q.get('scope')).toBe('openid email profile');
    expect(agent.cookies.get('lectern_oidc')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('signs a rostered user in by verified e-mail and remembers the identity', async () => {
    t = await app();
    makeUser(t, { email: 'ada@uni.example', name: 'Ada Lovelace' });
    claims = { sub: 'ada-subject', email: 'Ada@Uni.Example', email_verified: true };
    const agent = t.agent();
    const { callback } = await toProvider(agent);
    const res = await agent.fetch(callback);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/courses/prog1/');
    expect(agent.cookies.has('lectern_oidc')).toBe(false);
    expect(await signedInName(agent)).toBe('Ada Lovelace');

    // Later the provider's address changes; the identity (issuer subject) still leads to Ada.
    claims = { sub: 'ada-subject', email: 'ada.lovelace@uni.example', email_verified: false };
    const again = t.agent();
    const second = await toProvider(again);
    expect((await again.fetch(second.callback)).status).toBe(302);
    expect(await signedInName(again)).toBe('Ada Lovelace');
  });

  it('refuses a callback whose state does not match', async () => {
    t = await app();
    makeUser(t, { email: 'ada@uni.example' });
    claims = { sub: 'ada-subject', email: 'ada@uni.example', email_verified: true };
    const agent = t.agent();
    const { callback } = await toProvider(agent);
    const forged = new URL(callback, PUBLIC_URL);
    forged.searchParams.set('state', 'attacker-state');
    const res = await agent.fetch(forged.pathname + forged.search, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('The sign-in with Example University could not be completed');
    expect(await signedInName(agent)).toBeNull();
    expect(t.logs.some((l) => l.msg === 'OpenID sign-in rejected' && /"state"/.test(String(l.reason)))).toBe(true);
    // The attempt is used up: the genuine callback does not work afterwards either.
    expect((await agent.fetch(callback)).status).toBe(400);
  });

  it('refuses a replayed callback and a replayed code', async () => {
    t = await app();
    makeUser(t, { email: 'ada@uni.example' });
    claims = { sub: 'ada-subject', email: 'ada@uni.example', email_verified: true };
    const agent = t.agent();
    const first = await toProvider(agent);
    expect((await agent.fetch(first.callback)).status).toBe(302);

    // The same callback again (e.g. from history or a leaked URL), even in the same browser.
    const replay = await agent.fetch(first.callback, { headers: { accept: 'text/html' } });
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('has expired, was already completed, or was started in another browser');

    // An attacker starts their own attempt and slips in the victim's old code with their fresh state.
    const attacker = t.agent();
    const own = await toProvider(attacker);
    const mixed = new URL(own.callback, PUBLIC_URL);
    mixed.searchParams.set('code', new URL(first.callback, PUBLIC_URL).searchParams.get('code')!);
    const res = await attacker.fetch(mixed.pathname + mixed.search);
    expect(res.status).toBe(400);
    expect(await signedInName(attacker)).toBeNull();
    // The provider itself refused the code a second time.
    expect(t.logs.some((l) => l.msg === 'OpenID sign-in rejected' && l.code === 'OAUTH_RESPONSE_BODY_ERROR')).toBe(true);
  });

  it('refuses a callback from another browser (no transaction cookie)', async () => {
    t = await app();
    makeUser(t, { email: 'ada@uni.example' });
    claims = { sub: 'ada-subject', email: 'ada@uni.example', email_verified: true };
    const { callback } = await toProvider(t.agent());
    const other = t.agent();
    expect((await other.fetch(callback)).status).toBe(400);
    expect(await signedInName(other)).toBeNull();
  });

  it('refuses an ID token whose nonce does not match', async () => {
    t = await app();
    makeUser(t, { email: 'ada@uni.example' });
    claims = { sub: 'ada-subject', email: 'ada@uni.example', email_verified: true };
    tamper = (payload) => {
      payload.nonce = 'a-nonce-from-another-attempt';
    };
    const agent = t.agent();
    const { callback } = await toProvider(agent);
    const res = await agent.fetch(callback);
    expect(res.status).toBe(400);
    expect(await signedInName(agent)).toBeNull();
    expect(t.logs.some((l) => l.msg === 'OpenID sign-in rejected' && l.claim === 'nonce')).toBe(true);
  });

  it('does not link an unverified e-mail address', async () => {
    t = await app();
    makeUser(t, { email: 'ada@uni.example' });
    claims = { sub: 'impostor', email: 'ada@uni.example', email_verified: false };
    const agent = t.agent();
    const { callback } = await toProvider(agent);
    const res = await agent.fetch(callback, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('Example University has not verified the e-mail address of your account (ada@uni.example)');
    expect(await signedInName(agent)).toBeNull();
    const links = t.app.deps.db.prepare('SELECT count(*) AS n FROM oidc_identities').get() as { n: number };
    expect(links.n).toBe(0);
  });

  it('tells someone not on any roster to ask their lecturer, and creates no account', async () => {
    t = await app();
    const before = countUsers(t.app.deps.db);
    claims = { sub: 'stranger', email: 'stranger@uni.example', email_verified: true };
    const agent = t.agent();
    const { callback } = await toProvider(agent);
    const res = await agent.fetch(callback, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('Your university account (stranger@uni.example) is not on any course roster; ask your lecturer.');
    expect(countUsers(t.app.deps.db)).toBe(before);
  });

  it('escapes what the provider says', async () => {
    t = await app();
    claims = { sub: 'x', email: '<script>alert(1)</script>@uni.example', email_verified: true };
    const agent = t.agent();
    const { callback } = await toProvider(agent);
    const html = await (await agent.fetch(callback, { headers: { accept: 'text/html' } })).text();
    expect(html).not.toContain('<script>alert(1)');
    expect(html).toContain('&lt;script&gt;');
  });

  it('shows the provider refusing the sign-in', async () => {
    t = await app();
    const agent = t.agent();
    const { callback } = await toProvider(agent);
    const denied = new URL(callback, PUBLIC_URL);
    denied.searchParams.delete('code');
    denied.searchParams.set('error', 'access_denied');
    denied.searchParams.set('error_description', 'The user cancelled');
    const res = await agent.fetch(denied.pathname + denied.search, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('Example University did not sign you in (The user cancelled)');
  });

  it('says clearly when the provider cannot be reached', async () => {
    t = await createTestApp({ config: { publicUrl: PUBLIC_URL, oidc: [{ id: 'down', name: 'Down University', issuer: 'http://127.0.0.1:9/', clientId: 'x' }] } });
    const res = await t.agent().fetch('/auth/oidc/down', { headers: { accept: 'text/html' } });
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('Signing in with Down University is not possible right now');
    expect((await t.agent().fetch('/auth/oidc/nope')).status).toBe(404);
  });
});
