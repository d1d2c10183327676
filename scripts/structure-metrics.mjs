#!/usr/bin/env node
// The shape of the source tree in numbers (issue 16): run before and after a refactor and compare.
//   node scripts/structure-metrics.mjs [--json]
// Layers, bottom to top: lib, db, config, paths (0); plugin.ts, core, middleware (1); plugins (2);
// app, cli, server, cluster, start, warm-cache, build (3). An import "points up" when it goes from a
// lower layer to a higher one; a plugin importing another plugin is sideways, but a pair of plugins
// importing each other is a cycle and is counted apart.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const src = path.join(root, 'src');

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return walk(p);
    return /\.(c|m)?ts$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

function layerOf(file) {
  const rel = path.relative(src, file).split(path.sep);
  const top = rel[0];
  if (['lib', 'db', 'config.ts', 'paths.ts'].includes(top)) return 0;
  if (['plugin.ts', 'core', 'middleware'].includes(top)) return 1;
  if (top === 'plugins') return 2;
  return 3;
}

function pluginOf(file) {
  const rel = path.relative(src, file).split(path.sep);
  return rel[0] === 'plugins' && rel.length > 2 ? rel[1] : null;
}

const files = walk(src);
const lines = new Map(files.map((f) => [f, fs.readFileSync(f, 'utf8')]));
const longest = [...lines].map(([f, t]) => ({ file: path.relative(root, f), lines: t.split('\n').length - 1 })).sort((a, b) => b.lines - a.lines);

const up = [];
const pluginEdges = new Set();
for (const [file, text] of lines) {
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)) {
    const target = path.resolve(path.dirname(file), m[1].replace(/\.js$/, '.ts').replace(/\.cjs$/, '.cts'));
    if (!lines.has(target)) continue;
    if (layerOf(target) > layerOf(file)) up.push(`${path.relative(root, file)} -> ${path.relative(root, target)}`);
    const a = pluginOf(file);
    const b = pluginOf(target);
    if (a && b && a !== b) pluginEdges.add(`${a}>${b}`);
  }
}
const cycles = [...pluginEdges].filter((e) => {
  const [a, b] = e.split('>');
  return a < b && pluginEdges.has(`${b}>${a}`);
});

// Access checks and input parsing written out inside handlers, rather than declared on the route line.
const PREAMBLES = /\b(requireUser|requireStaff|requireRole|requireLecturer|requirePower|courseOr404|currentOr404|visibleSubmission|loadSubmission)\(/g;
const ID_PATTERN = /\^\\d\{1,12\}\$/g;
let preambles = 0;
let rulesInPolicy = 0;
let idPatterns = 0;
let wantsJson = 0;
let readForm = 0;
let weakMaps = 0;
const routeFilesOutside = new Set();
for (const [file, text] of lines) {
  const rel = path.relative(src, file);
  const defines = /export function (requireUser|courseOr404|currentOr404|visibleSubmission|loadSubmission)\b/.test(text) || rel.startsWith('core');
  // A plugin's policy.ts is where its access rules and loaders are declared: those calls are the
  // declarations themselves, counted apart from checks written out inside handlers.
  const calls = rel.startsWith('plugins') && !defines ? (text.match(PREAMBLES) ?? []).length : 0;
  if (path.basename(rel) === 'policy.ts') rulesInPolicy += calls;
  else preambles += calls;
  if (!rel.startsWith('core')) idPatterns += (text.match(ID_PATTERN) ?? []).length;
  wantsJson += (text.match(/\bwantsJson\(/g) ?? []).length;
  readForm += (text.match(/\breadForm(All)?\(/g) ?? []).length;
  weakMaps += (text.match(/new WeakMap</g) ?? []).length;
  if (/\brouter\.(get|post|put|patch|delete|all)\(/.test(text) && rel.startsWith('plugins') && !rel.endsWith('routes.ts')) routeFilesOutside.add(rel);
}

const result = {
  files: files.length,
  lines: [...lines.values()].reduce((n, t) => n + t.split('\n').length - 1, 0),
  longestFile: longest[0],
  filesOver400Lines: longest.filter((f) => f.lines > 400).length,
  importsPointingUp: up.length,
  pluginImportCycles: cycles.length,
  handWrittenAccessPreambles: preambles,
  accessChecksInsidePolicyRules: rulesInPolicy,
  idPatternCopies: idPatterns,
  wantsJsonCalls: wantsJson,
  readFormCalls: readForm,
  weakMaps,
  pluginFilesRegisteringRoutesOutsideRoutesTs: routeFilesOutside.size,
};
if (process.argv.includes('--json')) {
  process.stdout.write(`${JSON.stringify({ ...result, up, cycles, routeFilesOutside: [...routeFilesOutside] }, null, 2)}\n`);
} else {
  for (const [k, v] of Object.entries(result)) process.stdout.write(`${k}: ${typeof v === 'object' ? `${v.file} (${v.lines})` : v}\n`);
  process.stdout.write(`\nimports pointing up:\n${up.map((u) => `  ${u}`).join('\n')}\n`);
  process.stdout.write(`plugin import cycles: ${cycles.map((c) => c.replace('>', ' <-> ')).join(', ')}\n`);
  process.stdout.write(`plugin files registering routes outside routes.ts: ${[...routeFilesOutside].join(', ')}\n`);
}
