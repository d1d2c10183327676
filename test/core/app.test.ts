import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/lib/errors.js';
import type { Plugin } from '../../src/plugin.js';
import { anyone } from '../../src/core/routes.js';
import { plugins } from '../../src/plugins/index.js';
import { ROOT, createTestApp, tempDir, type TestApp } from '../helpers/index.js';

let release: (() => void) | undefined;
const probe: Plugin = {
  name: 'probe',
  create: () => ({
    routes(router) {
    router.get('/boom', anyone, () => {
      throw new Error('database password is hunter2');
    });
    router.get('/invalid', anyone, () => {
      throw new UserError(422, 'The form has 2 problems.', ['title: required', 'deadline: not a date']);
    });
    router.get('/slow', anyone, async (ctx) => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      ctx.body = 'finished';
    });
    },
  }),
};

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('the app', () => {
  it('serves the demo course home page through the layout', async () => {
    t = await createTestApp();
    const res = await t.fetch('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain('<h1>Welcome to Programming 1</h1>');
    expect(html).toMatch(/<link rel="stylesheet" href="\/static\/css\/lectern\.[0-9a-f]{10}\.css">/);
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(t.logs.some((l) => l.msg === 'request' && l.url === '/' && l.status === 200)).toBe(true);
  });

  it('sends security headers', async () => {
    t = await createTestApp();
    const res = await t.fetch('/');
    expect(res.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    expect(res.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('answers 404 as an HTML page for browsers and JSON for API clients', async () => {
    t = await createTestApp();
    const html = await t.fetch('/no/such/page', { headers: { accept: 'text/html' } });
    expect(html.status).toBe(404);
    expect(await html.text()).toContain('Page not found');
    const json = await t.fetch('/no/such/page', { headers: { accept: 'application/json' } });
    expect(json.status).toBe(404);
    expect(await json.json()).toMatchObject({ status: 404, error: expect.any(String) });
  });

  it('shows user errors with their details, and a 500 without the stack or message, logged with the request id', async () => {
    t = await createTestApp({ plugins: [...plugins, probe] });
    const invalid = await t.fetch('/invalid', { headers: { accept: 'application/json' } });
    expect(invalid.status).toBe(422);
    expect(await invalid.json()).toMatchObject({ error: 'The form has 2 problems.', details: ['title: required', 'deadline: not a date'] });

    const res = await t.fetch('/boom', { headers: { accept: 'text/html' } });
    expect(res.status).toBe(500);
    const body = await res.text();
    expect(body).not.toContain('hunter2');
    expect(body).not.toMatch(/at .*\.ts:\d+/);
    const id = res.headers.get('x-request-id')!;
    expect(body).toContain(id);
    const logged = t.logs.find((l) => l.msg === 'request failed');
    expect(logged?.req).toBe(id);
    expect(JSON.stringify(logged?.err)).toContain('hunter2');

    const json = await t.fetch('/boom', { headers: { accept: 'application/json' } });
    expect(await json.json()).toEqual({ error: expect.stringContaining(json.headers.get('x-request-id')!), status: 500, requestId: json.headers.get('x-request-id') });
  });

  it('serves static files with validators, and fingerprinted URLs with a long cache', async () => {
    t = await createTestApp();
    const plain = await t.fetch('/static/css/lectern.css');
    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-type')).toMatch(/text\/css/);
    expect(plain.headers.get('cache-control')).toBe('public, max-age=0, must-revalidate');
    const etag = plain.headers.get('etag')!;
    const lastModified = plain.headers.get('last-modified')!;
    expect(etag).toMatch(/^"[0-9a-f]{10}"$/);
    expect((await t.fetch('/static/css/lectern.css', { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect((await t.fetch('/static/css/lectern.css', { headers: { 'if-modified-since': lastModified } })).status).toBe(304);
    expect((await t.fetch('/static/css/lectern.css', { headers: { 'if-none-match': '"other"' } })).status).toBe(200);

    const page = await (await t.fetch('/')).text();
    const href = /href="(\/static\/css\/lectern\.[0-9a-f]{10}\.css)"/.exec(page)![1]!;
    const hashed = await t.fetch(href);
    expect(hashed.status).toBe(200);
    expect(hashed.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await t.fetch('/static/../package.json')).status).toBe(404);
    expect((await t.fetch('/static/%2e%2e/package.json')).status).toBe(404);
  });

  it('reports health with a database check', async () => {
    t = await createTestApp();
    const res = await t.fetch('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, db: 'ok' });
    t.app.deps.db.close();
    const down = await t.fetch('/healthz');
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ ok: false, db: 'unavailable' });
    // close() must cope with the database already closed.
  });

  it('close() finishes a request in flight, refuses new connections, then closes the database', async () => {
    t = await createTestApp({ plugins: [...plugins, probe] });
    const inflight = t.fetch('/slow');
    await new Promise((r) => setTimeout(r, 100));
    const closing = t.app.close('test');
    await new Promise((r) => setTimeout(r, 50));
    await expect(fetch(`${t.url}/healthz`)).rejects.toThrow();
    release?.();
    const res = await inflight;
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('finished');
    await closing;
    expect(t.app.deps.db.open).toBe(false);
  });
});

describe('the server process', () => {
  it('serves on its port, prints the URL, and exits 0 on SIGTERM', async () => {
    const data = tempDir();
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/start.cjs'), 'serve'], {
      env: { ...process.env, LECTERN_DATA: data, LECTERN_PORT: '0', LECTERN_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d: string) => {
        stderr += d;
        const m = /serving (http:\/\/\S+)/.exec(stderr);
        if (m?.[1]) resolve(m[1]);
      });
      child.once('exit', () => reject(new Error(`exited early: ${stderr}`)));
    });
    const body = await new Promise<string>((resolve, reject) => {
      http.get(url, (res) => {
        let s = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (s += d));
        res.on('end', () => resolve(s));
      }).on('error', reject);
    });
    expect(body).toContain('Welcome to Programming 1');
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  });

  it('stops with a message naming the variable when the configuration is bad', async () => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/start.cjs'), 'serve'], {
      env: { ...process.env, LECTERN_PORT: 'http' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(2);
    expect(stderr).toContain('LECTERN_PORT');
  });
});
