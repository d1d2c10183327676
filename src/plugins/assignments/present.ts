import path from 'node:path';
import type { Course } from '../../lib/content.js';
import { formatDateTime } from '../../lib/views.js';
import type { Deps } from '../../plugin.js';
import { standing } from './deadline.js';
import { DEFAULT_ARCHIVE_LIMITS } from './archive.js';
import { MAX_TEMPLATE_BYTES } from './bundle.js';
import { describeMs, type AssignmentConfig } from './config.js';
import { asText, renderStatement, renderText, type TemplateContext } from './render.js';
import { readBlob, type Version } from './store.js';

/** Largest bundle upload. */
export const UPLOAD_LIMIT = DEFAULT_ARCHIVE_LIMITS.maxArchiveBytes;

/** Uploads and unpacked archives in progress; what a crash leaves here is swept at start-up. */
export function uploadTmpDir(deps: Pick<Deps, 'config'>): string {
  return path.join(deps.config.dataDir, 'tmp', 'assignments');
}

/** Problems found in the course folder at start-up, per course and slug, for the staff pages. */
export type FolderProblems = Map<string, Map<string, string[]>>;

/** A moment as these pages write it: formatDateTime in the course's zone, followed by the zone's name. */
export function dateText(ms: number | null, course: Course): string {
  if (ms === null) return '';
  return `${formatDateTime(ms, course.timezone)} (${course.timezone})`;
}

type State = 'upcoming' | 'open' | 'late' | 'closed';

/** The class-wide standing (deadline.ts) in these pages' words; grace still reads "Open". */
export function stateOf(config: AssignmentConfig, now: number, course: Course): { state: State; text: string } {
  const s = standing(config, now);
  if (s === 'upcoming') return { state: 'upcoming', text: `Opens ${dateText(config.opensAt, course)}` };
  if (s === 'open' || s === 'grace') return { state: 'open', text: 'Open' };
  if (s === 'late') return { state: 'late', text: `Deadline passed: late submissions until ${dateText(config.late.hardCloseAt, course)}` };
  return { state: 'closed', text: 'Closed' };
}

function lateText(config: AssignmentConfig, course: Course): string {
  const grace = config.graceMs ? `${describeMs(config.graceMs)} of grace, then ` : '';
  if (config.late.hardCloseAt <= config.deadlineAt + config.graceMs) return config.graceMs ? `${describeMs(config.graceMs)} of grace; nothing is accepted after that` : 'Not accepted';
  return `${grace}${config.late.penaltyPerDay}% off per day late (at most ${config.late.cap}%), accepted until ${dateText(config.late.hardCloseAt, course)}`;
}

/** The dates and state every assignment page shows above its content. */
export function dates(config: AssignmentConfig, course: Course, now: number) {
  const s = stateOf(config, now, course);
  return {
    title: config.title,
    opens: dateText(config.opensAt, course),
    deadline: dateText(config.deadlineAt, course),
    deadlineAt: config.deadlineAt,
    lateText: lateText(config, course),
    state: s.state,
    stateText: s.text,
    filesText: config.files.join(', '),
  };
}

export function starterEntries(version: Version) {
  return version.manifest.filter((e) => e.path.startsWith('starter/') && e.path.length > 'starter/'.length);
}

/** A starter file with the student's parameters filled in (text files only). */
export async function starterContent(deps: Pick<Deps, 'blobs'>, entry: { path: string; sha256: string; size: number }, ctx: TemplateContext): Promise<Buffer> {
  const raw = await readBlob(deps, entry.sha256);
  if (entry.size > MAX_TEMPLATE_BYTES) return raw;
  const text = asText(raw);
  if (text === null) return raw;
  return Buffer.from(renderText(text, ctx, `${entry.sha256}`, entry.path));
}

/** The statement rendered with the parameters; '' without one, null when it fails to render (logged). */
export async function statementHtml(deps: Pick<Deps, 'blobs' | 'log'>, version: Version, tctx: TemplateContext): Promise<string | null> {
  const entry = version.manifest.find((e) => e.path === 'statement.md');
  if (!entry) return '';
  const source = (await readBlob(deps, entry.sha256)).toString('utf8');
  try {
    return renderStatement(source, tctx, entry.sha256);
  } catch (err) {
    deps.log.warn({ err: (err as Error).message, version: version.id }, 'statement failed to render');
    return null;
  }
}

export function truncate(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
