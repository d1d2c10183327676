import type { SandboxResult } from '../../../lib/sandbox/types.js';

/**
 * What a run could observe of student code reaching outside its sandbox. Shown to staff (on the
 * submission and the dashboard), never to the student: a sign to look at, not a verdict.
 */
export type TamperKind = 'results_file' | 'processes_left' | 'network' | 'legacy_results';

export interface TamperFlag {
  kind: TamperKind;
  detail: string;
}

/**
 * What an unsafe sandbox (LECTERN_UNSAFE_SANDBOX: no namespaces) cannot see: its programs share
 * the host's network, whose counters hold every other process's traffic too.
 */
export const NETWORK_UNOBSERVABLE = 'network attempts not observable in unsafe mode (LECTERN_UNSAFE_SANDBOX: the run shares the host\'s network, so nothing counts its attempts)';

/** The tamper signs a sandbox in this mode cannot observe, for Grade.unobserved. */
export function unobservedIn(sandbox: { unsafe: boolean }): string[] {
  return sandbox.unsafe ? [NETWORK_UNOBSERVABLE] : [];
}

/** The names a results file goes by in the formats Lectern reads: written by student code, they are a forgery attempt. */
export const RESULT_FILE_NAMES = ['results.json', 'results/results.json'];

/** Flags from one student sandbox run (`requested`: the files its caller asked back). */
export function studentRunFlags(run: SandboxResult, what: string, requested: ReadonlySet<string>): TamperFlag[] {
  const flags: TamperFlag[] = [];
  for (const name of RESULT_FILE_NAMES) {
    if (run.files[name] !== undefined && !requested.has(name)) flags.push({ kind: 'results_file', detail: `${what} wrote ${name}, which nothing reads` });
  }
  if (run.networkAttempts) flags.push({ kind: 'network', detail: `${what} tried to reach the network ${run.networkAttempts} time${run.networkAttempts === 1 ? '' : 's'} (refused: the sandbox has none)` });
  if (run.leftProcesses) flags.push({ kind: 'processes_left', detail: `${what} left ${run.leftProcesses} process${run.leftProcesses === 1 ? '' : 'es'} running after it ended (killed)` });
  return flags;
}

/** One flag per kind and detail, at most `cap` of them (a harness calling 200 times need not say it 200 times). */
export function mergeFlags(flags: TamperFlag[], cap = 20): TamperFlag[] {
  const seen = new Set<string>();
  const out: TamperFlag[] = [];
  for (const f of flags) {
    const key = `${f.kind}\0${f.detail}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (out.length < cap) out.push(f);
  }
  return out;
}
