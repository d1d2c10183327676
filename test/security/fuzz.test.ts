import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeUser, signIn } from '../helpers/accounts.js';
import { createTestApp, type Agent, type TestApp } from '../helpers/index.js';

/**
 * Every route's body parser against deep, huge, odd-typed and broken JSON, forms and multipart,
 * as every role, over HTTP: whatever a client sends, the answer is a 4xx (or a success), never a
 * 5xx. The route list comes from the app itself, so a new route is fuzzed without a test change.
 */
let t: TestApp;
let studentId: number;
const roles: Array<[string, Agent]> = [];

beforeAll(async () => {
  t = await createTestApp({ config: { graders: 0 } });
  studentId = makeUser(t, { name: 'Fuzz Target' }).id;
  roles.push(['anonymous', t.agent()]);
  roles.push(['student', await signIn(t)]);
  roles.push(['tutor', await signIn(t, { email: 'tutor@example.org', role: null })]);
  roles.push(['lecturer', await signIn(t, { email: 'lecturer@example.org', role: null })]);
  await roles[0]![1].get('/login');
}, 60_000);

afterAll(async () => {
  await t?.close();
});

function fill(path: string): string {
  return path
    .replace(':course', 'prog1')
    .replace(':slug', 'caesar')
    .replace(':user', String(studentId))
    .replace(':id', '1')
    .replace(':batch', '1')
    .replace(':number', '1')
    .replace(':name', 'caesar.c')
    .replace(':provider', 'nope')
    .replace(':token', 'A'.repeat(43))
    .replace('*file', 'caesar.c');
}

const deep = (n: number) => `{"email":${'['.repeat(n)}${']'.repeat(n)},"password":${'{"a":'.repeat(n / 10)}1${'}'.repeat(n / 10)}}`;
const BOUNDARY = 'fuzzboundary';
const part = (name: string, value: string, filename?: string) =>
  `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"${filename === undefined ? '' : `; filename="${filename}"`}\r\n\r\n${value}\r\n`;

/** [label, content-type (null: none), body] */
const BODIES: Array<[string, string | null, string | Uint8Array<ArrayBuffer>]> = [
  ['json nested 200,000 deep', 'application/json', deep(200_000)],
  ['json 3 MB string', 'application/json', JSON.stringify({ email: 'x'.repeat(3 * 1024 * 1024) })],
  ['json array', 'application/json', '[1,2,3]'],
  ['json string', 'application/json', '"just a string"'],
  ['json null', 'application/json', 'null'],
  ['json odd types', 'application/json', '{"email":{"$ne":1},"password":[1,{"x":[]},null],"user":1e309,"days":true,"csv":{"toString":1},"__proto__":{"admin":true}}'],
  ['json broken', 'application/json', '{"email": "a@b.c",'],
  ['json utf-7 charset', 'application/json; charset=utf-7', '{"a":"+ADw-script+AD4-"}'],
  ['form bad percent-encoding', 'application/x-www-form-urlencoded', 'email=%E0%A4%A&password=%&user=%zz&days=%00'],
  ['form 20,000 fields', 'application/x-www-form-urlencoded', Array.from({ length: 20_000 }, (_, i) => `f${i}=${i}`).join('&')],
  ['form repeated and bracketed keys', 'application/x-www-form-urlencoded', 'user=1&user=2&user[]=3&user[a]=4&days=-1&days=1e9&until=not-a-date&csv=%00%01'],
  ['form 2 MB', 'application/x-www-form-urlencoded', `csv=${'a'.repeat(2 * 1024 * 1024)}`],
  ['multipart without boundary', 'multipart/form-data', part('a', 'b')],
  ['multipart truncated', `multipart/form-data; boundary=${BOUNDARY}`, `${part('csv', 'x@example.org, X, 1')}--${BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="a.c"\r\n\r\nint ma`],
  ['multipart traversal file names', `multipart/form-data; boundary=${BOUNDARY}`, `${part('files', 'x', '../../../etc/passwd')}${part('files', 'y', '/abs/caesar.c')}${part('files', 'z', 'caesar.c\u0000.txt')}--${BOUNDARY}--\r\n`],
  ['multipart 500 fields', `multipart/form-data; boundary=${BOUNDARY}`, `${Array.from({ length: 500 }, (_, i) => part(`f${i}`, String(i))).join('')}--${BOUNDARY}--\r\n`],
  ['multipart garbage', `multipart/form-data; boundary=${BOUNDARY}`, new Uint8Array(64 * 1024).map((_, i) => (i * 7919) % 256)],
  ['text/plain', 'text/plain', 'hello'],
  ['no content type', null, 'email=a&password=b'],
];

describe('no route answers a malformed body with a 5xx', () => {
  it('as every role, for every route and method', async () => {
    const routes = t.app
      .routes()
      // Signing out would end the role's session for the rest of the walk: it goes last.
      .sort((a, b) => Number(a.path === '/logout') - Number(b.path === '/logout'));
    expect(routes.length).toBeGreaterThan(30);
    const failures: string[] = [];
    for (const [role, agent] of roles) {
      for (const route of routes) {
        const path = fill(route.path);
        for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
          for (const [label, type, body] of BODIES) {
            if (method !== 'POST' && label !== 'json odd types') continue;
            const headers: Record<string, string> = { accept: label.startsWith('json') ? 'application/json' : 'text/html', 'x-csrf-token': agent.csrf };
            if (type) headers['content-type'] = type;
            const url = `${path}${path.includes('?') ? '&' : '?'}_csrf=${encodeURIComponent(agent.csrf)}`;
            let status: number;
            try {
              const res = await agent.fetch(url, { method, headers, body: typeof body === 'string' ? body : new Blob([body]) });
              status = res.status;
              await res.arrayBuffer();
            } catch {
              // The server may close a connection whose body it refused to read: not a 5xx.
              continue;
            }
            if (status >= 500) failures.push(`${role} ${method} ${path} [${label}] -> ${status}`);
          }
        }
        for (const method of ['GET', 'HEAD', 'OPTIONS']) {
          const res = await agent.fetch(`${path}?user=${studentId}&user[]=x&as=%00&seed=${'s'.repeat(200)}&next=//evil.example&done[]=1`, { method });
          await res.arrayBuffer();
          if (res.status >= 500) failures.push(`${role} ${method} ${path} [odd query] -> ${res.status}`);
        }
      }
    }
    const errors = t.logs.filter((l) => (l.level as number) >= 50).map((l) => String(l.msg));
    expect(failures).toEqual([]);
    expect(errors).toEqual([]);
  }, 600_000);
});
