import type { MarkdownIt } from 'markdown-it';
import nunjucks from 'nunjucks';
import { createPageMarkdown, type PageLinkEnv } from './markdown.js';

/**
 * A page body is markdown with nunjucks inside. Per file version it is turned, once, into one
 * compiled nunjucks template of HTML; per request only that template is rendered with the
 * reader's context.
 *
 * 1. Every nunjucks tag (`{{ }}`, `{% %}`, `{# #}`) is cut out and replaced by a placeholder made
 *    of private-use characters, which markdown-it, the typographer, highlight.js and KaTeX all
 *    leave alone (they match no keyword, digit or punctuation), so `{{ a * b }}` is not turned
 *    into emphasis and a tag inside a code block survives highlighting. Text between
 *    `{% raw %}` and `{% endraw %}` stays markdown, so it is escaped as usual.
 * 2. markdown-it renders the body once.
 * 3. The placeholders are put back (also where markdown-it percent-encoded them in a URL); a
 *    block tag alone in its paragraph loses the `<p>` around it.
 * 4. nunjucks compiles the result once (autoescape on), with no loader: a page cannot include
 *    files, and sees only the context the plugin passes.
 *
 * Errors are reported with the line in the .md file: each tag's source line is kept, and a
 * nunjucks error position in the HTML template is mapped back to the tag at or before it.
 */

