import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { uniqueEmail } from '../helpers/accounts.js';
import { createTestApp, type TestApp } from '../helpers/index.js';

/**
 * Behind proxies, the client address is the X-Forwarded-For entry our own proxies appended:
 * exactly LECTERN_PROXY hops counted from the right. What a client writes before them is not
 * believed, so it cannot pick a fresh address for every request to escape the per-address limit.
 */
let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** Fails a sign-in with the given X-Forwarded-For and returns the address the server counted it under. */
async function failedLoginAddress(app: TestApp, forwardedFor: string | null): Promise<{ status: number; address: unknown }> {
  const agent = app.agent();
  await agent.get('/login', forwardedFor ? { headers: { 'x-forwarded-for': forwardedFor } } : {});
  const before = app.logs.length;
  const res = await agent.post('/login', { email: uniqueEmail('p'), password: 'not the password' }, forwardedFor ? { headers: { 'x-forwarded-for': forwardedFor } } : {});
  const line = app.logs.slice(before).find((l) => l.msg === 'sign-in failed' || l.msg === 'sign-in rate limited');
  return { status: res.status, address: line?.address };
}

describe('client addresses behind proxies', () => {
  it('one proxy: the entry it appended counts, whatever the client put before it', async () => {
    t = await createTestApp({ config: { proxy: true, proxyHops: 1 } });
    expect((await failedLoginAddress(t, '1.2.3.4, 203.0.113.7')).address).toBe('203.0.113.7');
    expect((await failedLoginAddress(t, '203.0.113.7')).address).toBe('203.0.113.7');
  });

  it('two proxies: the second entry from the right is the client', async () => {
    t = await createTestApp({ config: { proxy: true, proxyHops: 2 } });
    expect((await failedLoginAddress(t, '9.9.9.9, 198.51.100.20, 10.0.0.5')).address).toBe('198.51.100.20');
  });

  it('without a proxy, X-Forwarded-For is ignored', async () => {
    t = await createTestApp();
    expect((await failedLoginAddress(t, '198.51.100.99')).address).toBe('127.0.0.1');
  });

  it('a client inventing a new address for every attempt still runs into the per-address limit', async () => {
    t = await createTestApp({ config: { proxy: true, proxyHops: 1 } });
    const statuses: number[] = [];
    for (let i = 0; i < 55; i++) statuses.push((await failedLoginAddress(t, `10.${i >> 8}.${i & 255}.1, 203.0.113.50`)).status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(50);
    expect(statuses.slice(50).every((s) => s === 429)).toBe(true);
  }, 120_000);
});

describe('LECTERN_PROXY', () => {
  it('is no, yes (one proxy) or the number of proxies in front', () => {
    expect(loadConfig({ NODE_ENV: 'test' })).toMatchObject({ proxy: false, proxyHops: 0 });
    expect(loadConfig({ NODE_ENV: 'test', LECTERN_PROXY: 'yes' })).toMatchObject({ proxy: true, proxyHops: 1 });
    expect(loadConfig({ NODE_ENV: 'test', LECTERN_PROXY: '2' })).toMatchObject({ proxy: true, proxyHops: 2 });
    expect(() => loadConfig({ NODE_ENV: 'test', LECTERN_PROXY: 'maybe' })).toThrow(/LECTERN_PROXY/);
    expect(() => loadConfig({ NODE_ENV: 'test', LECTERN_PROXY: '11' })).toThrow(/at most 10/);
  });
});
