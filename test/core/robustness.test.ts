import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Agent, type TestApp } from '../helpers/index.js';
import { signIn } from '../helpers/accounts.js';

/**
 * Every route, every method it answers, with values a user could send: nothing a user does may
 * produce a 5xx. Identities: anonymous, a student, a lecturer, a site admin (the last three with
 * valid CSRF tokens, so the handlers themselves are reached).
 */
const PARAM_VALUES: Record<string, string[]> = {
  course: ['prog1', 'nope', '..', '%00'],
  slug: ['caesar', 'nope', 'a'.repeat(300)],
  id: ['1', '0', '-1', '99999999999999999999', 'abc', '1.5'],
  user: ['1', 'abc', '999999'],
  batch: ['x', '1'],
  name: ['caesar.c', '..%2f..%2fetc%2fpasswd', '%00'],
  number: ['1', 'x'],
  token: ['x', 'a'.repeat(64)],
  provider: ['nope', 'google'],
  version: ['1', '999', 'x'],
};
const FALLBACK = ['x', '..', '%2e%2e'];

function expand(path: string): string[] {
  const names = [...path.matchAll(/:([A-Za-z]+)(\+|\*)?/g)].map((m) => m[1]!);
  let out = [path];
  for (const name of names) {
    const values = PARAM_VALUES[name] ?? FALLBACK;
    out = out.flatMap((p) => values.map((v) => p.replace(new RegExp(`:${name}(\\+|\\*)?`), v)));
  }
  // Keep the run bounded: the first combinations exercise each value at least once.
  return out.slice(0, 12);
}

const BODIES: Array<{ label: string; type: string | null; body: string | null }> = [
  { label: 'no body', type: null, body: null },
  { label: 'empty form', type: 'application/x-www-form-urlencoded', body: '' },
  { label: 'odd form', type: 'application/x-www-form-urlencoded', body: 'user=abc&until=not-a-date&version=-1&seed=%ZZ&files=1&email=%00&name=' + 'x'.repeat(2000) },
  { label: 'bad JSON', type: 'application/json', body: '{"user": ' },
  { label: 'JSON array', type: 'application/json', body: '[1,2,3]' },
  { label: 'malformed multipart', type: 'multipart/form-data; boundary=zz', body: '--zz\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n\r\nPK\u0003\u0004garbage' },
  { label: 'text', type: 'text/plain', body: 'hello' },
];

let t: TestApp;
const agents: Array<{ who: string; agent: Agent }> = [];

beforeAll(async () => {
  t = await createTestApp({ config: { graders: 0 } });
  agents.push({ who: 'anonymous', agent: t.agent() });
  agents.push({ who: 'student', agent: await signIn(t) });
  agents.push({ who: 'lecturer', agent: await signIn(t, { role: 'lecturer' }) });
  agents.push({ who: 'admin', agent: await signIn(t, { admin: true, role: null }) });
});
afterAll(async () => {
  await t.close();
});

describe('no request a user can make causes a server error', () => {
  it('covers every registered route', () => {
    const routes = t.app.routes();
    expect(routes.length).toBeGreaterThan(30);
  });

  it('GET and HEAD with odd parameters and queries', async () => {
    const failures: string[] = [];
    let sent = 0;
    for (const route of t.app.routes().filter((r) => r.methods.includes('GET'))) {
      for (const path of expand(route.path)) {
        for (const { who, agent } of agents) {
          for (const query of ['', '?as=nobody&seed=%ZZ&before=abc&page=-1&next=//evil.example&excel=1&course=..']) {
            for (const accept of ['text/html', 'application/json']) {
              const res = await agent.fetch(path + query, { headers: { accept } });
              sent++;
              await res.arrayBuffer().catch(() => undefined);
              if (res.status >= 500 && res.status !== 503) failures.push(`${who} GET ${path}${query} (${accept}) -> ${res.status}`);
            }
          }
        }
      }
    }
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(1000);
  }, 240_000);

  it('POST, PUT and DELETE with odd bodies, with and without a valid CSRF token', async () => {
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    for (const route of t.app.routes().filter((r) => r.methods.some((m) => m !== 'GET'))) {
      for (const method of route.methods.filter((m) => m !== 'GET')) {
        for (const path of expand(route.path).slice(0, 4)) {
          for (const { who, agent } of agents) {
            for (const b of BODIES) {
              const headers: Record<string, string> = { accept: 'application/json' };
              if (b.type) headers['content-type'] = b.type;
              if (agent.csrf) headers['x-csrf-token'] = agent.csrf;
              const sep = path.includes('?') ? '&' : '?';
              const url = agent.csrf && b.type?.startsWith('multipart') ? `${path}${sep}_csrf=${encodeURIComponent(agent.csrf)}` : path;
              const res = await agent.fetch(url, { method, headers, ...(b.body !== null ? { body: b.body } : {}) });
              const text = await res.text();
              statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
              if (res.status >= 500 && res.status !== 503) failures.push(`${who} ${method} ${path} [${b.label}] -> ${res.status} ${text.slice(0, 200)}`);
              else if (res.status >= 400 && !/^\{/.test(text.trim())) failures.push(`${who} ${method} ${path} [${b.label}] -> ${res.status} without a JSON error`);
            }
          }
        }
      }
    }
    expect(failures).toEqual([]);
    // The handlers were reached, not only the CSRF check: validation answers came back too.
    const answered = [...statuses].filter(([s]) => s !== 403).reduce((n, [, c]) => n + c, 0);
    expect(answered).toBeGreaterThan(100);
  }, 240_000);

  it('survives absurd headers and URLs', async () => {
    const agent = agents[1]!.agent;
    const cases: Array<[string, RequestInit]> = [
      ['/courses/prog1/' + 'a/'.repeat(2000), {}],
      ['/%', {}],
      ['/courses/%E0%A4%A/', {}],
      ['/static/%00', {}],
      ['/', { headers: { accept: '*/*;q=bogus', 'accept-language': 'x'.repeat(4000) } }],
      ['/', { headers: { cookie: 'lectern_session=' + 'x'.repeat(3000) } }],
      ['/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '999999999' }, body: 'a=b' }],
    ];
    for (const [path, init] of cases) {
      const res = await agent.fetch(path, init).catch((err: Error) => ({ status: 0, err }) as unknown as Response);
      if ('err' in res) continue; // the client refused to send it, which is fine
      expect(res.status, path.slice(0, 60)).toBeLessThan(500);
    }
    expect((await t.fetch('/healthz')).status).toBe(200);
  });
});
