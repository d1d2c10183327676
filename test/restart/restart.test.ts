import { readdirSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Plugin } from '../../src/plugin.js';
import { anyone } from '../../src/core/routes.js';
import { plugins } from '../../src/plugins/index.js';
import { isLoopback } from '../../src/lib/net.js';
import { createTestApp, tempDir, type TestApp } from '../helpers/index.js';

describe('isLoopback', () => {
  it.each([
    '127.0.0.1',
    '127.0.0.0',
    '127.1.2.3',
    '127.255.255.255',
    '::1',
    '0:0:0:0:0:0:0:1',
    '0000:0000:0000:0000:0000:0000:0000:0001',
    '::0:1',
    '0::1',
    '::1%lo',
    '::ffff:127.0.0.1',
    '::FFFF:127.0.0.1',
    '::ffff:127.254.3.4',
    '0:0:0:0:0:ffff:127.0.0.1',
    '0000:0000:0000:0000:0000:FFFF:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:7F00:0001',
    '::ffff:7fff:ffff',
    '0:0:0:0:0:ffff:7f00:1',
  ])('accepts %s', (address) => {
    expect(isLoopback(address)).toBe(true);
  });

  it.each([
    '',
    '128.0.0.1',
    '126.255.255.255',
    '10.0.0.1',
    '192.168.1.127',
    '0.0.0.0',
    '255.255.255.255',
    '127.0.0',
    '127.0.0.1.1',
    '127.0.0.256',
    '0127.0.0.1',
    '127.000.000.001',
    '127.0.0.1 ',
    ' 127.0.0.1',
    'localhost',
    '::',
    '::2',
    '1::1',
    '::1::',
    ':::1',
    '0:0:0:0:0:0:0:0:1',
    '0:0:0:0:0:0:1',
    '[::1]',
    '::1%',
    'fe80::1',
    'fe80::1%eth0',
    '::ffff:10.0.0.1',
    '::ffff:128.0.0.1',
    '::ffff:8000:1',
    '::ffff:7f00:1:1',
    '::ffff:127.0.0.1.5',
    '::ffff:127.0.0',
    // IPv4-compatible (deprecated), IPv4-translated and NAT64 forms embed 127.x but are other addresses.
    '::127.0.0.1',
    '::7f00:1',
    '::ffff:0:127.0.0.1',
    '64:ff9b::127.0.0.1',
    '1:0:0:0:0:ffff:127.0.0.1',
    'g::1',
    '::00001',
  ])('refuses %j', (address) => {
    expect(isLoopback(address)).toBe(false);
  });

  it('refuses a missing address', () => {
    expect(isLoopback(undefined)).toBe(false);
    expect(isLoopback(null)).toBe(false);
  });
});

/** Holds requests open until released, to have something in flight during a drain. */
let release: (() => void) | undefined;
const probe: Plugin = {
  name: 'probe',
  create: () => ({
    routes(router) {
    router.get('/slow', anyone, async (ctx) => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      ctx.body = 'finished';
    });
    },
  }),
};

/** A raw request: the text as sent, the whole response as received (the server closes). */
function rawExchange(url: string, first: string): { finish(rest: string): Promise<string>; connected: Promise<void> } {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (received += d));
  const ended = new Promise<string>((resolve, reject) => {
    socket.once('close', () => resolve(received));
    socket.once('error', reject);
  });
  const connected = new Promise<void>((resolve) => socket.once('connect', () => socket.write(first, () => resolve())));
  return {
    connected,
    finish(rest) {
      socket.write(rest);
      return ended;
    },
  };
}

function tokenOf(t: TestApp): string {
  return readFileSync(path.join(t.dataDir, 'restart.token'), 'utf8').trim();
}

let t: TestApp | undefined;
afterEach(async () => {
  release?.();
  release = undefined;
  await t?.close();
  t = undefined;
});

