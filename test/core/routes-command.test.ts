import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CONTENT, ROOT } from '../helpers/index.js';

const CLI = path.join(ROOT, 'dist/start.cjs');

interface Row {
  plugin: string;
  method: string;
  path: string;
  access: string;
  input: string | null;
  audit: string | null;
  source: string;
}

/** `lectern routes`, run as the built CLI on a fresh data directory. */
describe('lectern routes', () => {
  let dataDir: string;
  let text: string;
  let rows: Row[];

  function run(args: string[]): string {
    const env: NodeJS.ProcessEnv = { ...process.env, LECTERN_DATA: dataDir, LECTERN_CONTENT: DEMO_CONTENT, LECTERN_LOG_LEVEL: 'silent' };
    return execFileSync(process.execPath, [CLI, 'routes', ...args], { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  }

  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error('dist/start.cjs is missing: run `npm run build` before this test');
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'lectern-routes-'));
    text = run([]);
    rows = JSON.parse(run(['--json'])) as Row[];
  }, 120_000);

  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('--json gives every route with its plugin, method, path, access, input, audit and source', () => {
    expect(rows.length).toBeGreaterThan(50);
    for (const r of rows) {
      expect(Object.keys(r).sort()).toEqual(['access', 'audit', 'input', 'method', 'path', 'plugin', 'source']);
      expect(r.plugin).toMatch(/^[a-z][a-z-]*$/);
      expect(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).toContain(r.method);
      expect(r.path).toMatch(/^\//);
      expect(r.access.length).toBeGreaterThan(0);
      expect(r.input === null || typeof r.input === 'string').toBe(true);
      expect(r.audit === null || typeof r.audit === 'string').toBe(true);
      // A route lives in its plugin's routes.ts; a path a middleware answers before routing, in the
      // plugin's index.ts or, for the core's own, in src/app.ts or src/middleware/.
      const home = r.plugin === 'core' ? '(app|middleware/[a-z-]+)\\.ts' : `plugins/${r.plugin}/(routes|index)\\.ts`;
      expect(r.source).toMatch(new RegExp(`^src/${home}(:\\d+)?$`));
    }
    expect(rows).toContainEqual(expect.objectContaining({ plugin: 'metrics', method: 'GET', path: '/metrics', access: 'loopback or metrics token' }));
    expect(rows).toContainEqual(expect.objectContaining({ plugin: 'restart', method: 'POST', path: '/restart' }));
    expect(rows).toContainEqual(expect.objectContaining({ plugin: 'core', method: 'GET', path: '/healthz', access: 'anyone' }));
  });

  it('a source line is the route line that writes the path out whole', () => {
    for (const r of rows) {
      const m = /^(.+):(\d+)$/.exec(r.source);
      if (!m) continue;
      const line = readFileSync(path.join(ROOT, m[1]!), 'utf8').split('\n')[Number(m[2]) - 1]!;
      // A catch-all's source names its prefix ('/static/' for /static/*).
      expect(line, r.source).toContain(r.path.replace(/\*$/, ''));
    }
  });

  it('the table has one line per route, each with its plugin, method, path and access', () => {
    const lines = text.split('\n');
    const head = lines[0]!;
    expect(head).toMatch(/^PLUGIN\s+METHOD\s+PATH\s+ACCESS\s+AUDIT\s+SOURCE$/);
    const columns = ['PLUGIN', 'METHOD', 'PATH', 'ACCESS', 'AUDIT', 'SOURCE'].map((name) => head.indexOf(name));
    const body = lines.slice(1, lines.indexOf(''));
    expect(body).toHaveLength(rows.length);
    body.forEach((line, i) => {
      const cell = (n: number) => line.slice(columns[n], n + 1 < columns.length ? columns[n + 1] : undefined).trim();
      const r = rows[i]!;
      expect({ plugin: cell(0), method: cell(1), path: cell(2), access: cell(3), audit: cell(4), source: cell(5) }).toEqual({
        plugin: r.plugin,
        method: r.method,
        path: r.path,
        access: r.access,
        audit: r.audit ?? '',
        source: r.source,
      });
      for (const n of [0, 1, 2, 3]) expect(cell(n).length, line).toBeGreaterThan(0);
    });
  });

  it('lists the checked inputs beneath the table', () => {
    const withInput = rows.filter((r) => r.input);
    if (!withInput.length) return;
    expect(text).toContain('\nInputs (checked before the handler runs):\n');
    for (const r of withInput) expect(text).toContain(`  ${r.method} ${r.path}: ${r.input}\n`);
  });
});
