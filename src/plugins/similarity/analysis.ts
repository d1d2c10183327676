import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Deps } from '../../plugin.js';
import { PROJECT_ROOT } from '../../paths.js';
import { listEnrolled } from '../accounts/users.js';
import type { Current } from '../assignments/store.js';
import { assignmentGrades } from '../gradebook/grades.js';
import { getTeam } from '../teams/store.js';
import { submissionFiles } from '../submissions/store.js';
import { failReport, finishReport, setProgress, type StoredReport, type Subject } from './store.js';
import type { AnalysisInput, AnalysisMessage, PairOut } from './types.js';

/**
 * The worker runs as a child process, not in the server: tokenising 500 submissions takes
 * seconds of CPU and a few hundred MB that must neither block requests nor stay in the server's
 * heap, and Dolos' parsers are native addons that are safest in a process of their own (a crash
 * there costs a report, not the server). tsc writes it to dist/; the server bundle leaves it out.
 */
export const WORKER = path.join(PROJECT_ROOT, 'dist', 'plugins', 'similarity', 'worker.js');

/** Dolos language by file extension; anything else is compared as text, character by character. */
const LANGUAGES: Record<string, string> = {
  '.c': 'c', '.h': 'c', '.cpp': 'cpp', '.cc': 'cpp', '.cxx': 'cpp', '.hpp': 'cpp', '.cs': 'c-sharp', '.py': 'python',
  '.java': 'java', '.js': 'javascript', '.ts': 'typescript', '.go': 'go', '.rs': 'rust', '.php': 'php', '.r': 'r',
  '.scala': 'scala', '.sh': 'bash', '.sql': 'sql', '.elm': 'elm', '.ml': 'ocaml', '.groovy': 'groovy', '.v': 'verilog', '.mo': 'modelica',
};

export const DEFAULTS = { maxShare: 0.5, clusterAt: 0.6, maxPairs: 500, fragmentsFor: 100, kgramLength: 23, kgramsInWindow: 17 };

export function extensionOf(name: string): string {
  const i = name.lastIndexOf('.');
  return i > 0 ? name.slice(i).toLowerCase() : '';
}

/** A submission's files in the report's language, one after the other (the side-by-side view shows the same text). */
export async function subjectText(deps: Pick<Deps, 'db' | 'blobs'>, submissionId: number, extension: string): Promise<string> {
  const parts: string[] = [];
  for (const f of submissionFiles(deps.db, submissionId)) {
    if (extensionOf(f.name) !== extension) continue;
    parts.push((await readFile(deps.blobs.path(f.sha256))).toString('utf8'));
  }
  return parts.join('\n');
}

/** The starter files as given out, with template tags blanked (they differ per variant, the code does not). */
async function starterText(deps: Pick<Deps, 'blobs'>, current: Current, extension: string): Promise<string | null> {
  const parts: string[] = [];
  for (const e of current.version.manifest) {
    if (!e.path.startsWith('starter/') || extensionOf(e.path) !== extension) continue;
    const text = (await readFile(deps.blobs.path(e.sha256))).toString('utf8');
    parts.push(text.replace(/\{\{[\s\S]*?\}\}/g, '0').replace(/\{%[\s\S]*?%\}/g, ''));
  }
  return parts.length ? parts.join('\n') : null;
}

/**
 * Each student's or team's counted submission (the newest one when none is graded yet), once:
 * team-mates share a submission, so they are one subject.
 */
export function subjectsOf(deps: Pick<Deps, 'db'>, current: Current, course: string): Subject[] {
  const students = listEnrolled(deps.db, course, 'student').map((s) => ({ id: s.id, email: s.email, name: s.name, studentId: s.studentId }));
  const bySubmission = new Map<number, Subject>();
  for (const g of assignmentGrades(deps.db, current, students)) {
    const s = (g.counted ?? g.latest)?.submission;
    if (!s) continue;
    let subject = bySubmission.get(s.id);
    if (!subject) {
      const team = s.teamId === null ? null : getTeam(deps.db, s.teamId);
      subject = { key: `s${s.id}`, submissionId: s.id, number: s.number, label: team ? `team ${team.name}` : '', teamId: s.teamId, members: [] };
      bySubmission.set(s.id, subject);
    }
    subject.members.push({ id: g.student.id, name: g.student.name, email: g.student.email });
  }
  const out = [...bySubmission.values()];
  for (const s of out) if (!s.label) s.label = s.members.map((m) => m.name).join(', ');
  return out.sort((a, b) => a.submissionId - b.submissionId);
}

