/**
 * `npm run build`, after tsc: bundles dist/cli.js and everything it imports into dist/lectern.cjs,
 * the file dist/start.cjs runs (start.cts says why one file, and why CommonJS: V8's code cache).
 * esbuild is the bundler tsx already brings.
 *
 * Left out of the bundle, and loaded from node_modules as before:
 * - better-sqlite3, a native addon that finds its .node file relative to its own package;
 * - the packages the server loads only when first needed (highlight.js, KaTeX, the OpenID client,
 *   BullMQ, the archive and multipart parsers, the SMTP client): bundled, they would be parsed at every start.
 */
import { build } from 'esbuild';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../paths.js';

const LOADED_ON_FIRST_USE = ['highlight.js', 'katex', 'openid-client', 'bullmq', 'ioredis', 'tar', 'yauzl', 'yazl', 'busboy', 'nodemailer'];

const outfile = path.join(PROJECT_ROOT, 'dist', 'lectern.cjs');
// A cache made for the previous bundle would be refused anyway; removing it says so plainly.
rmSync(`${outfile}.cache`, { force: true });
await build({
  entryPoints: [path.join(PROJECT_ROOT, 'dist', 'cli.js')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['better-sqlite3', ...LOADED_ON_FIRST_USE],
  // import() becomes require() (ES-only packages load through require() of ES modules, Node
  // >= 20.19): code restored from V8's code cache on Node 20 cannot call import().
  supported: { 'dynamic-import': false },
  // import.meta has no meaning in CommonJS; the modules use only its url, to find files.
  define: { 'import.meta.url': '__lecternModuleUrl' },
  banner: { js: "const __lecternModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});
// start.cjs wraps the source in a function, where a #! line is a syntax error.
const source = readFileSync(outfile, 'utf8');
if (source.startsWith('#!')) writeFileSync(outfile, source.slice(source.indexOf('\n') + 1));
// The `lectern` command (package.json "bin"): tsc keeps start.cts's #! line but not an executable bit.
chmodSync(path.join(PROJECT_ROOT, 'dist', 'start.cjs'), 0o755);
