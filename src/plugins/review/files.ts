import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Entry, ZipFile } from 'yauzl';
import type { BlobStore } from '../../lib/blobs.js';
import { highlightSource } from '../pages/markdown.js';
import type { SubmissionFile } from '../submissions/store.js';

/**
 * Submitted files as staff and students read them in the review views: text as numbered,
 * highlighted lines; binary and oversized files as a notice with a download; a submitted .zip as a
 * tree of its entries, each readable the same way. Nothing a student wrote is ever sent as HTML:
 * lines are escaped (highlight.js escapes what it does not mark up).
 */

/** Larger files are offered as downloads only. */
export const SHOW_BYTES = 1024 * 1024;
/** Larger (or longer) files are shown without highlighting, which would take too long. */
const HIGHLIGHT_BYTES = 256 * 1024;
const HIGHLIGHT_LINES = 10_000;
/** Entries listed of a zip, at most. */
export const ZIP_ENTRIES = 2000;

export type Shown =
  | { kind: 'text'; lines: string[]; highlighted: boolean; language: string | null }
  | { kind: 'binary'; size: number }
  | { kind: 'large'; size: number }
  | { kind: 'zip'; entries: ZipEntry[]; truncated: boolean }
  | { kind: 'unreadable'; reason: string };

export interface ZipEntry {
  path: string;
  size: number;
  directory: boolean;
}

const EXT_LANGUAGE: Record<string, string> = { mk: 'makefile', txt: 'plaintext', text: 'plaintext', h: 'c' };

export function languageOf(name: string): string | null {
  const base = path.posix.basename(name).toLowerCase();
  if (base === 'makefile' || base === 'gnumakefile') return 'makefile';
  if (base === 'dockerfile') return 'dockerfile';
  const ext = path.posix.extname(base).slice(1);
  if (!ext) return null;
  return EXT_LANGUAGE[ext] ?? ext;
}

export function isBinary(buf: Buffer): boolean {
  if (buf.subarray(0, 8000).includes(0)) return true;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return false;
  } catch {
    return true;
  }
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * Highlighted HTML cut into lines: highlight.js spans may cross line ends (comments, strings), so
 * each line closes the spans still open and the next reopens them.
 */
export function splitHighlighted(html: string): string[] {
  const lines: string[] = [];
  const open: string[] = [];
  let line = '';
  for (const m of html.matchAll(/<span[^>]*>|<\/span>|\n|[^<\n]+/g)) {
    const t = m[0];
    if (t === '\n') {
      lines.push(line + '</span>'.repeat(open.length));
      line = open.join('');
    } else if (t === '</span>') {
      open.pop();
      line += t;
    } else {
      if (t.startsWith('<span')) open.push(t);
      line += t;
    }
  }
  lines.push(line + '</span>'.repeat(open.length));
  return lines;
}

/** A text as lines of safe HTML, highlighted when its language is known and it is not too large. */
export function textLines(text: string, name: string): { lines: string[]; highlighted: boolean; language: string | null } {
  const body = text.replace(/\r\n?/g, '\n');
  const trimmed = body.endsWith('\n') ? body.slice(0, -1) : body;
  const language = languageOf(name);
  const lineCount = trimmed.split('\n').length;
  if (language && trimmed.length <= HIGHLIGHT_BYTES && lineCount <= HIGHLIGHT_LINES) {
    const html = highlightSource(trimmed, language);
    if (html !== null) return { lines: splitHighlighted(html), highlighted: true, language };
  }
  return { lines: trimmed.split('\n').map(escapeHtml), highlighted: false, language };
}

export function showBuffer(buf: Buffer, name: string): Shown {
  if (buf.length > SHOW_BYTES) return { kind: 'large', size: buf.length };
  if (isBinary(buf)) return { kind: 'binary', size: buf.length };
  return { kind: 'text', ...textLines(buf.toString('utf8'), name) };
}

/**
 * What was shown of a blob (or a zip entry), kept for the grader's next request: every rubric
 * click redirects back to the same file, and blobs never change. Bounded by entries.
 */
