import type busboy from 'busboy';
import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { AppContext } from '../../plugin.js';
import { UserError } from '../../lib/errors.js';
import { DISK_FULL_MESSAGE, isStorageFull, Unavailable } from '../../lib/unavailable.js';
import { describeBytes } from '../assignments/config.js';

export interface UploadLimits {
  /** Largest single file. */
  fileBytes: number;
  files: number;
  /** All files together. */
  totalBytes: number;
  fieldBytes: number;
  fields: number;
}

export interface ReceivedFile {
  field: string;
  /** The client's file name, reduced to a safe base name. */
  name: string;
  tempPath: string;
  size: number;
  sha256: string;
}

export interface ReceivedUpload {
  files: ReceivedFile[];
  fields: Record<string, string>;
}

/** A file name a student may use: no folders, no control characters, no dot-dot. */
export function safeFileName(raw: string): string | null {
  const base = raw.replace(/\\/g, '/').split('/').pop() ?? '';
  const name = base.normalize('NFC').trim();
  if (!name || name === '.' || name === '..' || name.length > 200) return null;
  // Control characters (C0 and DEL) have no place in a file name.
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) return null;
  return name;
}

/**
 * Parses multipart/form-data as a stream: each file goes straight to a temp file in the blob
 * store (hashed on the way), so memory does not grow with the upload. Any limit exceeded: 413
 * naming the limit, and every temp file written so far is removed.
 */
export async function receiveMultipart(ctx: AppContext, tempPath: () => string, limits: UploadLimits): Promise<ReceivedUpload> {
  if (!ctx.request.is('multipart/form-data')) {
    throw new UserError(415, 'Send the files as multipart/form-data (an HTML form with enctype="multipart/form-data").');
  }
  const declared = Number(ctx.get('content-length') || '0');
  // Headers and boundaries add a little; anything far beyond the total is refused before reading.
  if (declared > limits.totalBytes + 64 * 1024 + limits.fields * limits.fieldBytes) {
    ctx.req.resume();
    throw new UserError(413, `The upload is larger than the limit of ${describeBytes(limits.totalBytes)} in total.`);
  }

  const files: ReceivedFile[] = [];
  const fields: Record<string, string> = Object.create(null) as Record<string, string>;
  const writes: Array<Promise<void>> = [];
  const outs: WriteStream[] = [];
  let total = 0;
  let failure: UserError | Unavailable | null = null;

  // Loaded on first use, like every upload-only library: start-up time matters at every deploy.
  const { default: createBusboy } = await import('busboy');
  let bb: busboy.Busboy;
  try {
    bb = createBusboy({
      headers: ctx.req.headers,
      limits: { fileSize: limits.fileBytes, files: limits.files, fieldSize: limits.fieldBytes, fields: limits.fields, parts: limits.files + limits.fields + 2 },
      defParamCharset: 'utf8',
    });
  } catch {
    throw new UserError(400, 'The upload is not valid multipart/form-data (no boundary).');
  }

  let settle: () => void = () => undefined;
  // On the first failure: stop parsing (which ends every file stream with an error, so their
  // writes settle), read and drop the rest of the body, and answer at once.
  const fail = (err: UserError | Unavailable) => {
    if (failure) return;
    failure = err;
    ctx.req.unpipe(bb);
    // Not from inside busboy's own callback (it still touches its state after calling us).
    setImmediate(() => bb.destroy());
    ctx.req.resume();
    settle();
  };

  bb.on('file', (field, stream, info) => {
    // A form cut off inside a file fails its stream as well as busboy: busboy's 'error' answers.
    stream.on('error', () => undefined);
    if (failure) {
      stream.resume();
      return;
    }
    if (!info.filename) {
      // An empty file input: browsers send a part without a name.
      stream.resume();
      return;
    }
    const name = safeFileName(info.filename);
    if (!name) {
      stream.resume();
      fail(new UserError(400, `The file name "${info.filename.slice(0, 100)}" cannot be used.`));
      return;
    }
    const tempFile = tempPath();
    const hash = createHash('sha256');
    let size = 0;
    const record: ReceivedFile = { field, name, tempPath: tempFile, size: 0, sha256: '' };
    files.push(record);
    stream.on('limit', () => fail(new UserError(413, `"${name}" is larger than the limit of ${describeBytes(limits.fileBytes)} per file.`)));
    // Counted and hashed as the chunks flow to disk: no extra stream stage per chunk.
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      total += chunk.length;
      if (total > limits.totalBytes) {
        fail(new UserError(413, `The upload is larger than the limit of ${describeBytes(limits.totalBytes)} in total.`));
        stream.destroy(new Error('total limit'));
        return;
      }
      hash.update(chunk);
    });
    const out = createWriteStream(tempFile, { flags: 'wx', mode: 0o640 });
    outs.push(out);
    writes.push(
      pipeline(stream, out).then(
        () => {
          record.size = size;
          record.sha256 = hash.digest('hex');
        },
        () => {
          stream.resume();
          // The parser's own failures are reported already; a temp file that cannot be written
          // (a full disk) must end the upload with an answer, not leave the request waiting.
          if (!failure && out.errored) {
            fail(isStorageFull(out.errored) ? new Unavailable(DISK_FULL_MESSAGE, 60) : new Unavailable(`The upload could not be written to disk: nothing was stored. Please try again.`, 30));
          } else if (!failure) {
            fail(new UserError(400, 'The upload was cut off before it finished.'));
          }
        },
      ),
    );
  });
  bb.on('field', (name, value, info) => {
    if (info.valueTruncated) fail(new UserError(413, `The form field "${name.slice(0, 50)}" is longer than the limit of ${describeBytes(limits.fieldBytes)}.`));
    else fields[name] = value;
  });
  bb.on('filesLimit', () => fail(new UserError(413, `Too many files: at most ${limits.files} can be uploaded at once.`)));
  bb.on('fieldsLimit', () => fail(new UserError(413, `Too many form fields: at most ${limits.fields}.`)));
  bb.on('partsLimit', () => fail(new UserError(413, `Too many parts in the upload: at most ${limits.files} files and ${limits.fields} fields.`)));

  const finished = new Promise<void>((resolve) => {
    settle = resolve;
    bb.on('close', () => resolve());
    bb.on('error', () => {
      fail(new UserError(400, 'The upload is not valid multipart/form-data; it may have been cut off. Try again.'));
      resolve();
    });
    ctx.req.on('aborted', () => {
      fail(new UserError(400, 'The upload was cut off before it finished.'));
      resolve();
    });
  });
  ctx.req.pipe(bb);
  await finished;
  await Promise.all(writes);
  const error: UserError | Unavailable | null = failure;
  if (error) {
    // Nothing may be left behind, so nothing may still be on its way to disk: the parser is done
    // (no file part can start any more), every write has settled, and every temporary file is
    // closed (a file still opening when its write failed would otherwise appear after its removal).
    if (!bb.closed) await closeOf(bb);
    await Promise.all(writes);
    await Promise.all(outs.map((o) => (o.closed ? null : closeOf(o))));
    await discard(files);
    throw error;
  }
  return { files, fields };
}

/** Resolves on 'close' (events.once would reject on the 'error' a failed stream emits first). */
function closeOf(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => stream.once('close', () => resolve()));
}

export async function discard(files: Array<{ tempPath: string }>): Promise<void> {
  await Promise.all(files.map((f) => rm(f.tempPath, { force: true })));
}
