import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { ReadEntry } from 'tar';
import type { Entry as ZipEntry, ZipFile } from 'yauzl';
import { isIgnoredName } from './bundle.js';
import { MAX_BUNDLE_BYTES, MAX_BUNDLE_FILES } from './config.js';

export interface ArchiveLimits {
  /** Size of the archive file itself. */
  maxArchiveBytes: number;
  /** Sum of the uncompressed sizes of all files. */
  maxTotalBytes: number;
  maxFiles: number;
  /** Folders + file name: "a/b/c.txt" has depth 3. */
  maxDepth: number;
  /** Uncompressed / compressed, per entry and for the whole archive. */
  maxRatio: number;
  /** Below this many uncompressed bytes the ratio is not checked (tiny files compress well). */
  ratioFloorBytes: number;
}

/**
 * What an uploaded bundle archive may unpack to: the largest caps an assignment.yaml may ask for
 * on this server (bundle: max_files, max_size, up to the operator's maxima); the bundle's own
 * caps are checked after unpacking.
 */
export function bundleArchiveLimits(ceiling: { bundleMaxFiles: number; bundleMaxBytes: number }): ArchiveLimits {
  return {
    maxArchiveBytes: 50 * 1024 ** 2,
    maxTotalBytes: Math.min(ceiling.bundleMaxBytes, MAX_BUNDLE_BYTES),
    maxFiles: Math.min(ceiling.bundleMaxFiles, MAX_BUNDLE_FILES),
    maxDepth: 16,
    maxRatio: 100,
    ratioFloorBytes: 1024 ** 2,
  };
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  maxArchiveBytes: 50 * 1024 ** 2,
  maxTotalBytes: 100 * 1024 ** 2,
  maxFiles: 2000,
  maxDepth: 16,
  maxRatio: 100,
  ratioFloorBytes: 1024 ** 2,
};

/** A refused archive; the message is for the person who uploaded it. */
export class ArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveError';
  }
}

export type ArchiveKind = 'zip' | 'tar.gz';

/** By content, not by name: zip starts with PK\3\4 (or PK\5\6 when empty), gzip with 1f 8b. */
export async function detectArchive(file: string): Promise<ArchiveKind | null> {
  const fh = await open(file, 'r');
  const head = Buffer.alloc(4);
  try {
    await fh.read(head, 0, 4, 0);
  } finally {
    await fh.close();
  }
  if (head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5)) return 'zip';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'tar.gz';
  return null;
}

/** Checks one entry name and returns its parts, or throws naming the rule it breaks. */
function entryParts(name: string, limits: ArchiveLimits): string[] {
  if (name.includes('\0')) throw new ArchiveError(`"${printable(name)}": a NUL byte in a file name is not allowed`);
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name)) throw new ArchiveError(`"${printable(name)}": absolute paths are not allowed in an archive`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new ArchiveError(`"${printable(name)}": paths with ".." are not allowed in an archive`);
  if (parts.length > limits.maxDepth) throw new ArchiveError(`"${printable(name)}" is nested ${parts.length} levels deep; at most ${limits.maxDepth} are allowed`);
  return parts;
}

function printable(name: string): string {
  const clean = [...name].map((ch) => (ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f ? '?' : ch)).join('');
  return clean.length > 120 ? `${clean.slice(0, 117)}...` : clean;
}

function bombMessage(limits: ArchiveLimits): string {
  return `the archive expands to more than ${limits.maxRatio} times its compressed size: it looks like a zip bomb`;
}

class Counter {
  files = 0;
  ignored = 0;
  bytes = 0;
  readonly seen = new Set<string>();
  constructor(
    readonly limits: ArchiveLimits,
    readonly archiveBytes: number,
  ) {}
  file(parts: string[], declared: number): void {
    this.files++;
    if (this.files > this.limits.maxFiles) throw new ArchiveError(`the archive has more than ${this.limits.maxFiles} files`);
    const key = parts.join('/');
    if (this.seen.has(key)) throw new ArchiveError(`"${printable(key)}" appears twice in the archive`);
    this.seen.add(key);
    this.add(declared);
  }
  /**
   * An entry the extraction skips (__MACOSX/, .DS_Store, ._*): not one of the files the limit is
   * about, so a Mac-made zip of one file is one file. Bounded on its own all the same.
   */
  skip(): void {
    this.ignored++;
    if (this.ignored > this.limits.maxFiles + 64) throw new ArchiveError(`the archive has more than ${this.limits.maxFiles + 64} entries`);
  }
  add(n: number): void {
    this.bytes += n;
    if (this.bytes > this.limits.maxTotalBytes) throw new ArchiveError(`the archive unpacks to more than ${this.limits.maxTotalBytes} bytes (the limit)`);
  }
}