const OPEN = '\uE000';
const CLOSE = '\uE001';
const DIGIT0 = 0xe010;
// Markdown text cannot forge a placeholder: these characters are removed from the source first.
const RESERVED = /[\uE000\uE001\uE010-\uE019]/g;
const PLACEHOLDER = /\uE000([\uE010-\uE019]+)\uE001|%EE%80%80((?:%EE%80%9[0-9])+)%EE%80%81/g;
const TAG = /\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}|\{#[\s\S]*?#\}/g;
const RAW_OPEN = /^\{%-?\s*(raw|verbatim)\s*-?%\}$/;
const VARIANT_CALL = /\bvariant\(\s*(['"])([^'"\\\n]{1,100})\1\s*\)/g;

interface Tag {
  text: string;
  /** 1-based line in the .md file. */
  line: number;
}

export class PageTemplateError extends Error {
  constructor(
    /** Path shown to staff, relative to the course folder. */
    readonly file: string,
    /** 1-based line in the .md file, when known. */
    readonly line: number | null,
    message: string,
  ) {
    super(message);
    this.name = 'PageTemplateError';
  }

  /** "pages/week1.md, line 12: Unable to call `foo`..." */
  get where(): string {
    return this.line ? `${this.file}, line ${this.line}` : this.file;
  }
}

export interface CompiledPage {
  template: nunjucks.Template;
  /** Literal slugs of variant("...") calls, resolved before rendering. */
  variantSlugs: string[];
  /** Tags in template order with their positions there, for mapping render errors back. */
  positions: TagPosition[];
  file: string;
}

interface TagPosition {
  /** 1-based line and 0-based column of the tag in the compiled template. */
  line: number;
  col: number;
  /** 1-based line in the .md file. */
  sourceLine: number;
  text: string;
}

function placeholder(i: number): string {
  let digits = '';
  for (const d of String(i)) digits += String.fromCharCode(DIGIT0 + Number(d));
  return OPEN + digits + CLOSE;
}

function placeholderIndex(chars: string): number {
  let n = 0;
  for (const ch of chars) n = n * 10 + (ch.charCodeAt(0) - DIGIT0);
  return n;
}

function encodedIndex(encoded: string): number {
  let n = 0;
  for (const m of encoded.matchAll(/%EE%80%9([0-9])/g)) n = n * 10 + Number(m[1]);
  return n;
}

function extractTags(body: string, firstLine: number): { text: string; tags: Tag[] } {
  const tags: Tag[] = [];
  let out = '';
  let last = 0;
  let line = firstLine;
  let counted = 0;
  const lineAt = (offset: number) => {
    for (let i = counted; i < offset; i++) if (body.charCodeAt(i) === 10) line++;
    counted = Math.max(counted, offset);
    return line;
  };
  TAG.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = TAG.exec(body))) {
    const text = m[0];
    out += body.slice(last, m.index) + placeholder(tags.length);
    tags.push({ text, line: lineAt(m.index) });
    last = m.index + text.length;
    const raw = RAW_OPEN.exec(text);
    if (raw) {
      const end = new RegExp(`\\{%-?\\s*end${raw[1]}\\s*-?%\\}`, 'g');
      end.lastIndex = last;
      const close = end.exec(body);
      if (!close) continue;
      out += body.slice(last, close.index) + placeholder(tags.length);
      tags.push({ text: close[0], line: lineAt(close.index) });
      last = close.index + close[0].length;
      TAG.lastIndex = last;
    }
  }
  out += body.slice(last);
  return { text: out, tags };
}

function substitute(html: string, tags: Tag[]): { source: string; positions: TagPosition[] } {
  // Block tags ({% if %}, {% set %}, {# note #}) written on their own lines next to text end up
  // inside that text's paragraph; moved out of it (when they lead or trail it), they leave no
  // empty <p></p> and keep the HTML balanced when {% if %} and {% endif %} sit in different paragraphs.
  const isBlockTag = (ph: string) => {
    const tag = tags[placeholderIndex(ph.slice(1, -1))];
    return tag !== undefined && !tag.text.startsWith('{{');
  };
  const LEAD = /^(\uE000[\uE010-\uE019]+\uE001)\s*/;
  const TRAIL = /\s*(\uE000[\uE010-\uE019]+\uE001)$/;
  const unwrapped = html.replace(/<p>([\s\S]*?)<\/p>\n?/g, (whole, inner: string) => {
    let body = inner;
    let lead = '';
    let trail = '';
    let m: RegExpExecArray | null;
    while ((m = LEAD.exec(body)) && isBlockTag(m[1]!)) {
      lead += `${m[1]}\n`;
      body = body.slice(m[0].length);
    }
    while ((m = TRAIL.exec(body)) && isBlockTag(m[1]!)) {
      trail = `${m[1]}\n${trail}`;
      body = body.slice(0, body.length - m[0].length);
    }
    if (!lead && !trail) return whole;
    // A block tag left in the middle ({% else %} between two lines) keeps the paragraph whole:
    // each branch then still closes the <p> it opened.
    for (const ph of body.match(/\uE000[\uE010-\uE019]+\uE001/g) ?? []) if (isBlockTag(ph)) return whole;
    return lead + (body.trim() ? `<p>${body}</p>\n` : '') + trail;
  });
  const positions: TagPosition[] = [];
  let source = '';
  let line = 1;
  let col = 0;
  const advance = (chunk: string) => {
    const nl = chunk.lastIndexOf('\n');
    if (nl === -1) col += chunk.length;
    else {
      for (let i = 0; i < chunk.length; i++) if (chunk.charCodeAt(i) === 10) line++;
      col = chunk.length - nl - 1;
    }
    source += chunk;
  };
  let last = 0;
  PLACEHOLDER.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = PLACEHOLDER.exec(unwrapped))) {
    advance(unwrapped.slice(last, m.index));
    const index = m[1] !== undefined ? placeholderIndex(m[1]) : encodedIndex(m[2] ?? '');
    const tag = tags[index];
    if (tag) {
      positions.push({ line, col, sourceLine: tag.line, text: tag.text });
      advance(tag.text);
    }
    last = m.index + m[0].length;
  }
  advance(unwrapped.slice(last));
  return { source, positions };
}

