import { UserError } from '../../lib/errors.js';
import type { Deps } from '../../plugin.js';
import { points as fmtPoints } from '../../lib/format.js';
import type { SubmissionFile } from '../submissions/store.js';
import { isZipName, showFile, type Shown } from './files.js';
import { renderMarkdown } from './markdown.js';
import type { FinalBreakdown } from './score.js';
import type { RubricGroup } from './rubric-store.js';
import type { LineComment } from './store.js';

/** The page model of a file as numbered lines with the comments on them, for staff and student views. */

export interface CommentView {
  id: number;
  path: string;
  lineStart: number;
  lineEnd: number;
  range: string;
  html: string;
  body: string;
  itemId: number | null;
  itemTitle: string | null;
  itemPoints: string | null;
  authorName: string | null;
  createdAt: number;
  edited: boolean;
}

export interface LineView {
  n: number;
  html: string;
  commented: boolean;
  comments: CommentView[];
}

export interface FileEntryView {
  name: string;
  path: string;
  size: number;
  depth: number;
  directory: boolean;
  selected: boolean;
  comments: number;
}

/** Consecutive lines as ready HTML rows, then the comments under the last of them. */
export interface LineChunk {
  rows: string;
  comments: CommentView[];
}

export interface ShownFile {
  path: string;
  file: SubmissionFile;
  entry: string | null;
  shown: Shown;
  lines: LineView[];
  /** The lines as table rows cut where comments go (a 2,000-line file is one string, not 2,000 template loops). */
  chunks: LineChunk[];
  /** Comments on lines past the end (the file was shorter than the comment said): shown below. */
  orphans: CommentView[];
}

export function rangeText(c: { lineStart: number; lineEnd: number }): string {
  return c.lineStart === c.lineEnd ? `line ${c.lineStart}` : `lines ${c.lineStart}–${c.lineEnd}`;
}

export async function commentViews(comments: LineComment[], rubric: RubricGroup[]): Promise<CommentView[]> {
  const items = new Map(rubric.flatMap((g) => g.items.map((i) => [i.id, i])));
  const html = await renderMarkdown(comments.map((c) => c.body));
  return comments.map((c) => {
    const item = c.itemId === null ? undefined : items.get(c.itemId);
    return {
      id: c.id,
      path: c.path,
      lineStart: c.lineStart,
      lineEnd: c.lineEnd,
      range: rangeText(c),
      html: html.get(c.body) ?? '',
      body: c.body,
      itemId: c.itemId,
      itemTitle: item?.title ?? null,
      itemPoints: item ? (item.points > 0 ? `+${fmtPoints(item.points)}` : fmtPoints(item.points)) : null,
      authorName: c.authorName,
      createdAt: c.createdAt,
      edited: c.editedAt !== null,
    };
  });
}

/** "proj.zip/src/a.c" -> the file "proj.zip" and the entry "src/a.c". */
export function splitPath(files: SubmissionFile[], path: string): { file: SubmissionFile; entry: string | null } | null {
  const exact = files.find((f) => f.name === path);
  if (exact) return { file: exact, entry: null };
  const zip = files.find((f) => isZipName(f.name) && path.startsWith(`${f.name}/`) && path.length > f.name.length + 1);
  return zip ? { file: zip, entry: path.slice(zip.name.length + 1) } : null;
}

/** The file (or zip entry) chosen by the query, the first text file by default. */
export async function shownFile(deps: Deps, files: SubmissionFile[], wanted: string | null, comments: CommentView[]): Promise<ShownFile | null> {
  if (!files.length) return null;
  const target = wanted ? splitPath(files, wanted) : { file: files[0]!, entry: null };
  if (!target) throw new UserError(404, 'There is no such file in this submission.');
  const shown = await showFile(deps.blobs, target.file, target.entry);
  if (!shown) throw new UserError(404, 'There is no such file in this zip.');
  const path = target.entry === null ? target.file.name : `${target.file.name}/${target.entry}`;
  const mine = comments.filter((c) => c.path === path);
  const lines: LineView[] = [];
  const orphans: CommentView[] = [];
  if (shown.kind === 'text') {
    const byEnd = new Map<number, CommentView[]>();
    const covered = new Set<number>();
    for (const c of mine) {
      if (c.lineEnd > shown.lines.length) {
        orphans.push(c);
        continue;
      }
      const list = byEnd.get(c.lineEnd);
      if (list) list.push(c);
      else byEnd.set(c.lineEnd, [c]);
      for (let n = c.lineStart; n <= c.lineEnd; n++) covered.add(n);
    }
    shown.lines.forEach((html, i) => lines.push({ n: i + 1, html, commented: covered.has(i + 1), comments: byEnd.get(i + 1) ?? [] }));
  } else {
    orphans.push(...mine);
  }
  return { path, file: target.file, entry: target.entry, shown, lines, chunks: chunksOf(lines), orphans };
}

