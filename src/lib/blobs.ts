import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { open, rename, rm, stat, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface BlobInfo {
  sha256: string;
  size: number;
}

/**
 * Content-addressed file store: data/blobs/ab/cdef... named by sha256. A blob is written to a
 * temporary file, fsynced, then renamed into place, so a reader never sees half a file and a
 * crash leaves at most a temp file (swept at start-up).
 */
export interface BlobStore {
  dir: string;
  /** Stores a stream; returns its hash and size. */
  put(source: Readable | Buffer | string): Promise<BlobInfo>;
  /** Stores an existing file (copying it). */
  putFile(file: string): Promise<BlobInfo>;
  /** A fresh path in the store's temp folder, for writers that hash as they stream (uploads). */
  tempPath(): string;
  /**
   * Moves a fully written, already hashed temp file into the store (fsync, rename). The caller
   * vouches for the hash. When the blob exists already the temp file is just removed.
   */
  adopt(tempFile: string, sha256: string): Promise<void>;
  path(sha256: string): string;
  has(sha256: string): Promise<boolean>;
  read(sha256: string): Readable;
  /**
   * Removes temp files and blobs that no table references. `isReferenced` is asked per blob;
   * blobs younger than `minAgeMs` are kept because a transaction may be about to reference them.
   */
  sweep(isReferenced: (sha256: string) => boolean, minAgeMs?: number): { removed: number; kept: number };
}

const HASH = /^[0-9a-f]{64}$/;

export function createBlobStore(dir: string): BlobStore {
  const tmpDir = path.join(dir, 'tmp');
  mkdirSync(tmpDir, { recursive: true });
  const blobPath = (sha: string): string => {
    if (!HASH.test(sha)) throw new Error(`not a sha256: ${sha}`);
    return path.join(dir, sha.slice(0, 2), sha.slice(2));
  };

  const tempPath = () => path.join(tmpDir, `${Date.now()}-${randomBytes(8).toString('hex')}`);

  async function adopt(tempFile: string, sha256: string): Promise<void> {
    const dest = blobPath(sha256);
    try {
      const fh = await open(tempFile, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await mkdir(path.dirname(dest), { recursive: true });
      await rename(tempFile, dest);
      await fsyncDir(path.dirname(dest));
    } finally {
      await rm(tempFile, { force: true });
    }
  }

  async function put(source: Readable | Buffer | string): Promise<BlobInfo> {
    const tmp = tempPath();
    const hash = createHash('sha256');
    let size = 0;
    try {
      if (typeof source === 'string' || Buffer.isBuffer(source)) {
        const buf = typeof source === 'string' ? Buffer.from(source) : source;
        hash.update(buf);
        size = buf.length;
        const fh = await open(tmp, 'wx', 0o640);
        try {
          await fh.writeFile(buf);
          await fh.sync();
        } finally {
          await fh.close();
        }
      } else {
        const out = createWriteStream(tmp, { flags: 'wx', mode: 0o640 });
        source.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          size += chunk.length;
        });
        await pipeline(source, out);
        const fh = await open(tmp, 'r+');
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
      }
      const sha256 = hash.digest('hex');
      const dest = blobPath(sha256);
      await mkdir(path.dirname(dest), { recursive: true });
      await rename(tmp, dest);
      await fsyncDir(path.dirname(dest));
      return { sha256, size };
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  return {
    dir,
    put,
    putFile: (file) => put(createReadStream(file)),
    tempPath,
    adopt,
    path: blobPath,
    has: async (sha) => {
      try {
        return (await stat(blobPath(sha))).isFile();
      } catch {
        return false;
      }
    },
    read: (sha) => createReadStream(blobPath(sha)),
    sweep(isReferenced, minAgeMs = 60 * 60 * 1000) {
      let removed = 0;
      let kept = 0;
      const now = Date.now();
      for (const name of readdirSync(tmpDir)) {
        rmSync(path.join(tmpDir, name), { force: true, recursive: true });
        removed++;
      }
      for (const prefix of readdirSync(dir)) {
        if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
        for (const rest of readdirSync(path.join(dir, prefix))) {
          const sha = prefix + rest;
          const file = path.join(dir, prefix, rest);
          if (!HASH.test(sha)) continue;
          if (isReferenced(sha) || now - statSync(file).mtimeMs < minAgeMs) {
            kept++;
            continue;
          }
          rmSync(file, { force: true });
          removed++;
        }
      }
      return { removed, kept };
    },
  };
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
