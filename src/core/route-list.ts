import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../paths.js';
import type { RouteInfo } from './routes.js';

/**
 * Where a route is declared: its plugin's routes.ts, at the line that names its path. Paths are
 * written out whole on their route line (no prefix joined in), so the literal finds it.
 */
export function routeSource(route: RouteInfo, root = PROJECT_ROOT): string {
  const rel = route.source ?? path.join('src', 'plugins', route.plugin, 'routes.ts');
  const file = path.join(root, rel);
  if (!existsSync(file)) return rel;
  const lines = readFileSync(file, 'utf8').split('\n');
  const method = route.method.toLowerCase();
  // A middleware's path may sit in a comparison (`ctx.path !== '/restart'`) or a prefix constant.
  const literal = route.path.replace(/\*$/, '');
  const quoted = [`'${route.path}'`, `"${route.path}"`, `\`${route.path}\``, `'${literal}'`];
  let at = lines.findIndex((l) => quoted.some((q) => l.includes(q)) && new RegExp(`\\.(${method}|pattern)\\(`).test(l));
  if (at < 0) at = lines.findIndex((l) => quoted.some((q) => l.includes(q)));
  return at < 0 ? rel : `${rel}:${at + 1}`;
}

/** The route table as `lectern routes` prints it: aligned columns, or JSON with --json. */
export function formatRoutes(table: readonly RouteInfo[], options: { json?: boolean } = {}): string {
  const rows = table.map((r) => ({ ...r, source: routeSource(r) }));
  if (options.json) return `${JSON.stringify(rows, null, 2)}\n`;
  const head = ['PLUGIN', 'METHOD', 'PATH', 'ACCESS', 'AUDIT', 'SOURCE'];
  const cells = rows.map((r) => [r.plugin, r.method, r.path, r.access, r.audit ?? '', r.source]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]!))).join('  ');
  const inputs = rows.filter((r) => r.input).map((r) => `  ${r.method} ${r.path}: ${r.input}`);
  return `${[line(head), ...cells.map(line)].join('\n')}\n${inputs.length ? `\nInputs (checked before the handler runs):\n${inputs.join('\n')}\n` : ''}`;
}
