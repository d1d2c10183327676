import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * Course files (images, downloads) live beside the pages in `<course>/pages/` and are served at
 * `/courses/<slug>/files/<path>`, so that `![](fig.png)` in a page just works. Every path is
 * checked segment by segment before the file system is touched, then again after realpath(), so
 * neither encoded dots and slashes nor a symlink can reach outside the pages folder.
 */

/**
 * Splits the still percent-encoded part of a URL path into decoded segments, or null when any
 * segment is empty, ".", "..", hidden (leading dot), undecodable, or holds "/", "\" or a control
 * character after decoding. `allowTrailingSlash` lets a folder URL ("week1/") through.
 */
function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

export function safeSegments(raw: string, allowTrailingSlash = false): string[] | null {
  if (raw === '') return [];
  const parts = raw.split('/');
  if (allowTrailingSlash && parts.length > 1 && parts.at(-1) === '') parts.pop();
  const out: string[] = [];
  for (const part of parts) {
    let seg: string;
    try {
      seg = decodeURIComponent(part);
    } catch {
      return null;
    }
    if (seg === '' || seg.startsWith('.') || /[/\\]/.test(seg) || hasControlChar(seg)) return null;
    out.push(seg);
  }
  return out;
}

export function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root + path.sep);
}

export interface ResolvedFile {
  real: string;
  size: number;
  mtime: Date;
}

/** The regular file at segments under root (a real path), or null. Page sources (.md) are never files. */
export async function resolveFile(root: string, segments: string[]): Promise<ResolvedFile | null> {
  if (segments.length === 0) return null;
  const last = segments.at(-1)!;
  if (last.toLowerCase().endsWith('.md')) return null;
  const candidate = path.join(root, ...segments);
  if (!isInside(root, candidate)) return null;
  let real: string;
  try {
    real = await realpath(candidate);
  } catch {
    return null;
  }
  if (!isInside(root, real) || real === root) return null;
  const info = await stat(real).catch(() => null);
  if (!info?.isFile()) return null;
  return { real, size: info.size, mtime: info.mtime };
}

interface FileType {
  type: string;
  /** Shown in the browser (inline) or downloaded (attachment). */
  inline: boolean;
}

const TEXT = 'text/plain; charset=utf-8';
const TYPES: Record<string, FileType> = {
  '.png': { type: 'image/png', inline: true },
  '.jpg': { type: 'image/jpeg', inline: true },
  '.jpeg': { type: 'image/jpeg', inline: true },
  '.gif': { type: 'image/gif', inline: true },
  '.webp': { type: 'image/webp', inline: true },
  '.avif': { type: 'image/avif', inline: true },
  '.svg': { type: 'image/svg+xml', inline: true },
  '.ico': { type: 'image/x-icon', inline: true },
  '.pdf': { type: 'application/pdf', inline: true },
  '.txt': { type: TEXT, inline: true },
  '.csv': { type: 'text/csv; charset=utf-8', inline: true },
  '.json': { type: 'application/json; charset=utf-8', inline: true },
  '.c': { type: TEXT, inline: true },
  '.h': { type: TEXT, inline: true },
  '.py': { type: TEXT, inline: true },
  '.java': { type: TEXT, inline: true },
  '.sh': { type: TEXT, inline: true },
  '.mk': { type: TEXT, inline: true },
  '.mp3': { type: 'audio/mpeg', inline: true },
  '.ogg': { type: 'audio/ogg', inline: true },
  '.mp4': { type: 'video/mp4', inline: true },
  '.webm': { type: 'video/webm', inline: true },
  '.zip': { type: 'application/zip', inline: false },
  '.gz': { type: 'application/gzip', inline: false },
  '.tgz': { type: 'application/gzip', inline: false },
  '.tar': { type: 'application/x-tar', inline: false },
};

/** Known types are shown inline; anything else (including .html) is a download, never rendered on our origin. */
export function fileType(name: string): FileType {
  const lower = name.toLowerCase();
  if (lower === 'makefile') return { type: TEXT, inline: true };
  return TYPES[path.extname(lower)] ?? { type: 'application/octet-stream', inline: false };
}

export function openFile(real: string): NodeJS.ReadableStream {
  return createReadStream(real);
}
