import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/config.js';
import { AssemblyError } from '../../src/core/assemble.js';
import { anyone } from '../../src/core/routes.js';
import { memoryLogger } from '../../src/lib/logger.js';
import type { Plugin, Services } from '../../src/plugin.js';
import { buildApp } from '../../src/server.js';
import { DEMO_CONTENT } from '../helpers/index.js';

/** Start-up with a set of plugins that cannot run together stops with a message naming them. */
describe('assembling plugins', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function build(plugins: Plugin[]) {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lectern-assemble-'));
    dirs.push(dataDir);
    const config = makeConfig({ dataDir, contentDir: DEMO_CONTENT, port: 0 });
    return () => buildApp(config, { log: memoryLogger('debug').log, plugins });
  }

  const grading = {} as Services['grading'];

  it('a needed service that no plugin provides stops start-up', () => {
    const consumer: Plugin = { name: 'consumer', needs: ['grading'], create: () => ({}) };
    const start = build([consumer]);
    expect(start).toThrow(AssemblyError);
    expect(start).toThrow('The plugin "consumer" needs the service "grading", which no plugin provides.');
  });

  it('a service provided by two plugins stops start-up', () => {
    const first: Plugin = { name: 'first', create: () => ({ provides: { grading } }) };
    const second: Plugin = { name: 'second', create: () => ({ provides: { grading } }) };
    const start = build([first, second]);
    expect(start).toThrow(AssemblyError);
    expect(start).toThrow('The service "grading" is provided by both "first" and "second".');
  });

  it('a route parameter loaded by two plugins stops start-up', () => {
    const loader = (_value: string, _ctx: unknown, next: () => Promise<unknown>) => next();
    const one: Plugin = { name: 'one', create: () => ({ params: { thing: loader }, routes: (r) => r.get('/one/:thing', anyone, (ctx) => void (ctx.body = 'one')) }) };
    const two: Plugin = { name: 'two', create: () => ({ params: { thing: loader } }) };
    const start = build([one, two]);
    expect(start).toThrow(AssemblyError);
    expect(start).toThrow('The route parameter ":thing" is loaded by both "one" and "two".');
  });

  it('a provider listed after its consumer is found; the consumer reads the service later', async () => {
    let seen: unknown;
    const consumer: Plugin = {
      name: 'consumer',
      needs: ['grading'],
      create: (deps) => ({
        async start() {
          seen = deps.services.grading;
          return async () => undefined;
        },
      }),
    };
    const provider: Plugin = { name: 'provider', create: () => ({ provides: { grading } }) };
    const app = build([consumer, provider])();
    try {
      expect(app.deps.services.grading).toBe(grading);
      await app.start();
      expect(seen).toBe(grading);
    } finally {
      await app.close('test');
    }
  });
});
