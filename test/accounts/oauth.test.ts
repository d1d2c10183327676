import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OAuth2Server } from 'oauth2-mock-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type OAuthProviderConfig } from '../../src/config.js';
import { countUsers } from '../../src/plugins/accounts/users.js';
import { createTestApp, type Agent, type TestApp } from '../helpers/index.js';
import { makeUser, signInAs } from '../helpers/accounts.js';

/**
 * Plain OAuth 2.0 sign-in (no ID token) against a real authorization server on loopback
 * (oauth2-mock-server: authorize, token with PKCE, userinfo), shaped like GitHub, X and a generic
 * provider; GitHub's list of addresses comes from a small resource server that checks the token.
 */
let server: OAuth2Server;
let emailsServer: http.Server;
let emailsUrl: string;
const issued = new Set<string>();
let userinfo: Record<string, unknown> = {};
let emails: Array<{ email: string; verified: boolean; primary: boolean }> = [];
let tokenAuth: string | undefined;

beforeAll(async () => {
  server = new OAuth2Server();
  await server.issuer.keys.generate('RS256');
  await server.start(0, '127.0.0.1');
  server.service.on('beforeResponse', (response: { body: Record<string, unknown> }, req: http.IncomingMessage) => {
    // A plain OAuth 2.0 provider: an access token, no ID token.
    delete response.body.id_token;
    issued.add(String(response.body.access_token));
    tokenAuth = req.headers.authorization;
  });
  server.service.on('beforeUserinfo', (response: { body: unknown; statusCode: number }, req: http.IncomingMessage) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token || !issued.has(token)) {
      response.statusCode = 401;
      response.body = { error: 'invalid_token' };
    } else response.body = userinfo;
  });
  emailsServer = http.createServer((req, res) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    res.setHeader('content-type', 'application/json');
    if (!token || !issued.has(token)) {
      res.statusCode = 401;
      res.end('{"message":"Bad credentials"}');
    } else res.end(JSON.stringify(emails));
  });
  await new Promise<void>((resolve) => emailsServer.listen(0, '127.0.0.1', resolve));
  emailsUrl = `http://127.0.0.1:${(emailsServer.address() as AddressInfo).port}/user/emails`;
});
afterAll(async () => {
  await server.stop();
  await new Promise((r) => emailsServer.close(r));
});

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
  userinfo = {};
  emails = [];
});

const PUBLIC_URL = 'http://lectern.test';

function providers(): OAuthProviderConfig[] {
  const base = server.issuer.url!;
  const endpoints = { authorizationEndpoint: `${base}/authorize`, tokenEndpoint: `${base}/token`, userinfoEndpoint: `${base}/userinfo` };
  return loadConfig({
    NODE_ENV: 'test',
    LECTERN_OAUTH: JSON.stringify([
      { id: 'campus', name: 'Campus Login', clientId: 'lectern', clientSecret: 'secret', ...endpoints, scope: 'profile email' },
      { preset: 'github', clientId: 'gh-client', clientSecret: 'gh-secret', ...endpoints, emailsEndpoint: emailsUrl },
      { preset: 'x', clientId: 'x-client', clientSecret: 'x-secret', ...endpoints },
    ]),
  }).oauth;
}

async function app(): Promise<TestApp> {
  return createTestApp({ config: { publicUrl: PUBLIC_URL, oauth: providers() } });
}

/** Browser -> Lectern -> provider -> back: the callback path the provider redirected to. */
async function viaProvider(agent: Agent, start: Response): Promise<{ authorize: URL; callback: string }> {
  expect(start.status).toBe(302);
  const authorize = new URL(start.headers.get('location')!);
  const back = await fetch(authorize, { redirect: 'manual' });
  expect(back.status).toBe(302);
  const callback = new URL(back.headers.get('location')!);
  expect(callback.origin).toBe(PUBLIC_URL);
  return { authorize, callback: callback.pathname + callback.search };
}

async function signInWith(agent: Agent, provider: string): Promise<Response> {
  const { callback } = await viaProvider(agent, await agent.fetch(`/auth/oauth/${provider}?next=${encodeURIComponent('/courses/prog1/')}`));
  return agent.fetch(callback, { headers: { accept: 'text/html' } });
}

async function signedInEmail(agent: Agent): Promise<string | null> {
  const { res, text } = await agent.get('/account');
  if (res.status !== 200) return null;
  return /<dt>E-mail address<\/dt><dd>([^<]*)<\/dd>/.exec(text)?.[1] ?? null;
}

function links(app: TestApp): number {
  return (app.app.deps.db.prepare('SELECT count(*) AS n FROM oidc_identities').get() as { n: number }).n;
}

