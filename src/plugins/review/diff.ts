import { readFile } from 'node:fs/promises';
import { structuredPatch } from 'diff';
import type { Entry } from 'yauzl';
import type { BlobStore } from '../../lib/blobs.js';
import type { SubmissionFile } from '../submissions/store.js';
import { isBinary, isZipName, SHOW_BYTES, walkZip, ZIP_ENTRIES } from './files.js';

/**
 * The changes between two submissions of a student, file by file; a submitted zip is opened and
 * compared entry by entry (`project.zip/src/Main.java`), so a one-line change in a 50-file project
 * is one line, not "the zip changed". Everything is bounded: entries per zip, bytes read per zip,
 * bytes per file compared line by line, diff lines shown per file and in all, and the diff's time.
 */

/** Files (or entries) larger than this are compared by content only ("changed"), not line by line. */
const DIFF_BYTES = SHOW_BYTES;
/** Bytes read out of one zip for comparing; entries past it are compared by size and CRC only. */
const ZIP_READ_BYTES = 16 * 1024 * 1024;
/** Diff lines shown per file, and for the whole page. */
export const DIFF_LINES_PER_FILE = 2000;
export const DIFF_LINES_TOTAL = 20_000;

export interface DiffLine {
  kind: 'add' | 'del' | 'ctx' | 'hunk';
  text: string;
  oldN: number | null;
  newN: number | null;
}

export type Change = 'added' | 'removed' | 'changed' | 'same' | 'binary' | 'large' | 'too_different' | 'unreadable';

export interface FileDiff {
  /** The file's name, or `zip name/entry path` for an entry of a submitted zip. */
  name: string;
  change: Change;
  lines: DiffLine[];
  added: number;
  removed: number;
  /** Lines left out past the bounds (the counts above still cover them). */
  cut: number;
  /** For an added or removed file: it is text (its lines are counted in added/removed). */
  note: string | null;
}

/** One side of a comparison: a submitted file or a zip entry, its content read lazily and bounded. */
interface Side {
  size: number;
  /** Equal keys mean equal content (a blob's SHA-256; a zip entry's CRC-32 and size). */
  key: string;
  /** The bytes, or null when they were not read (too large, past the zip's read budget). */
  data: () => Promise<Buffer | null>;
}

interface Listing {
  sides: Map<string, Side>;
  /** A zip that could not be read, by name: its entries are unknown. */
  unreadable: Set<string>;
  truncated: Set<string>;
}

async function zipSides(path: string, zipName: string, into: Map<string, Side>): Promise<boolean> {
  let budget = ZIP_READ_BYTES;
  let count = 0;
  let truncated = false;
  await walkZip(path, async (e: Entry, zip) => {
    if (e.fileName.endsWith('/')) return false;
    if (++count > ZIP_ENTRIES) {
      truncated = true;
      return true;
    }
    const name = `${zipName}/${e.fileName.replace(/\/+$/, '')}`;
    let data: Buffer | null = null;
    if (e.uncompressedSize <= DIFF_BYTES && e.uncompressedSize <= budget) {
      const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) => zip.openReadStream(e, (err, s) => (err ? reject(err) : resolve(s))));
      const chunks: Buffer[] = [];
      for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
      data = Buffer.concat(chunks);
      budget -= data.length;
    }
    into.set(name, { size: e.uncompressedSize, key: `crc:${e.crc32}:${e.uncompressedSize}`, data: async () => data });
    return false;
  });
  return truncated;
}

async function listing(blobs: BlobStore, files: SubmissionFile[]): Promise<Listing> {
  const sides = new Map<string, Side>();
  const unreadable = new Set<string>();
  const truncated = new Set<string>();
  for (const f of files) {
    const where = blobs.path(f.sha256);
    if (isZipName(f.name)) {
      const entries = new Map<string, Side>();
      try {
        if (await zipSides(where, f.name, entries)) truncated.add(f.name);
        for (const [k, v] of entries) sides.set(k, v);
        continue;
      } catch {
        // Not a readable zip: compared as one file, like any other.
        unreadable.add(f.name);
      }
    }
    sides.set(f.name, { size: f.size, key: `sha:${f.sha256}`, data: async () => (f.size > DIFF_BYTES ? null : readFile(where)) });
  }
  return { sides, unreadable, truncated };
}

function lineCount(text: string): number {
  return text ? linesOf(text).length : 0;
}

function textOf(buf: Buffer | null): string | null {
  return buf === null || isBinary(buf) ? null : buf.toString('utf8').replace(/\r\n?/g, '\n');
}

function linesOf(text: string): string[] {
  const lines = text.split('\n');
  if (text.endsWith('\n')) lines.pop();
  return lines;
}

