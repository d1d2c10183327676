import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LecternApp } from '../../src/app.js';
import { makeConfig, type Config } from '../../src/config.js';
import { fixedClock, type FixedClock } from '../../src/lib/clock.js';
import { createHttpServer } from '../../src/lib/http-server.js';
import { memoryLogger } from '../../src/lib/logger.js';
import type { Sandbox } from '../../src/lib/sandbox/types.js';
import type { Plugin } from '../../src/plugin.js';
import { buildApp } from '../../src/server.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEMO_CONTENT = path.join(ROOT, 'examples/course');

export interface TestAppOptions {
  config?: Partial<Config>;
  plugins?: Plugin[];
  sandbox?: Sandbox;
  clock?: FixedClock;
  /** Keep the data dir after close (for restart tests that reopen it). */
  dataDir?: string;
}

export interface TestApp {
  app: LecternApp;
  url: string;
  clock: FixedClock;
  logs: Array<Record<string, unknown>>;
  dataDir: string;
  config: Config;
  /** A cookie-keeping client, like one browser. */
  agent(): Agent;
  fetch(pathname: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

/**
 * The whole app on a temporary data dir, listening on a free loopback port, with a fixed clock
 * and an in-memory log. Tests drive it over real HTTP.
 */
export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'lectern-test-'));
  const config = makeConfig({ dataDir, contentDir: DEMO_CONTENT, port: 0, drainMs: 2_000, graders: 1, ...options.config });
  const clock = options.clock ?? fixedClock();
  const { log, lines } = memoryLogger('debug');
  const app = buildApp(config, { log, clock, ...(options.sandbox ? { sandbox: options.sandbox } : {}), ...(options.plugins ? { plugins: options.plugins } : {}) });
  const server = createHttpServer(app);
  await app.start();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const doFetch = (pathname: string, init?: RequestInit) => fetch(url + pathname, { redirect: 'manual', ...init });
  return {
    app,
    url,
    clock,
    logs: lines,
    dataDir,
    config,
    agent: () => new Agent(url),
    fetch: doFetch,
    async close() {
      await app.close('test');
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Keeps cookies between requests and knows the page's CSRF token. */
export class Agent {
  readonly cookies = new Map<string, string>();
  csrf = '';
  constructor(readonly base: string) {}

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private keep(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async fetch(pathname: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', this.cookieHeader());
    const res = await fetchOnce(this.base + pathname, { redirect: 'manual', ...init, headers });
    this.keep(res);
    return res;
  }

  /** GET a page; remembers the CSRF token found in it. */
  async get(pathname: string, init: RequestInit = {}): Promise<{ res: Response; text: string }> {
    const res = await this.fetch(pathname, init);
    const text = await res.text();
    const m = /name="_csrf" value="([^"]+)"/.exec(text);
    if (m?.[1]) this.csrf = m[1];
    return { res, text };
  }

  /** POST an urlencoded form, adding the remembered CSRF token unless the form has one. */
  async post(pathname: string, form: Record<string, string> = {}, init: RequestInit = {}): Promise<Response> {
    const body = new URLSearchParams({ ...(this.csrf ? { _csrf: this.csrf } : {}), ...form });
    const headers = new Headers(init.headers);
    headers.set('content-type', 'application/x-www-form-urlencoded');
    return this.fetch(pathname, { method: 'POST', ...init, headers, body });
  }
}

/**
 * A GET or HEAD sent on a kept-alive connection at the moment the server closes it as idle fails
 * with a reset; browsers send such a request again on a new connection, and so does this client.
 * On a busy machine the client's own idle timer runs late, which makes the race common in tests.
 */
async function fetchOnce(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    const method = (init.method ?? 'GET').toUpperCase();
    const code = (err as { cause?: { code?: string } }).cause?.code;
    if ((method === 'GET' || method === 'HEAD') && (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET')) return fetch(url, init);
    throw err;
  }
}

export function tempDir(prefix = 'lectern-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}