describe('/restart', () => {
  it('writes a fresh random token, 0640, at each start, leaving no temporary file', async () => {
    const dataDir = tempDir();
    t = await createTestApp({ dataDir });
    const first = tokenOf(t);
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(path.join(dataDir, 'restart.token')).mode & 0o777).toBe(0o640);
    expect(readdirSync(dataDir).filter((f) => f.includes('restart.token'))).toEqual(['restart.token']);
    await t.close();
    t = await createTestApp({ dataDir });
    expect(tokenOf(t)).toMatch(/^[0-9a-f]{64}$/);
    expect(tokenOf(t)).not.toBe(first);
  });

  it('from loopback without a token: 202 restarting, sent before the one shutdown path runs', async () => {
    t = await createTestApp();
    expect(t.app.closing).toBe(false);
    const res = await t.fetch('/restart');
    expect(res.status).toBe(202);
    expect(res.headers.get('connection')).toBe('close');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.text()).toBe('restarting\n');
    await expect.poll(() => t!.app.closing).toBe(true);
    await t.app.close();
    const log = t.logs.map((l) => l.msg);
    expect(log).toContain('restart requested');
    expect(log.indexOf('restart requested')).toBeLessThan(log.indexOf('shutting down: draining requests'));
    expect(t.logs.find((l) => l.msg === 'shutting down: draining requests')?.reason).toBe('restart requested');
    expect(log).toContain('shut down');
  });

  it('accepts POST and the right token; refuses a wrong token with 403, logs the peer, keeps running', async () => {
    t = await createTestApp();
    const token = tokenOf(t);
    const wrong = await t.fetch('/restart', { method: 'POST', headers: { 'x-restart-token': 'f'.repeat(64), accept: 'application/json' } });
    expect(wrong.status).toBe(403);
    const body = await wrong.text();
    expect(body).toContain('Not allowed to restart this server.');
    expect(body).not.toContain(token);
    expect(body).not.toMatch(/token/i);
    const refused = t.logs.find((l) => l.msg === 'restart refused');
    expect(refused).toMatchObject({ peer: '127.0.0.1', reason: 'token mismatch' });
    expect(JSON.stringify(t.logs)).not.toContain(token);
    expect(t.app.closing).toBe(false);
    expect((await t.fetch('/healthz')).status).toBe(200);

    const right = await t.fetch('/restart', { method: 'POST', headers: { 'x-restart-token': token } });
    expect(right.status).toBe(202);
    await expect.poll(() => t!.app.closing).toBe(true);
  });

  it('answers other methods with 405', async () => {
    t = await createTestApp();
    const res = await t.fetch('/restart', { method: 'PUT', headers: { accept: 'application/json' } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, POST');
    expect(t.app.closing).toBe(false);
  });

  it('behind a proxy (LECTERN_PROXY) requires the token: none or a wrong one is 403, the right one 202', async () => {
    t = await createTestApp({ config: { proxy: true } });
    const token = tokenOf(t);
    const none = await t.fetch('/restart', { headers: { 'x-forwarded-for': '127.0.0.1' } });
    expect(none.status).toBe(403);
    const almost = token.slice(0, -1) + (token.endsWith('0') ? '1' : '0');
    const wrong = await t.fetch('/restart', { method: 'POST', headers: { 'x-restart-token': almost } });
    expect(wrong.status).toBe(403);
    const short = await t.fetch('/restart', { headers: { 'x-restart-token': token.slice(0, 10) } });
    expect(short.status).toBe(403);
    expect(t.logs.filter((l) => l.msg === 'restart refused').map((l) => l.reason)).toEqual(['token required', 'token mismatch', 'token mismatch']);
    expect(t.app.closing).toBe(false);
    const right = await t.fetch('/restart', { headers: { 'x-restart-token': token } });
    expect(right.status).toBe(202);
    await expect.poll(() => t!.app.closing).toBe(true);
  });

  it('lets the request in flight finish, and answers a second restart during the drain with 202 and nothing more', async () => {
    t = await createTestApp({ plugins: [...plugins, probe] });
    const slow = fetch(`${t.url}/slow`);
    await expect.poll(() => release).toBeDefined();
    // A second client already connected, its request begun: the drain must not cut it.
    const second = rawExchange(t.url, 'GET /restart HTTP/1.1\r\nHost: localhost\r\n');
    await second.connected;

    const first = await t.fetch('/restart');
    expect(first.status).toBe(202);
    await expect.poll(() => t!.app.closing).toBe(true);

    const again = await second.finish('\r\n');
    expect(again).toMatch(/^HTTP\/1\.1 202 /);
    expect(again).toMatch(/\r\nconnection: close\r\n/i);
    expect(again).toMatch(/restarting\n$/);
    expect(t.logs.filter((l) => l.msg === 'shutting down: draining requests')).toHaveLength(1);
    expect(t.logs.some((l) => l.msg === 'restart requested again: already under way')).toBe(true);

    release!();
    const done = await slow;
    expect(done.status).toBe(200);
    expect(await done.text()).toBe('finished');
    await t.app.close();
    expect(t.logs.filter((l) => l.msg === 'shut down')).toHaveLength(1);
  });
});
