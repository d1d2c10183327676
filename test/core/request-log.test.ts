import { afterEach, describe, expect, it } from 'vitest';
import type { Plugin } from '../../src/plugin.js';
import { anyone } from '../../src/core/routes.js';
import { plugins } from '../../src/plugins/index.js';
import { createTestApp, type TestApp } from '../helpers/index.js';
import { signIn } from '../helpers/accounts.js';

/**
 * The request log: one closing line per request, and every line a handler logs, carry the
 * request id (the X-Request-Id header) and, once signed in, the user. The logger is made lazily.
 */
const probe: Plugin = {
  name: 'probe',
  create: () => ({
    routes(router) {
    router.get('/probe/log', anyone, (ctx) => {
      ctx.state.log.info({ step: 1 }, 'probe line');
      ctx.body = { stateKeys: Object.keys({ ...ctx.state }) };
    });
    },
  }),
};

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('request log', () => {
  it('writes one closing line per request with its id, and no user when anonymous', async () => {
    t = await createTestApp();
    const res = await t.fetch('/healthz');
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const lines = t.logs.filter((l) => l.req === id);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'request', method: 'GET', url: '/healthz', status: 200 });
    expect(lines[0]!.user).toBeUndefined();
  });

  it('does not log the token of a sign-up link, which works as a password until used', async () => {
    t = await createTestApp();
    const token = 'Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg';
    const res = await t.fetch(`/signup/${token}?next=%2F`);
    const id = res.headers.get('x-request-id');
    const line = t.logs.find((l) => l.req === id && l.msg === 'request');
    expect(line).toMatchObject({ url: '/signup/[redacted]?next=%2F' });
    expect(JSON.stringify(t.logs)).not.toContain(token);
  });

  it('binds the signed-in user to the closing line and to lines a handler logs; templates see no logger', async () => {
    t = await createTestApp({ plugins: [...plugins, probe] });
    const agent = await signIn(t);
    const res = await agent.fetch('/probe/log');
    const id = res.headers.get('x-request-id');
    const body = (await res.json()) as { stateKeys: string[] };
    expect(body.stateKeys).not.toContain('log');
    const lines = t.logs.filter((l) => l.req === id);
    expect(lines.map((l) => l.msg)).toEqual(['probe line', 'request']);
    for (const line of lines) expect(line.user).toBe(agent.user.id);
    expect(lines[0]).toMatchObject({ step: 1 });
  });
});
