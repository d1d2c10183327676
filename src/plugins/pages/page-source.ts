import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { formatZodIssues } from '../../lib/content.js';
import type { CompiledPage, PageTemplateError } from './template.js';

/**
 * One version of a page's source file (path + mtime + size): its front matter read and checked,
 * its body kept for compiling on first view (library.ts).
 */

export type Visibility = 'public' | 'enrolled' | 'staff';

export interface PageMeta {
  title: string;
  order: number;
  visibility: Visibility;
  /** ms since the epoch; before it only staff see the page. */
  release: number | null;
}

export interface PageVersion {
  mtimeMs: number;
  size: number;
  meta: PageMeta;
  /** A front matter problem: the page is then shown to staff only, with this message. */
  metaError: string | null;
  body: string;
  firstLine: number;
  compiled?: CompiledPage;
  compileError?: PageTemplateError;
  /** Error messages already logged for this version (log once, not per request). */
  logged: Set<string>;
}

export const DEFAULT_ORDER = 1000;
const FRONT_MATTER = /^---[ \t]*\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/;
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

const metaSchema = z.object({
  title: z.string().trim().min(1).max(300).optional(),
  order: z.number().finite().optional(),
  visibility: z.enum(['public', 'enrolled', 'staff']).default('enrolled'),
  release: z
    .string()
    .regex(ISO_WITH_OFFSET, 'use an ISO 8601 date and time with an offset, e.g. 2026-10-05T08:00:00+02:00')
    .refine((s) => !Number.isNaN(Date.parse(s)), 'not a real date')
    .optional(),
});

export function prettyName(name: string): string {
  const base = name.replace(/\.md$/, '').replace(/[-_]+/g, ' ').trim();
  return base ? base[0]!.toUpperCase() + base.slice(1) : name;
}

export function parsePageSource(text: string, fallbackTitle: string, mtimeMs: number, size: number): PageVersion {
  // Editors on Windows may start the file with a byte order mark, which would hide the front matter.
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const m = FRONT_MATTER.exec(source);
  const body = m ? source.slice(m[0].length) : source;
  const firstLine = m ? m[0].split('\n').length - (m[0].endsWith('\n') ? 0 : 1) : 1;
  const heading = /^#[ \t]+(.+?)[ \t#]*$/m.exec(body)?.[1];
  const fallback = heading && !heading.includes('{') ? heading : fallbackTitle;
  let metaError: string | null = null;
  let meta: PageMeta = { title: fallback, order: DEFAULT_ORDER, visibility: 'staff', release: null };
  let raw: unknown = {};
  if (m) {
    try {
      raw = parseYaml(m[1] ?? '') ?? {};
    } catch (err) {
      metaError = `front matter is not valid YAML: ${(err as Error).message.split('\n')[0]}`;
    }
  }
  if (!metaError) {
    const parsed = metaSchema.safeParse(typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? raw : { __invalid: true });
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) metaError = 'front matter must be a YAML mapping (title: ..., order: ...)';
    else if (!parsed.success) metaError = `front matter: ${formatZodIssues(parsed.error.issues).join('; ')}`;
    else {
      meta = {
        title: parsed.data.title ?? fallback,
        order: parsed.data.order ?? DEFAULT_ORDER,
        visibility: parsed.data.visibility,
        release: parsed.data.release ? Date.parse(parsed.data.release) : null,
      };
    }
  }
  return { mtimeMs, size, meta, metaError, body, firstLine, logged: new Set() };
}
