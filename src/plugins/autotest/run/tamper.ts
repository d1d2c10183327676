import type { SandboxResult } from '../../../lib/sandbox/types.js';

/**
 * What a run could observe of student code reaching outside its sandbox. Shown to staff (on the
 * submission and the dashboard), never to the student: a sign to look at, not a verdict.
 */
export type TamperKind = 'results_file' | 'processes_left' | 'network' | 'readonly_write' | 'legacy_results';

export interface TamperFlag {
  kind: TamperKind;
  detail: string;
}

/**
 * What an unsafe sandbox (LECTERN_UNSAFE_SANDBOX: no namespaces) cannot see: its programs share
 * the host's network, whose counters hold every other process's traffic too.
 */
export const NETWORK_UNOBSERVABLE = 'network attempts not observable in unsafe mode (LECTERN_UNSAFE_SANDBOX: the run shares the host\'s network, so nothing counts its attempts)';

/** The tamper signs a sandbox in this mode (or on this host) cannot observe, for Grade.unobserved. */
export function unobservedIn(sandbox: { unsafe: boolean; writesUnobservable?(): string | null }): string[] {
  const out = sandbox.unsafe ? [NETWORK_UNOBSERVABLE] : [];
  const writes = sandbox.writesUnobservable?.() ?? null;
  if (writes) out.push(`writes to read-only mounts: not observable here (${writes})`);
  return out;
}

const times = (n: number) => `${n} time${n === 1 ? '' : 's'}`;

/** The names a results file goes by in the formats Lectern reads: written by student code, they are a forgery attempt. */
export const RESULT_FILE_NAMES = ['results.json', 'results/results.json'];

/** Flags from one student sandbox run (`requested`: the files its caller asked back). */
export function studentRunFlags(run: SandboxResult, what: string, requested: ReadonlySet<string>): TamperFlag[] {
  const flags: TamperFlag[] = [];
  for (const name of RESULT_FILE_NAMES) {
    if (run.files[name] !== undefined && !requested.has(name)) flags.push({ kind: 'results_file', detail: `${what} wrote ${name}, which nothing reads` });
  }
  if (run.networkAttempts) flags.push({ kind: 'network', detail: `${what} tried to reach the network ${run.networkAttempts} time${run.networkAttempts === 1 ? '' : 's'} (refused: the sandbox has none)` });
  const ro = run.readOnlyWrites;
  if (ro?.count) {
    // The paths are the program's own strings: kept short.
    const eg = ro.examples.length ? `, e.g. ${ro.examples.slice(0, 3).map((p) => (p.length > 120 ? `${p.slice(0, 120)}...` : p)).join(', ')}` : '';
    flags.push({ kind: 'readonly_write', detail: `${what} tried to write to a read-only mount (system files, the sandbox's root or a read-only input) ${times(ro.count)}${eg} (refused)` });
  }
  // A write-intent call whose path cannot be read comes from a program that hid its memory from
  // the observer (PR_SET_DUMPABLE 0) or passed a bad pointer: neither happens in an honest
  // student program, and counting it as clean would let the first one hide every write after it.
  if (ro?.unreadable) flags.push({ kind: 'readonly_write', detail: `${what} made ${ro.unreadable} write call${ro.unreadable === 1 ? '' : 's'} whose path the sandbox could not read (the program hid its memory, or passed a bad pointer)` });
  if (run.observerStopped) flags.push({ kind: 'readonly_write', detail: `${what} ran on after the sandbox's write observer was killed (by the program, or by the out-of-memory killer): its writes were not all seen` });
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