function sharesNoLine(a: string, b: string): boolean {
  const old = new Set(linesOf(a).filter((l) => l.trim()));
  return old.size > 0 && !linesOf(b).some((l) => l.trim() && old.has(l));
}

/** The whole old text removed and the new one added, as one hunk in structuredPatch's shape. */
function replacement(a: string, b: string): { hunks: Array<{ oldStart: number; oldLines: number; newStart: number; newLines: number; lines: string[] }> } {
  const [x, y] = [linesOf(a), linesOf(b)];
  return { hunks: [{ oldStart: 1, oldLines: x.length, newStart: 1, newLines: y.length, lines: [...x.map((l) => `-${l}`), ...y.map((l) => `+${l}`)] }] };
}

/** Every file of two submissions compared: added, removed, unchanged, binary changed, or a unified diff of its lines. */
export async function diffSubmissions(blobs: BlobStore, older: SubmissionFile[], newer: SubmissionFile[]): Promise<{ files: FileDiff[]; truncatedZips: string[] }> {
  const a = await listing(blobs, older);
  const b = await listing(blobs, newer);
  const names = [...new Set([...a.sides.keys(), ...b.sides.keys()])].sort();
  const out: FileDiff[] = [];
  let shownTotal = 0;
  const file = (name: string, change: Change, rest: Partial<FileDiff> = {}): FileDiff => ({ name, change, lines: [], added: 0, removed: 0, cut: 0, note: null, ...rest });
  for (const name of names) {
    const x = a.sides.get(name);
    const y = b.sides.get(name);
    if (x && y && x.key === y.key) {
      out.push(file(name, 'same'));
      continue;
    }
    if (!x || !y) {
      const side = (x ?? y)!;
      const t = textOf(await side.data());
      const n = t === null ? 0 : lineCount(t);
      const note = t !== null ? `${n} line${n === 1 ? '' : 's'}` : side.size > DIFF_BYTES ? `${side.size} bytes` : `binary, ${side.size} bytes`;
      out.push(file(name, x ? 'removed' : 'added', { added: x ? 0 : n, removed: x ? n : 0, note }));
      continue;
    }
    const [xd, yd] = [await x.data(), await y.data()];
    if (xd === null || yd === null) {
      out.push(file(name, 'large', { note: `${x.size} → ${y.size} bytes` }));
      continue;
    }
    if (xd.equals(yd)) {
      out.push(file(name, 'same'));
      continue;
    }
    const [xt, yt] = [textOf(xd), textOf(yd)];
    if (xt === null || yt === null) {
      out.push(file(name, 'binary', { note: `${x.size} → ${y.size} bytes` }));
      continue;
    }
    // A rewrite sharing no line with the old text is one replacement (Myers' diff would spend its
    // whole time limit on it); otherwise a time limit keeps unrelated long files from holding the request.
    const patch = sharesNoLine(xt, yt) ? replacement(xt, yt) : structuredPatch(name, name, xt, yt, undefined, undefined, { context: 3, timeout: 2000 });
    if (!patch) {
      out.push(file(name, 'too_different', { added: lineCount(yt), removed: lineCount(xt) }));
      continue;
    }
    const lines: DiffLine[] = [];
    let added = 0;
    let removed = 0;
    let cut = 0;
    const room = () => lines.length < DIFF_LINES_PER_FILE && shownTotal + lines.length < DIFF_LINES_TOTAL;
    const push = (l: DiffLine) => (room() ? lines.push(l) : cut++);
    for (const h of patch.hunks) {
      push({ kind: 'hunk', text: `@@ −${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`, oldN: null, newN: null });
      let o = h.oldStart;
      let n = h.newStart;
      for (const l of h.lines) {
        const mark = l[0];
        const text = l.slice(1);
        if (mark === '+') {
          push({ kind: 'add', text, oldN: null, newN: n++ });
          added += 1;
        } else if (mark === '-') {
          push({ kind: 'del', text, oldN: o++, newN: null });
          removed += 1;
        } else if (mark === ' ') {
          push({ kind: 'ctx', text, oldN: o++, newN: n++ });
        }
      }
    }
    shownTotal += lines.length;
    out.push(file(name, 'changed', { lines, added, removed, cut }));
  }
  for (const name of new Set([...a.unreadable, ...b.unreadable])) {
    const i = out.findIndex((d) => d.name === name);
    if (i >= 0 && out[i]!.change !== 'same') out[i] = { ...out[i]!, note: 'a zip that cannot be opened: compared as one file' };
  }
  return { files: out, truncatedZips: [...new Set([...a.truncated, ...b.truncated])] };
}