async function target(dest: string, parts: string[]): Promise<string> {
  const file = path.join(dest, ...parts);
  const rel = path.relative(dest, file);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new ArchiveError(`"${printable(parts.join('/'))}" points outside the archive`);
  await mkdir(path.dirname(file), { recursive: true });
  return file;
}

/** Writes a stream to a new file, counting bytes as they arrive so that a lying header cannot overrun the limit. */
async function writeCounted(source: Readable, file: string, mode: number, declared: number): Promise<void> {
  let written = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      written += chunk.length;
      if (written > declared) {
        cb(new ArchiveError(`"${path.basename(file)}" holds more data than its header says`));
        return;
      }
      cb(null, chunk);
    },
  });
  await pipeline(source, meter, createWriteStream(file, { flags: 'wx', mode }));
  if (written !== declared) throw new ArchiveError(`"${path.basename(file)}" is shorter than its header says: the archive is damaged`);
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

function mapYauzlError(err: Error): Error {
  if (err instanceof ArchiveError) return err;
  const m = err.message;
  if (m.startsWith('absolute path: ')) return new ArchiveError(`"${printable(m.slice(15))}": absolute paths are not allowed in an archive`);
  if (m.startsWith('invalid relative path: ')) return new ArchiveError(`"${printable(m.slice(23))}": paths with ".." are not allowed in an archive`);
  if (m.startsWith('invalid characters in fileName')) return new ArchiveError('a file name in the archive has invalid characters');
  if (/encrypted/i.test(m)) return new ArchiveError('encrypted zip files are not supported');
  return new ArchiveError(`the zip file is damaged or not supported (${m})`);
}

async function extractZip(file: string, dest: string, limits: ArchiveLimits, archiveBytes: number): Promise<void> {
  const counter = new Counter(limits, archiveBytes);
  // Loaded on first use: archives are rare, and start-up time matters at every deploy.
  const { default: yauzl } = await import('yauzl');
  const zip = await new Promise<ZipFile>((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, autoClose: true, validateEntrySizes: true, decodeStrings: true }, (err, z) => (err ? reject(mapYauzlError(err)) : resolve(z)));
  });
  if (zip.entryCount > limits.maxFiles * 2 + 16) {
    zip.close();
    throw new ArchiveError(`the archive has more than ${limits.maxFiles} files`);
  }
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      try {
        zip.close();
      } catch {
        // Already closed by autoClose: nothing more to release.
      }
      reject(mapYauzlError(err));
    };
    zip.on('error', fail);
    zip.on('end', () => {
      if (!failed) resolve();
    });
    zip.on('entry', (entry: ZipEntry) => {
      void (async () => {
        const name = entry.fileName;
        const isDir = name.endsWith('/');
        const parts = entryParts(name, limits);
        const madeOnUnix = entry.versionMadeBy >> 8 === 3;
        const unixMode = madeOnUnix ? (entry.externalFileAttributes >>> 16) & 0xffff : 0;
        const type = unixMode & S_IFMT;
        if (type === S_IFLNK) throw new ArchiveError(`"${printable(name)}" is a symbolic link; archives may only hold plain files and folders`);
        if (type !== 0 && type !== S_IFREG && type !== S_IFDIR) throw new ArchiveError(`"${printable(name)}" is a device or other special file; archives may only hold plain files and folders`);
        if (isDir || type === S_IFDIR) {
          if (parts.length && !isIgnoredName(parts[0]!)) await mkdir(path.join(dest, ...parts), { recursive: true });
          zip.readEntry();
          return;
        }
        if (!parts.length) throw new ArchiveError(`"${printable(name)}" is not a usable file name`);
        if (parts.some(isIgnoredName)) {
          counter.skip();
          zip.readEntry();
          return;
        }
        counter.file(parts, entry.uncompressedSize);
        if (entry.uncompressedSize >= limits.ratioFloorBytes && entry.uncompressedSize > limits.maxRatio * Math.max(1, entry.compressedSize)) {
          throw new ArchiveError(bombMessage(limits));
        }
        if (counter.bytes >= limits.ratioFloorBytes && counter.bytes > limits.maxRatio * archiveBytes) {
          throw new ArchiveError(bombMessage(limits));
        }
        const out = await target(dest, parts);
        const stream = await new Promise<Readable>((res, rej) => zip.openReadStream(entry, (err, s) => (err ? rej(err) : res(s))));
        await writeCounted(stream, out, unixMode & 0o111 ? 0o755 : 0o644, entry.uncompressedSize);
        zip.readEntry();
      })().catch(fail);
    });
    zip.readEntry();
  });
}

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

