// Similarity: one report over 100 and over 500 generated C submissions of 200 lines each, through
// the real analysis process (dist/plugins/similarity/worker.js, forked as the server forks it,
// with the same input the server builds: starter code, 50 % common-code cut-off). Prints wall
// time and the analysis process's peak RSS for each, and the 500/100 ratios beside the linear (5)
// and quadratic (25) references of the same run.
import { fork } from 'node:child_process';
import path from 'node:path';
import { tsImport } from 'tsx/esm/api';
import { ROOT, writeResults } from './_lib.mjs';

const WORKER = path.join(ROOT, 'dist', 'plugins', 'similarity', 'worker.js');
const STARTER = '#include <stdio.h>\n\nstatic int read_number(void)\n{\n    int x = 0;\n    if (scanf("%d", &x) != 1) return 0;\n    return x;\n}\n';

function analyse(documents) {
  const input = { language: 'c', documents, starter: { path: 'starter.c', text: STARTER }, maxShare: 0.5, kgramLength: 23, kgramsInWindow: 17, maxPairs: 500, fragmentsFor: 100 };
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = fork(WORKER, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], serialization: 'advanced' });
    let done = null;
    child.on('message', (m) => {
      if (m.type === 'done') done = m;
      if (m.type === 'failed') reject(new Error(m.message));
    });
    child.on('exit', () => {
      if (!done) return reject(new Error('the analysis exited without a result'));
      resolve({ seconds: Number(process.hrtime.bigint() - started) / 1e9, peakMb: done.maxRssKb / 1024, pairs: done.result.pairs.length, totalPairs: done.result.totalPairs });
    });
    child.send(input);
  });
}

export async function main() {
  const { makeProgram, renderProgram } = await tsImport('../test/helpers/programs.ts', import.meta.url);
  const program = (i) => `${renderProgram(makeProgram(5000 + i, 200), { starter: STARTER })}\nint main(void)\n{\n    return read_number();\n}\n`;
  const lines = program(0).split('\n').length;
  const results = {};
  for (const n of [100, 500]) {
    const documents = Array.from({ length: n }, (_, i) => ({ path: `s${i}.c`, text: program(i) }));
    const r = await analyse(documents);
    results[n] = r;
    console.log(`similarity ${n} submissions of ~${lines} lines: ${r.seconds.toFixed(2)} s, analysis process peak RSS ${r.peakMb.toFixed(0)} MB, ${r.totalPairs} pairs share code`);
  }
  const timeRatio = results[500].seconds / results[100].seconds;
  const memRatio = results[500].peakMb / results[100].peakMb;
  console.log(`similarity 500/100: time x${timeRatio.toFixed(1)} (linear would be x5, all-pairs x25), peak memory x${memRatio.toFixed(1)}`);
  writeResults('similarity', { linesPerSubmission: lines, n100: results[100], n500: results[500], timeRatio, memRatio });
}
