import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { markReplayable } from '../lib/replay.js';
import type { AppMiddleware } from '../plugin.js';

interface Asset {
  body: Buffer;
  etag: string;
  hash: string;
  mtime: Date;
  /** mtime as the Last-Modified header says it, made once. */
  lastModified: string;
  type: string;
}

export interface StaticFiles {
  middleware: AppMiddleware;
  /** "css/lectern.css" -> "/static/css/lectern.3f2a9c01d4.css" (fingerprinted, cached for a year). */
  url(file: string): string;
}

const PREFIX = '/static/';

function walk(dir: string, base = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const rel = base ? `${base}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...walk(path.join(dir, entry.name), rel));
    else if (entry.isFile()) out.push(rel);
  }
  return out;
}

function fingerprinted(rel: string, hash: string): string {
  const ext = path.posix.extname(rel);
  return `${rel.slice(0, rel.length - ext.length)}.${hash}${ext}`;
}

/**
 * Serves public/ from memory: the folder is small, and reading it once at start-up keeps file
 * reads off the request path. Plain URLs revalidate (ETag, Last-Modified); fingerprinted URLs
 * (name.<hash>.ext, made by url()) never change, so browsers may keep them for a year.
 */
export function staticFiles(dir: string, options: { reload?: boolean } = {}): StaticFiles {
  let byPath = new Map<string, Asset>();
  let byFingerprint = new Map<string, Asset>();
  const load = () => {
    byPath = new Map();
    byFingerprint = new Map();
    for (const rel of walk(dir)) {
      const file = path.join(dir, rel);
      const body = readFileSync(file);
      const hash = createHash('sha256').update(body).digest('hex').slice(0, 10);
      const mtime = statSync(file).mtime;
      const asset: Asset = { body, hash, etag: `"${hash}"`, mtime, lastModified: mtime.toUTCString(), type: path.extname(rel) };
      byPath.set(rel, asset);
      byFingerprint.set(fingerprinted(rel, hash), asset);
    }
  };
  load();

  const middleware: AppMiddleware = async (ctx, next) => {
    if (!ctx.path.startsWith(PREFIX) || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    if (options.reload) load();
    const rel = ctx.path.slice(PREFIX.length);
    let asset = byFingerprint.get(rel);
    if (asset) {
      ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
    } else {
      asset = byPath.get(rel);
      if (!asset) return next();
      ctx.set('Cache-Control', 'public, max-age=0, must-revalidate');
    }
    ctx.set('ETag', asset.etag);
    ctx.set('Last-Modified', asset.lastModified);
    ctx.type = asset.type;
    const inm = ctx.get('if-none-match');
    const ims = ctx.get('if-modified-since');
    const notModified = inm
      ? inm.split(',').some((t) => t.trim().replace(/^W\//, '') === asset.etag || t.trim() === '*')
      : ims !== '' && !Number.isNaN(Date.parse(ims)) && Math.floor(asset.mtime.getTime() / 1000) <= Date.parse(ims) / 1000;
    if (notModified) {
      ctx.status = 304;
      return;
    }
    ctx.body = asset.body;
    // Nothing here depends on the reader or the database: later requests for this URL may be
    // answered with this response before Koa (src/lib/replay.ts). Not while files are re-read.
    if (!options.reload) markReplayable(ctx, { shared: true, validUntil: Infinity });
  };

  return {
    middleware,
    url(file: string) {
      if (options.reload) load();
      const asset = byPath.get(file);
      return asset ? PREFIX + fingerprinted(file, asset.hash) : PREFIX + file;
    },
  };
}