async function extractTarGz(file: string, dest: string, limits: ArchiveLimits, archiveBytes: number): Promise<void> {
  const { Parser } = await import('tar');
  const counter = new Counter(limits, archiveBytes);
  let unpacked = 0;
  // The whole decompressed stream (headers and padding included) is bounded, so a bomb stops early.
  const streamCap = limits.maxTotalBytes + (limits.maxFiles + 64) * 2048 + 1024 * 1024;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      unpacked += chunk.length;
      if (unpacked >= limits.ratioFloorBytes && unpacked > limits.maxRatio * archiveBytes) {
        cb(new ArchiveError(bombMessage(limits)));
        return;
      }
      if (unpacked > streamCap) {
        cb(new ArchiveError(`the archive unpacks to more than ${limits.maxTotalBytes} bytes (the limit)`));
        return;
      }
      cb(null, chunk);
    },
  });
  const pending: Array<Promise<void>> = [];
  const active = new Set<ReadEntry>();
  let firstError: Error | null = null;
  const parser = new Parser({
    strict: true,
    maxDecompressionRatio: Number.MAX_SAFE_INTEGER,
    onReadEntry: (entry: ReadEntry) => {
      const work = (async () => {
        if (firstError) {
          entry.resume();
          return;
        }
        const name = entry.path;
        const parts = entryParts(name, limits);
        if (entry.type === 'Directory') {
          entry.resume();
          if (parts.length && !isIgnoredName(parts[0]!)) await mkdir(path.join(dest, ...parts), { recursive: true });
          return;
        }
        if (entry.type === 'SymbolicLink') throw new ArchiveError(`"${printable(name)}" is a symbolic link; archives may only hold plain files and folders`);
        if (entry.type === 'Link') throw new ArchiveError(`"${printable(name)}" is a hard link; archives may only hold plain files and folders`);
        if (!FILE_TYPES.has(entry.type)) throw new ArchiveError(`"${printable(name)}" is a ${entry.type === 'CharacterDevice' || entry.type === 'BlockDevice' ? 'device' : 'special file'} (${entry.type}); archives may only hold plain files and folders`);
        if (!parts.length) throw new ArchiveError(`"${printable(name)}" is not a usable file name`);
        if (parts.some(isIgnoredName)) {
          counter.skip();
          entry.resume();
          return;
        }
        counter.file(parts, entry.size);
        const out = await target(dest, parts);
        active.add(entry);
        try {
          await writeCounted(entry as unknown as Readable, out, (entry.mode ?? 0o644) & 0o111 ? 0o755 : 0o644, entry.size);
        } finally {
          active.delete(entry);
        }
      })().catch((err: Error) => {
        firstError ??= err instanceof ArchiveError ? err : new ArchiveError(`the archive is damaged or not supported (${err.message})`);
        entry.resume();
        parser.abort(firstError);
      });
      pending.push(work);
    },
  });
  const source = createReadStream(file);
  const gunzip = createGunzip();
  try {
    await new Promise<void>((resolve, reject) => {
      parser.on('end', () => resolve());
      parser.on('error', (err: Error) => reject(err));
      for (const s of [source, gunzip, meter]) s.on('error', (err: Error) => reject(err));
      source.pipe(gunzip).pipe(meter).pipe(parser as unknown as NodeJS.WritableStream);
    });
  } catch (err) {
    for (const s of [source, gunzip, meter]) s.destroy();
    // An entry cut off mid-body would otherwise wait for data that never comes.
    for (const entry of active) entry.destroy(err as Error);
    await Promise.allSettled(pending);
    if (firstError) throw firstError;
    if (err instanceof ArchiveError) throw err;
    throw new ArchiveError(`the .tar.gz file is damaged or not supported (${(err as Error).message})`);
  }
  await Promise.allSettled(pending);
  if (firstError) throw firstError;
}

/**
 * Unpacks a .zip or .tar.gz into `dest` (which must exist and be empty), refusing anything
 * outside the limits. Throws ArchiveError with a message for the uploader.
 */
export async function extractArchive(file: string, dest: string, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<ArchiveKind> {
  const size = (await stat(file)).size;
  if (size > limits.maxArchiveBytes) throw new ArchiveError(`the archive is ${size} bytes; at most ${limits.maxArchiveBytes} are allowed`);
  const kind = await detectArchive(file);
  if (!kind) throw new ArchiveError('not a .zip or .tar.gz file');
  if (kind === 'zip') await extractZip(file, dest, limits, Math.max(1, size));
  else await extractTarGz(file, dest, limits, Math.max(1, size));
  return kind;
}

/**
 * An archive of "caesar/..." holds its bundle one folder down: returns that folder and its name.
 * Otherwise returns `dir` itself.
 */
export async function unwrapSingleFolder(dir: string): Promise<{ root: string; folder: string | null }> {
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !isIgnoredName(e.name));
  const only = entries[0];
  if (entries.length === 1 && only?.isDirectory()) return { root: path.join(dir, only.name), folder: only.name };
  return { root: dir, folder: null };
}
