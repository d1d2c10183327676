// Sandbox start-up overhead: the same command run N times inside the sandbox and directly with
// child_process, one after the other. `npm run build && node bench/sandbox.mjs [N]`.
// Prints median and p90 wall time per figure and the median overhead (target: at most 25 ms),
// the cost of one run_student call beside a bare sandbox run, and the demos' grading time
// before (one sandbox, bench/fixtures/legacy-demos) and now (declarative cases, harness), and the
// write observer's cost (a run of /bin/true, and one that creates 1,000 files in /work, with and
// without it).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createSandbox } from '../dist/lib/sandbox/index.js';
import { memoryLogger } from '../dist/lib/logger.js';
import { parseAssignmentYaml } from '../dist/plugins/assignments/config.js';
import { renderText } from '../dist/plugins/assignments/render.js';
import { planFor } from '../dist/plugins/autotest/run/plan.js';
import { runPrepared } from '../dist/plugins/autotest/run/run.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const TARGET_MS = 25;

function direct(command) {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin' } });
    child.stdout.resume();
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command.join(' ')} exited with ${code}`))));
  });
}

function quantile(sorted, q) {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

/** Runs the two variants alternately, so that load from elsewhere on the machine hits both alike. */
async function measurePair(n, a, b) {
  for (let i = 0; i < 3; i++) {
    await a();
    await b();
  }
  const times = { a: [], b: [] };
  for (let i = 0; i < n; i++) {
    for (const [key, once] of [['a', a], ['b', b]]) {
      const t0 = performance.now();
      await once();
      times[key].push(performance.now() - t0);
    }
  }
  const stats = (list) => {
    list.sort((x, y) => x - y);
    return { median: quantile(list, 0.5), p90: quantile(list, 0.9) };
  };
  return { a: stats(times.a), b: stats(times.b) };
}

const fmt = (ms) => `${ms.toFixed(1)} ms`;

export async function main(options = {}) {
  const n = options.n ?? 50;
  const { log } = memoryLogger('warn');
  const sandbox = createSandbox({ unsafe: false, log });
  if (sandbox.unsafe || /disabled/.test(sandbox.describe())) throw new Error(`no real sandbox here: ${sandbox.describe()}`);
  console.log(`sandbox: ${sandbox.describe()}`);
  const commands = { true: ['/bin/true'], python: ['/usr/bin/python3', '-c', 'pass'] };
  const summary = { n, targetMs: TARGET_MS, sandbox: sandbox.describe(), loadAverage: os.loadavg(), figures: {} };
  for (const [name, command] of Object.entries(commands)) {
    const { a: plain, b: boxed } = await measurePair(
      n,
      () => direct(command),
      async () => {
        const r = await sandbox.run({ command });
        if (r.status !== 'ok' || r.exitCode !== 0) throw new Error(`${command.join(' ')} in the sandbox: ${r.status} ${r.message ?? ''} ${r.stderr}`);
      },
    );
    const overhead = boxed.median - plain.median;
    console.log(`${name} direct:   median ${fmt(plain.median)}, p90 ${fmt(plain.p90)} (n=${n})`);
    console.log(`${name} sandbox:  median ${fmt(boxed.median)}, p90 ${fmt(boxed.p90)} (n=${n})`);
    console.log(`${name} overhead: median +${fmt(overhead)} (target at most ${TARGET_MS} ms: ${overhead <= TARGET_MS ? 'met' : 'MISSED'})`);
    summary.figures[name] = { command, direct: plain, sandbox: boxed, overheadMedianMs: overhead, targetMet: overhead <= TARGET_MS };
  }
  summary.writeObserver = await writeObserverCost(sandbox, n);
  summary.runStudent = await runStudentOverhead(sandbox, n);
  summary.demos = await demoGrading(sandbox, Math.max(3, Math.round(n / 10)));
  const outDir = path.join(here, 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'sandbox.json'), `${JSON.stringify({ date: new Date().toISOString(), ...summary }, null, 2)}\n`);
  return summary;
}

/**
 * The write observer (native/write-observer.c): its cost per run (/bin/true with and without it)
 * and per observed call (a Python program creating 1,000 files in /work: 1,000 write-intent
 * openat calls, each a round trip to the observer). Wall time, alternately; CPU is the run's own
 * figure (the command's tree, the observer included).
 */
async function writeObserverCost(sandbox, n) {
  const out = {};
  const files = 'for i in range(1000):\n    open("/work/f%d" % i, "w").close()\n';
  for (const [name, command] of [['true', ['/bin/true']], ['files1000', ['/usr/bin/python3', '-c', files]]]) {
    const cpu = { plain: [], observed: [] };
    const once = (observeWrites) => async () => {
      const r = await sandbox.run({ command, observeWrites });
      if (r.status !== 'ok' || r.exitCode !== 0) throw new Error(`${name}: ${r.status} ${r.message ?? ''} ${r.stderr}`);
      if (observeWrites && !r.readOnlyWrites) throw new Error(`${name}: not observed: ${r.readOnlyWritesUnobserved ?? ''}`);
      cpu[observeWrites ? 'observed' : 'plain'].push(r.cpuMs);
    };
    const { a: plain, b: observed } = await measurePair(n, once(false), once(true));
    const mean = (list) => list.reduce((s, x) => s + x, 0) / list.length;
    out[name] = { plain, observed, extraMedianMs: observed.median - plain.median, cpuMsMean: { plain: mean(cpu.plain), observed: mean(cpu.observed) } };
    console.log(`write observer, ${name}: without median ${fmt(plain.median)}, with median ${fmt(observed.median)} (+${fmt(observed.median - plain.median)}); CPU per run ${mean(cpu.plain).toFixed(1)} -> ${mean(cpu.observed).toFixed(1)} ms (n=${n})`);
  }
  // Per call: the extra of the 1,000-file run beyond the extra of an empty run, over 1,000 calls.
  const cpuExtra = (row) => row.cpuMsMean.observed - row.cpuMsMean.plain;
  out.perCallUs = { wall: out.files1000.extraMedianMs - out.true.extraMedianMs, cpu: cpuExtra(out.files1000) - cpuExtra(out.true) };
  console.log(`write observer: about ${out.perCallUs.wall.toFixed(1)} µs of wall time and ${out.perCallUs.cpu.toFixed(1)} µs of CPU per observed write-intent call (load average ${os.loadavg()[0].toFixed(1)})`);
  return out;
}

const LIMITS = { wallMs: 120_000, cpuSeconds: 120, memoryBytes: 512 << 20, outputBytes: 1 << 20, processes: 64 };
const STUDENT_LIMITS = { wallMs: 10_000, cpuSeconds: 10, memoryBytes: 256 << 20, outputBytes: 1 << 20, processes: 32 };

/**
 * What a run_student call costs a harness beyond the sandbox itself: a harness times n calls of
 * /bin/true (socket round trip, JSON, a fresh student sandbox with a copy of the submission);
 * beside it, n bare sandbox runs of /bin/true with the same input, from Node.
 */
async function runStudentOverhead(sandbox, n) {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'lectern-bench-rs-'));
  try {
    mkdirSync(path.join(scratch, 'tests'));
    writeFileSync(path.join(scratch, 'sub.py'), 'print(1)\n');
    writeFileSync(
      path.join(scratch, 'tests', 'h.py'),
      `import json, time\nfrom lectern import run_student, write_results\nts = []\nfor i in range(${n}):\n    t0 = time.perf_counter(); run_student(["/bin/true"]); ts.append((time.perf_counter() - t0) * 1000)\nwrite_results([{"name": "t", "score": 1, "max_score": 1, "output": json.dumps(ts)}])\n`,
    );
    const out = await runPrepared(
      sandbox,
      { command: ['/usr/bin/python3', 'tests/h.py'], limits: LIMITS, params: {}, points: 1, defaultVisibility: 'visible', plan: { mode: 'harness', studentLimits: STUDENT_LIMITS, maxCalls: n + 1 } },
      { submission: [{ from: path.join(scratch, 'sub.py'), to: 'sub.py' }], tests: path.join(scratch, 'tests') },
    );
    if (!out.grade.tests[0]) throw new Error(`the run_student bench harness failed: ${out.grade.problem}`);
    const calls = JSON.parse(out.grade.tests[0].output).sort((a, b) => a - b);
    const bare = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await sandbox.run({ command: ['/bin/true'], inputs: [{ from: path.join(scratch, 'sub.py'), to: 'sub.py' }] });
      bare.push(performance.now() - t0);
    }
    bare.sort((a, b) => a - b);
    const r = {
      call: { median: quantile(calls, 0.5), p90: quantile(calls, 0.9) },
      bareSandbox: { median: quantile(bare, 0.5), p90: quantile(bare, 0.9) },
    };
    r.overheadMedianMs = r.call.median - r.bareSandbox.median;
    console.log(`run_student(/bin/true) from a harness: median ${fmt(r.call.median)}, p90 ${fmt(r.call.p90)} (n=${n})`);
    console.log(`bare sandbox run of /bin/true:        median ${fmt(r.bareSandbox.median)}, p90 ${fmt(r.bareSandbox.p90)} (n=${n})`);
    console.log(`run_student overhead over a bare sandbox run: median +${fmt(r.overheadMedianMs)}`);
    return r;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * The demos' grading time with their reference solutions: now (caesar: declarative cases; stats:
 * harness + run_student) and before (the single-sandbox test scripts they had, kept in
 * bench/fixtures/legacy-demos), alternately.
 */
async function demoGrading(sandbox, n) {
  const root = path.join(here, '..', 'examples');
  const demos = [
    ['caesar', 'caesar.c', { shift: 7, phrase: 'Amber delta river orbit!' }],
    ['stats', 'stats.py', { data: [12, 40, 33, 12, 61, 25, 7, 12, 90, 44, 18], n: 11, topic: 't', unit: 'u' }],
  ];
  const out = {};
  for (const [slug, file, params] of demos) {
    if (slug === 'caesar') params.encrypted = params.phrase.replace(/[a-zA-Z]/g, (c) => { const b = c <= 'Z' ? 65 : 97; return String.fromCharCode(((c.charCodeAt(0) - b + params.shift) % 26) + b); });
    const config = parseAssignmentYaml(readFileSync(path.join(root, 'course/assignments', slug, 'assignment.yaml'), 'utf8')).config;
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'lectern-bench-demo-'));
    try {
      writeFileSync(path.join(scratch, file), renderText(readFileSync(path.join(root, 'solutions', slug, file), 'utf8'), { params, student: { id: '1', name: 'B' } }));
      const submission = [{ from: path.join(scratch, file), to: file }];
      const testsDir = path.join(root, 'course/assignments', slug, 'tests');
      const now = () => runPrepared(sandbox, { command: config.test.command, limits: config.test.limits, params, points: 1, defaultVisibility: 'visible', plan: planFor(config, params, { id: '1', name: 'B' }) }, { submission, tests: slug === 'stats' ? testsDir : null });
      const before = () => runPrepared(sandbox, { command: ['/usr/bin/python3', 'tests/run.py'], limits: LIMITS, params, points: 1, defaultVisibility: 'visible' }, { submission, tests: path.join(here, 'fixtures/legacy-demos', slug) });
      const times = { now: [], before: [] };
      for (let i = 0; i < n; i++) {
        for (const [key, f] of [['before', before], ['now', now]]) {
          const t0 = performance.now();
          const r = await f();
          if (r.grade.score !== r.grade.maxScore) throw new Error(`${slug} ${key}: the reference solution scored ${r.grade.score}/${r.grade.maxScore}: ${r.grade.problem ?? ''}`);
          times[key].push(performance.now() - t0);
        }
      }
      for (const k of ['now', 'before']) times[k].sort((a, b) => a - b);
      out[slug] = { before: quantile(times.before, 0.5), now: quantile(times.now, 0.5), n };
      console.log(`${slug} grading, reference solution: before (one sandbox) median ${fmt(out[slug].before)}, now median ${fmt(out[slug].now)} (ratio ${(out[slug].now / out[slug].before).toFixed(2)}, n=${n})`);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const n = Number(process.argv[2]) || undefined;
  // `node bench/sandbox.mjs N observer`: the write observer's rows only.
  const job = process.argv[3] === 'observer' ? writeObserverCost(createSandbox({ unsafe: false, log: memoryLogger('warn').log }), n ?? 50) : main({ n });
  job.catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