const NUNJUCKS_MESSAGE = /^\(([^)]*)\)(?: \[Line (\d+), Column (\d+)\])?\n\s*(?:Error: )?([\s\S]*)$/;
const BLOCK_OPEN = /^\{%-?\s*(if|for|asyncEach|asyncAll|macro|call|filter|block|raw|verbatim)\b/;
const SET_BLOCK = /^\{%-?\s*set\s+[^=]*-?%\}$/;
const BLOCK_END = /^\{%-?\s*end(\w+)/;

/** For errors nunjucks reports without a position: the unclosed or stray block tag, or the tag using an unknown filter. */
function guessLine(message: string, positions: TagPosition[]): number | null {
  const filter = /filter not found: (\w+)/.exec(message);
  if (filter) {
    const re = new RegExp(`\\|\\s*${filter[1]}\\b`);
    return positions.find((p) => re.test(p.text))?.sourceLine ?? null;
  }
  const stack: TagPosition[] = [];
  for (const p of positions) {
    if (BLOCK_OPEN.test(p.text) || SET_BLOCK.test(p.text)) stack.push(p);
    else if (BLOCK_END.test(p.text)) {
      if (!stack.pop()) return p.sourceLine;
    }
  }
  return stack.at(-1)?.sourceLine ?? positions.at(-1)?.sourceLine ?? null;
}

function toPageError(err: unknown, file: string, positions: TagPosition[], phase: 'compile' | 'render'): PageTemplateError {
  if (err instanceof PageTemplateError) return err;
  const raw = err instanceof Error ? err.message : String(err);
  const m = NUNJUCKS_MESSAGE.exec(raw);
  let message = (m?.[4] ?? raw).trim();
  let line: number | null;
  if (m?.[2]) {
    // nunjucks counts parse-error lines from 1 and render-error lines from 0.
    const tplLine = Number(m[2]) + (phase === 'render' ? 1 : 0);
    const tplCol = Number(m[3]);
    let best: TagPosition | undefined;
    for (const p of positions) {
      if (p.line < tplLine || (p.line === tplLine && p.col <= tplCol)) best = p;
      else break;
    }
    line = best?.sourceLine ?? null;
  } else {
    line = guessLine(message, positions);
  }
  if (phase === 'compile' && /unexpected token|expected (variable|block) end|unknown block tag/.test(message)) message += ' (to show {{ or {% as text, put it between {% raw %} and {% endraw %})';
  return new PageTemplateError(file, line, message);
}

export interface CompileOptions {
  /** Shown in errors: the path relative to the course folder, e.g. "pages/week1/intro.md". */
  file: string;
  /** 1-based line of the body's first line in the file (after front matter). */
  firstLine: number;
  links: PageLinkEnv;
}

/** The page markdown and a nunjucks environment without loader or globals: built once per process. */
export interface PageCompiler {
  compile(body: string, options: CompileOptions): CompiledPage;
}

export function createPageCompiler(counters: { markdown: number; compile: number } = { markdown: 0, compile: 0 }): PageCompiler {
  const md: MarkdownIt = createPageMarkdown({
    check(tex) {
      if (/[\uE000-\uE019]/.test(tex)) throw new MathTagError(tex);
    },
  });
  const env = new nunjucks.Environment([], { autoescape: true, throwOnUndefined: false });
  return {
    compile(body, options) {
      const { text, tags } = extractTags(body.replace(RESERVED, '\uFFFD'), options.firstLine);
      let html: string;
      counters.markdown++;
      try {
        html = md.render(text, { ...options.links });
      } catch (err) {
        if (err instanceof MathTagError) {
          const ph = /\uE000([\uE010-\uE019]+)\uE001/.exec(err.tex);
          const line = ph ? (tags[placeholderIndex(ph[1]!)]?.line ?? null) : null;
          throw new PageTemplateError(options.file, line, 'nunjucks tags cannot be used inside $...$ math: math is rendered once for everyone, so personal values must stay outside it.');
        }
        throw err;
      }
      const { source, positions } = substitute(html, tags);
      counters.compile++;
      let template: nunjucks.Template;
      try {
        template = new nunjucks.Template(source, env, options.file, true);
      } catch (err) {
        throw toPageError(err, options.file, positions, 'compile');
      }
      const slugs = new Set<string>();
      for (const tag of tags) for (const call of tag.text.matchAll(VARIANT_CALL)) slugs.add(call[2]!);
      return { template, variantSlugs: [...slugs], positions, file: options.file };
    },
  };
}

class MathTagError extends Error {
  constructor(readonly tex: string) {
    super('nunjucks tag inside math');
  }
}

/** Renders a compiled page; a failure comes back as a PageTemplateError with the .md line. */
export function renderCompiled(page: CompiledPage, context: Record<string, unknown>): string {
  try {
    return page.template.render(context);
  } catch (err) {
    throw toPageError(err, page.file, page.positions, 'render');
  }
}
