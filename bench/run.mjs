// Runs the benchmarks named on the command line (all when none): `npm run bench -- pages upload`.
// Each bench/<name>.mjs exports main(); each prints its figures and writes bench/results/<name>.json.
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const dir = path.dirname(fileURLToPath(import.meta.url));
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs' && !f.startsWith('_'))
  .map((f) => f.replace(/\.mjs$/, ''))
  .sort();
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = wanted.filter((w) => !available.includes(w));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${available.join(', ')}`);
  process.exit(2);
}
let failed = 0;
for (const name of wanted.length ? wanted : available) {
  console.log(`\n== ${name}`);
  try {
    const mod = await import(pathToFileURL(path.join(dir, `${name}.mjs`)).href);
    await mod.main();
  } catch (err) {
    failed++;
    console.error(`${name} failed: ${err.stack ?? err}`);
  }
}
process.exit(failed ? 1 : 0);