describe('OAuth 2.0 sign-in', () => {
  it('offers each provider on the sign-in page and sends the browser there with PKCE and state', async () => {
    t = await app();
    const agent = t.agent();
    const { text } = await agent.get('/login?next=/courses/prog1/');
    expect(text).toContain('href="/auth/oauth/github?next=%2Fcourses%2Fprog1%2F"');
    expect(text).toContain('Sign in with GitHub');
    expect(text).toContain('Sign in with X');
    expect(text).toContain('Sign in with Campus Login');
    const { authorize } = await viaProvider(agent, await agent.fetch('/auth/oauth/github'));
    const q = authorize.searchParams;
    expect(q.get('redirect_uri')).toBe(`${PUBLIC_URL}/auth/oauth/github/callback`);
    expect(q.get('client_id')).toBe('gh-client');
    expect(q.get('scope')).toBe('read:user user:email');
    expect(q.get('code_challenge_method')).toBe('S256');
    expect(q.get('state')).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(agent.cookies.get('lectern_oauth')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('links a student by a verified address, and later sign-ins follow the identity', async () => {
    t = await app();
    makeUser(t, { email: 'sam@uni.example', name: 'Sam Student' });
    userinfo = { sub: 'campus-42', email: 'Sam@Uni.Example', email_verified: true, name: 'Sam' };
    const agent = t.agent();
    const res = await signInWith(agent, 'campus');
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/courses/prog1/');
    expect(await signedInEmail(agent)).toBe('sam@uni.example');
    // client_secret_basic at the token endpoint.
    expect(tokenAuth).toBe(`Basic ${Buffer.from('lectern:secret').toString('base64')}`);
    userinfo = { sub: 'campus-42', email: 'sam.new@elsewhere.example', email_verified: false };
    const again = t.agent();
    expect((await signInWith(again, 'campus')).status).toBe(302);
    expect(await signedInEmail(again)).toBe('sam@uni.example');
  });

  it('does not link an unverified address, nor anyone not on a roster, and creates no account', async () => {
    t = await app();
    makeUser(t, { email: 'sam@uni.example' });
    const users = countUsers(t.app.deps.db);
    userinfo = { sub: 'impostor', email: 'sam@uni.example', email_verified: false };
    const agent = t.agent();
    const res = await signInWith(agent, 'campus');
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('(sam@uni.example is not verified there)');
    userinfo = { sub: 'stranger', email: 'stranger@uni.example', email_verified: true };
    const stranger = await signInWith(t.agent(), 'campus');
    expect(stranger.status).toBe(403);
    expect(await stranger.text()).toContain('is on a course roster; ask your lecturer');
    expect(links(t)).toBe(0);
    expect(countUsers(t.app.deps.db)).toBe(users);
    expect(await signedInEmail(agent)).toBeNull();
  });

  it('GitHub: links by a verified address from the list of addresses, not by the unverified profile one', async () => {
    t = await app();
    makeUser(t, { email: 'gina@uni.example', name: 'Gina' });
    makeUser(t, { email: 'someone.else@uni.example', name: 'Someone Else' });
    userinfo = { id: 9001, login: 'gina', name: 'Gina G', email: 'someone.else@uni.example' };
    emails = [
      { email: 'someone.else@uni.example', verified: false, primary: true },
      { email: 'Gina@uni.example', verified: true, primary: false },
    ];
    const agent = t.agent();
    const res = await signInWith(agent, 'github');
    expect(res.status).toBe(302);
    expect(await signedInEmail(agent)).toBe('gina@uni.example');
    // client_secret_post: no Basic header.
    expect(tokenAuth).toBeUndefined();
    const row = t.app.deps.db.prepare('SELECT provider, subject, linked_by FROM oidc_identities').get();
    expect(row).toEqual({ provider: 'github', subject: '9001', linked_by: 'email' });
  });

  it('X: reads the identity from data and the confirmed address', async () => {
    t = await app();
    makeUser(t, { email: 'xena@uni.example' });
    userinfo = { data: { id: '1234567', name: 'Xena', username: 'xena', confirmed_email: 'xena@uni.example' } };
    const agent = t.agent();
    expect((await signInWith(agent, 'x')).status).toBe(302);
    expect(await signedInEmail(agent)).toBe('xena@uni.example');
    userinfo = { data: { id: '7654321', name: 'No Mail' } };
    const other = await signInWith(t.agent(), 'x');
    expect(other.status).toBe(403);
    expect(await other.text()).toContain('X did not give Lectern a verified e-mail address');
  });

  it('never opens a staff or administrator account by address alone; its owner connects the provider while signed in', async () => {
    t = await app();
    const lena = makeUser(t, { email: 'lena@uni.example', role: 'lecturer' });
    const admin = makeUser(t, { email: 'root@uni.example', role: null, admin: true });
    userinfo = { sub: 'campus-lena', email: 'lena@uni.example', email_verified: true };
    const refused = await signInWith(t.agent(), 'campus');
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('Staff and administrator accounts are not opened by a Campus Login address alone');
    userinfo = { sub: 'campus-root', email: 'root@uni.example', email_verified: true };
    expect((await signInWith(t.agent(), 'campus')).status).toBe(403);
    expect(links(t)).toBe(0);

    // Lena signs in with her password and connects the provider from her account page.
    const signedIn = await signInAs(t, lena);
    const { text } = await signedIn.get('/account');
    expect(text).toContain('action="/auth/oauth/campus/connect"');
    userinfo = { sub: 'campus-lena', email: 'lena@private.example', email_verified: false };
    const { callback } = await viaProvider(signedIn, await signedIn.post('/auth/oauth/campus/connect'));
    const connected = await signedIn.fetch(callback);
    expect(connected.status).toBe(302);
    expect(connected.headers.get('location')).toBe('/account?done=connected');
    expect((await signedIn.get('/account')).text).toMatch(/Campus Login:\s*connected \(lena@private.example\)/);
    // From now on the provider opens her account.
    const later = t.agent();
    expect((await signInWith(later, 'campus')).status).toBe(302);
    expect(await signedInEmail(later)).toBe('lena@uni.example');
    expect(admin.id).toBeGreaterThan(0);
  });

  it('refuses an identity linked by address once its account has gained staff power', async () => {
    t = await app();
    const tim = makeUser(t, { email: 'tim@uni.example' });
    userinfo = { sub: 'campus-tim', email: 'tim@uni.example', email_verified: true };
    expect((await signInWith(t.agent(), 'campus')).status).toBe(302);
    makeUser(t, { email: tim.email, role: 'tutor', course: 'prog1' });
    const res = await signInWith(t.agent(), 'campus');
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('Your account now has staff rights');
  });

  it('refuses a connect started by another session, a forged state, a replayed callback, and connecting without CSRF', async () => {
    t = await app();
    makeUser(t, { email: 'sam@uni.example' });
    userinfo = { sub: 'campus-sam', email: 'sam@uni.example', email_verified: true };
    const agent = t.agent();
    const { callback } = await viaProvider(agent, await agent.fetch('/auth/oauth/campus'));
    const forged = new URL(callback, PUBLIC_URL);
    forged.searchParams.set('state', 'attacker-state');
    expect((await agent.fetch(forged.pathname + forged.search)).status).toBe(400);
    // The attempt is used up.
    expect((await agent.fetch(callback)).status).toBe(400);
    const ok = t.agent();
    const first = await viaProvider(ok, await ok.fetch('/auth/oauth/campus'));
    expect((await ok.fetch(first.callback)).status).toBe(302);
    expect((await ok.fetch(first.callback)).status).toBe(400);
    const victim = await signInAs(t, makeUser(t, { email: 'vic@uni.example' }));
    expect((await victim.fetch('/auth/oauth/campus/connect', { method: 'POST' })).status).toBe(403);
    // A connect started by the victim and finished in another browser does not link anything.
    const started = await viaProvider(victim, await victim.post('/auth/oauth/campus/connect'));
    const thief = t.agent();
    thief.cookies.set('lectern_oauth', victim.cookies.get('lectern_oauth')!);
    const res = await thief.fetch(started.callback);
    expect(res.status).toBe(400);
    expect(t.app.deps.db.prepare("SELECT count(*) AS n FROM oidc_identities WHERE user_id = (SELECT id FROM users WHERE email = 'vic@uni.example')").get()).toEqual({ n: 0 });
  });

  it('says so when the provider cannot be reached', async () => {
    const broken = providers().map((p) => ({ ...p, tokenEndpoint: 'http://127.0.0.1:9/token' }));
    t = await createTestApp({ config: { publicUrl: PUBLIC_URL, oauth: broken } });
    makeUser(t, { email: 'sam@uni.example' });
    const res = await signInWith(t.agent(), 'campus');
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('Signing in with Campus Login is not possible right now');
  });
});

describe('OAuth 2.0 configuration', () => {
  it('fills in the presets and refuses what cannot work', () => {
    const [gh, fb, x] = loadConfig({ NODE_ENV: 'test', LECTERN_OAUTH: '[{"preset":"github","clientId":"a"},{"preset":"facebook","clientId":"b"},{"preset":"x","clientId":"c"}]' }).oauth;
    expect(gh).toMatchObject({ id: 'github', name: 'GitHub', tokenEndpoint: 'https://github.com/login/oauth/access_token', emailVerified: 'emails-endpoint' });
    expect(fb).toMatchObject({ id: 'facebook', emailVerified: 'always', subjectField: 'id' });
    expect(x).toMatchObject({ id: 'x', emailField: 'data.confirmed_email', tokenAuth: 'client_secret_basic' });
    const bad = (oauth: unknown, oidc?: unknown) => () => loadConfig({ NODE_ENV: 'test', LECTERN_OAUTH: JSON.stringify(oauth), ...(oidc ? { LECTERN_OIDC: JSON.stringify(oidc) } : {}) });
    expect(bad([{ preset: 'myspace', clientId: 'a' }])).toThrow(ConfigError);
    expect(bad([{ id: 'plain', clientId: 'a', authorizationEndpoint: 'http://sso.example/authorize', tokenEndpoint: 'https://sso.example/token', userinfoEndpoint: 'https://sso.example/me' }])).toThrow(/must be an https URL/);
    expect(bad([{ id: 'plain', clientId: 'a' }])).toThrow(/needs "authorizationEndpoint"/);
    expect(bad([{ preset: 'github', clientId: 'a' }], [{ id: 'github', issuer: 'https://github.example', clientId: 'z' }])).toThrow(/used twice/);
  });
});