/** Groups of more than two subjects, linked by pairs at or above `threshold` (union-find). */
export function clustersOf(pairs: PairOut[], threshold: number): string[][] {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(x, r);
    return r;
  };
  for (const p of pairs) {
    if (p.similarity < threshold) continue;
    for (const k of [p.left, p.right]) if (!parent.has(k)) parent.set(k, k);
    const a = find(p.left);
    const b = find(p.right);
    if (a !== b) parent.set(a, b);
  }
  const groups = new Map<string, string[]>();
  for (const k of parent.keys()) {
    const r = find(k);
    groups.set(r, [...(groups.get(r) ?? []), k]);
  }
  return [...groups.values()].filter((g) => g.length > 2).map((g) => g.sort());
}

export interface RunningReport {
  child: ChildProcess | null;
  done: Promise<void>;
}

/**
 * Makes one report: reads the submissions, sends them to the worker process, records its
 * progress as it goes and the result at the end. Never throws: a failure is recorded on the report.
 */
export function runReport(deps: Deps, req: { id: number; current: Current; course: string; maxShare: number }): RunningReport {
  const state: RunningReport = { child: null, done: Promise.resolve() };
  const started = Date.now();
  const fail = (message: string) => {
    failReport(deps.db, req.id, deps.clock.now(), message);
    deps.log.warn({ report: req.id, reason: message }, 'similarity report failed');
  };
  state.done = (async () => {
    setProgress(deps.db, req.id, 0, 'reading the submissions');
    const subjects = subjectsOf(deps, req.current, req.course);
    const counts = new Map<string, number>();
    for (const s of subjects) for (const f of submissionFiles(deps.db, s.submissionId)) counts.set(extensionOf(f.name), (counts.get(extensionOf(f.name)) ?? 0) + 1);
    const extension = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
    const documents = [];
    const compared: Subject[] = [];
    for (const s of subjects) {
      const text = await subjectText(deps, s.submissionId, extension);
      if (!text.trim()) continue;
      compared.push(s);
      documents.push({ path: `${s.key}${extension || '.txt'}`, text });
    }
    if (documents.length < 2) return fail(`There is nothing to compare: ${documents.length} student or team has handed in code.`);
    if (!existsSync(WORKER)) return fail(`The analysis program ${WORKER} is missing: run "npm run build".`);
    const starter = await starterText(deps, req.current, extension);
    const input: AnalysisInput = {
      language: LANGUAGES[extension] ?? 'char',
      documents,
      starter: starter ? { path: `starter${extension}`, text: starter } : null,
      maxShare: req.maxShare,
      kgramLength: DEFAULTS.kgramLength,
      kgramsInWindow: DEFAULTS.kgramsInWindow,
      maxPairs: DEFAULTS.maxPairs,
      fragmentsFor: DEFAULTS.fragmentsFor,
    };
    const child = fork(WORKER, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' });
    state.child = child;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < 8000) stderr += d.toString('utf8');
    });
    const outcome = await new Promise<AnalysisMessage | { type: 'exit'; code: number | null; signal: string | null }>((resolve) => {
      let last: AnalysisMessage | null = null;
      child.on('message', (raw) => {
        const m = raw as AnalysisMessage;
        if (m.type === 'progress') setProgress(deps.db, req.id, Math.min(0.99, m.fraction), m.stage);
        else last = m;
      });
      child.on('error', (err) => resolve({ type: 'failed', message: err.message }));
      child.on('exit', (code, signal) => resolve(last ?? { type: 'exit', code, signal }));
      child.send(input);
    });
    state.child = null;
    if (outcome.type === 'exit') return fail(`The analysis stopped (${outcome.signal ?? `exit code ${outcome.code}`})${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' ')}` : ''}.`);
    if (outcome.type === 'failed') return fail(`The analysis failed: ${outcome.message}`);
    if (outcome.type !== 'done') return fail('The analysis ended without a result.');
    const keyOf = (p: string) => p.slice(0, p.length - (extension || '.txt').length);
    const pairs = outcome.result.pairs.map((p) => ({ ...p, left: keyOf(p.left), right: keyOf(p.right) }));
    const report: StoredReport = {
      subjects: compared,
      pairs,
      clusters: clustersOf(pairs, DEFAULTS.clusterAt),
      clusterAt: DEFAULTS.clusterAt,
      language: outcome.result.language,
      extension,
      totalPairs: outcome.result.totalPairs,
      warnings: outcome.result.warnings,
      starterExcluded: starter !== null,
      durationMs: Date.now() - started,
      maxRssKb: outcome.maxRssKb,
    };
    finishReport(deps.db, req.id, deps.clock.now(), report);
    deps.log.info({ report: req.id, subjects: compared.length, pairs: pairs.length, ms: report.durationMs, maxRssKb: report.maxRssKb }, 'similarity report made');
  })().catch((err: unknown) => {
    deps.log.error({ err, report: req.id }, 'similarity report crashed');
    fail(`The report could not be made: ${err instanceof Error ? err.message : String(err)}`);
  });
  return state;
}