function chunksOf(lines: LineView[]): LineChunk[] {
  const chunks: LineChunk[] = [];
  let rows: string[] = [];
  for (const l of lines) {
    // l.html is escaped or highlighted (safe); the rest is numbers.
    rows.push(`<tr id="L${l.n}" class="line${l.commented ? ' commented' : ''}"><td class="ln"><a href="#L${l.n}" data-line="${l.n}" aria-label="Line ${l.n}">${l.n}</a></td><td class="src"><code>${l.html}</code></td></tr>`);
    if (l.comments.length) {
      chunks.push({ rows: rows.join('\n'), comments: l.comments });
      rows = [];
    }
  }
  if (rows.length) chunks.push({ rows: rows.join('\n'), comments: [] });
  return chunks;
}

/** The file list: every submitted file, and a shown zip's entries below it. */
export function fileTree(files: SubmissionFile[], current: ShownFile | null, comments: CommentView[]): FileEntryView[] {
  const counts = new Map<string, number>();
  for (const c of comments) counts.set(c.path, (counts.get(c.path) ?? 0) + 1);
  const out: FileEntryView[] = [];
  for (const f of files) {
    out.push({ name: f.name, path: f.name, size: f.size, depth: 0, directory: false, selected: current?.path === f.name, comments: counts.get(f.name) ?? 0 });
    const zip = current && current.file.name === f.name && current.shown.kind === 'zip' ? current.shown.entries : null;
    if (zip) {
      for (const e of zip) {
        const parts = e.path.split('/');
        const full = `${f.name}/${e.path}`;
        out.push({ name: parts.at(-1)!, path: full, size: e.size, depth: Math.min(8, parts.length), directory: e.directory, selected: false, comments: counts.get(full) ?? 0 });
      }
    }
  }
  return out;
}

/** The breakdown as the student's page and the staff view say it. */
export function breakdownRows(b: FinalBreakdown): Array<{ label: string; value: string }> {
  const p = fmtPoints;
  const rows: Array<{ label: string; value: string }> = [];
  const part = (x: { score: number; max: number } | null) => (x ? `${p(x.score)} / ${p(x.max)}` : 'not yet');
  if (b.mode === 'autotest') rows.push({ label: 'Automatic tests', value: part(b.autotest) });
  else if (b.mode === 'manual') rows.push({ label: 'Manual grading (rubric)', value: part(b.manual) });
  else {
    rows.push({ label: `Automatic tests (worth ${p(b.weights.autotest)})`, value: b.autotest ? `${part(b.autotest)} → ${p(b.autotest.max > 0 ? (b.weights.autotest * b.autotest.score) / b.autotest.max : 0)}` : 'not yet' });
    rows.push({ label: `Manual grading (worth ${p(b.weights.manual)})`, value: b.manual ? `${part(b.manual)} → ${p(b.manual.max > 0 ? (b.weights.manual * b.manual.score) / b.manual.max : 0)}` : 'not yet' });
  }
  if (b.adjustments) rows.push({ label: 'Adjustments', value: b.adjustments > 0 ? `+${p(b.adjustments)}` : p(b.adjustments) });
  if (b.beforePenalty !== null && (b.penaltyPct || b.adjustments || b.mode === 'both')) rows.push({ label: 'Before the late penalty', value: p(b.beforePenalty) });
  if (b.penaltyPct) rows.push({ label: `Late penalty (${p(b.penaltyPct)} %)`, value: b.penaltyPoints === null ? `−${p(b.penaltyPct)} %` : `−${p(b.penaltyPoints)}` });
  rows.push({ label: 'Final score', value: b.final === null ? `not graded yet (${b.missing})` : `${p(b.final)} / ${p(b.max)}` });
  return rows;
}