const shownCache = new Map<string, Shown>();
const SHOWN_CACHE_ENTRIES = 64;

async function cached(key: string, make: () => Promise<Shown | null>): Promise<Shown | null> {
  const hit = shownCache.get(key);
  if (hit) {
    shownCache.delete(key);
    shownCache.set(key, hit);
    return hit;
  }
  const shown = await make();
  if (shown && shown.kind !== 'unreadable') {
    if (shownCache.size >= SHOWN_CACHE_ENTRIES) shownCache.delete(shownCache.keys().next().value!);
    shownCache.set(key, shown);
  }
  return shown;
}

export function isZipName(name: string): boolean {
  return name.toLowerCase().endsWith('.zip');
}

async function openZip(file: string): Promise<ZipFile> {
  const yauzl = (await import('yauzl')).default;
  return new Promise((resolve, reject) => yauzl.open(file, { lazyEntries: true, autoClose: false, strictFileNames: false, validateEntrySizes: true }, (err, zip) => (err ? reject(err) : resolve(zip))));
}

/** Walks a zip's central directory; `visit` returns true to stop. */
export async function walkZip(file: string, visit: (e: Entry, zip: ZipFile) => Promise<boolean> | boolean): Promise<void> {
  const zip = await openZip(file);
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('error', reject);
      zip.on('end', () => resolve());
      zip.on('entry', (e: Entry) => {
        Promise.resolve(visit(e, zip)).then(
          (stop) => (stop ? resolve() : zip.readEntry()),
          (err: unknown) => reject(err instanceof Error ? err : new Error(String(err))),
        );
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
}

export async function zipEntries(file: string): Promise<{ entries: ZipEntry[]; truncated: boolean }> {
  const entries: ZipEntry[] = [];
  let truncated = false;
  await walkZip(file, (e) => {
    if (entries.length >= ZIP_ENTRIES) {
      truncated = true;
      return true;
    }
    const directory = e.fileName.endsWith('/');
    entries.push({ path: e.fileName.replace(/\/+$/, ''), size: e.uncompressedSize, directory });
    return false;
  });
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { entries, truncated };
}

/** One entry of a zip, read only when small enough to show; null when there is no such entry. */
export async function zipEntry(file: string, entryPath: string): Promise<Shown | null> {
  let shown: Shown | null = null;
  await walkZip(file, async (e, zip) => {
    if (e.fileName.replace(/\/+$/, '') !== entryPath || e.fileName.endsWith('/')) return false;
    if (e.uncompressedSize > SHOW_BYTES) {
      shown = { kind: 'large', size: e.uncompressedSize };
      return true;
    }
    const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) => zip.openReadStream(e, (err, s) => (err ? reject(err) : resolve(s))));
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of stream as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > SHOW_BYTES) break;
      chunks.push(c);
    }
    shown = size > SHOW_BYTES ? { kind: 'large', size } : showBuffer(Buffer.concat(chunks), entryPath);
    return true;
  });
  return shown;
}

/**
 * What to show of a submitted file, or of an entry inside a submitted zip (`entry`). Null when
 * the entry does not exist.
 */
export function showFile(blobs: BlobStore, file: SubmissionFile, entry: string | null): Promise<Shown | null> {
  // The name is part of the key: it picks the language.
  return cached(`${file.sha256}\u0000${file.name}\u0000${entry ?? ''}`, () => readShown(blobs, file, entry));
}

async function readShown(blobs: BlobStore, file: SubmissionFile, entry: string | null): Promise<Shown | null> {
  const where = blobs.path(file.sha256);
  if (entry !== null) {
    if (!isZipName(file.name)) return null;
    try {
      return await zipEntry(where, entry);
    } catch {
      return { kind: 'unreadable', reason: 'The zip file cannot be read: it may be damaged.' };
    }
  }
  if (isZipName(file.name)) {
    try {
      return { kind: 'zip', ...(await zipEntries(where)) };
    } catch {
      // Not really a zip: shown like any other file.
    }
  }
  if (file.size > SHOW_BYTES) return { kind: 'large', size: file.size };
  return showBuffer(await readFile(where), file.name);
}
