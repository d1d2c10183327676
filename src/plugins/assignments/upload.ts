import type busboy from 'busboy';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../../lib/errors.js';
import type { AppContext } from '../../plugin.js';
import { describeBytes } from './config.js';

export interface ReceivedUpload {
  /** Temporary file holding the upload; the caller removes it. */
  file: string;
  filename: string;
  size: number;
  fields: Record<string, string>;
}

/**
 * Streams one multipart file field straight to a temporary file (never into memory), with
 * limits on its size and on the other fields. Over a limit: 413 and the partial file is gone.
 */
export async function receiveUpload(ctx: AppContext, opts: { tmpDir: string; field: string; maxBytes: number }): Promise<ReceivedUpload> {
  if (!ctx.request.is('multipart/form-data')) throw new UserError(415, 'Send the bundle as a multipart/form-data upload.');
  const declared = Number(ctx.get('content-length') || '0');
  if (declared > opts.maxBytes + 64 * 1024) {
    ctx.set('Connection', 'close');
    throw new UserError(413, `The upload is larger than the limit of ${describeBytes(opts.maxBytes)}.`);
  }
  await mkdir(opts.tmpDir, { recursive: true });
  const file = path.join(opts.tmpDir, `upload-${randomBytes(12).toString('hex')}`);
  const { default: createBusboy } = await import('busboy');
  let bb: busboy.Busboy;
  try {
    bb = createBusboy({ headers: ctx.req.headers, limits: { files: 1, fileSize: opts.maxBytes, fields: 20, fieldSize: 4096, parts: 25, headerPairs: 50 } });
  } catch {
    throw new UserError(400, 'The upload is not a well-formed multipart form.');
  }
  const fields: Record<string, string> = {};
  let filename = '';
  let size = 0;
  let gotFile = false;
  let tooBig = false;
  let tooMany = false;
  let writing: Promise<void> = Promise.resolve();
  try {
    await new Promise<void>((resolve, reject) => {
      bb.on('field', (name, value, info) => {
        if (info.valueTruncated) tooMany = true;
        else fields[name] = value;
      });
      bb.on('file', (name, stream, info) => {
        // A form cut off inside a file fails its stream as well as busboy: busboy's 'error' answers.
        stream.on('error', () => undefined);
        if (name !== opts.field || gotFile) {
          stream.resume();
          return;
        }
        gotFile = true;
        filename = info.filename ?? '';
        const out = createWriteStream(file, { flags: 'wx', mode: 0o600 });
        stream.on('data', (chunk: Buffer) => {
          size += chunk.length;
        });
        stream.on('limit', () => {
          tooBig = true;
        });
        writing = new Promise<void>((res, rej) => {
          out.on('finish', () => res());
          out.on('error', rej);
          stream.on('error', rej);
        });
        // When busboy fails first, nobody awaits this one: its failure must not go unhandled.
        writing.catch(() => undefined);
        stream.pipe(out);
      });
      bb.on('filesLimit', () => {
        tooMany = true;
      });
      bb.on('fieldsLimit', () => {
        tooMany = true;
      });
      bb.on('partsLimit', () => {
        tooMany = true;
      });
      bb.on('error', () => reject(new UserError(400, 'The upload is not a well-formed multipart form.')));
      bb.on('close', () => resolve());
      ctx.req.on('aborted', () => reject(new UserError(400, 'The upload was interrupted.')));
      ctx.req.pipe(bb);
    });
    await writing;
    if (tooBig) {
      ctx.set('Connection', 'close');
      throw new UserError(413, `The upload is larger than the limit of ${describeBytes(opts.maxBytes)}.`);
    }
    if (tooMany) throw new UserError(413, 'The form has too many or too large fields.');
    if (!gotFile || size === 0) throw new UserError(400, 'Choose a .zip or .tar.gz file to upload.');
    return { file, filename, size, fields };
  } catch (err) {
    ctx.req.unpipe(bb);
    ctx.req.resume();
    await writing.catch(() => undefined);
    await rm(file, { force: true });
    throw err instanceof UserError ? err : new UserError(400, 'The upload could not be read.');
  }
}
