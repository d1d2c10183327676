import type Katex from 'katex';
import type { MarkdownIt, StateBlock, StateInline } from 'markdown-it';
import { createRequire } from 'node:module';

/**
 * `$...$` (inline) and `$$...$$` (display) math, rendered on the server by KaTeX as MathML.
 *
 * Why our own rule rather than a plugin: the maintained plugin (@vscode/markdown-it-katex) pins
 * katex ^0.16 and would install a second, older KaTeX beside ours. The rule is small: pandoc's
 * conventions for `$` (no space inside the delimiters, no digit right after the closing one, so
 * "$5 and $10" stays text), `\$` for a literal dollar (markdown-it's escape rule).
 *
 * Why MathML only: the CSP forbids inline styles, and KaTeX's HTML output needs them.
 * Why throwOnError true and our own error markup: KaTeX's own error span carries a style attribute.
 */

export interface MathOptions {
  /** Called for source that cannot be rendered here (nunjucks placeholders inside math). */
  check?(tex: string): void;
}

const KATEX_BASE = { output: 'mathml', throwOnError: true, trust: false, strict: 'ignore', maxExpand: 1000, maxSize: 50 } as const;

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// Loaded when first needed (see markdownReady in markdown.ts); synchronously if nothing waited for it.
const require = createRequire(import.meta.url);
let katex: typeof Katex | null = null;
let katexLoading: Promise<void> | null = null;

/** Null once KaTeX is loaded, else a promise that resolves when it is. */
export function mathReady(): Promise<void> | null {
  if (katex) return null;
  katexLoading ??= import('katex').then((mod) => {
    katex ??= mod.default;
  });
  return katexLoading;
}

export function renderMath(tex: string, displayMode: boolean): string {
  katex ??= require('katex') as typeof Katex;
  try {
    return katex.renderToString(tex, { ...KATEX_BASE, displayMode });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const delim = displayMode ? '$$' : '$';
    return `<code class="math-error" title="${escapeHtml(message)}">${escapeHtml(delim + tex + delim)}</code>`;
  }
}

function isWhitespace(code: number | undefined): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
}

function mathInline(state: StateInline, silent: boolean): boolean {
  const src = state.src;
  const start = state.pos;
  if (src.charCodeAt(start) !== 0x24 /* $ */) return false;
  const display = src.charCodeAt(start + 1) === 0x24;
  const open = display ? 2 : 1;
  const contentStart = start + open;
  if (contentStart >= state.posMax) return false;
  if (!display && isWhitespace(src.charCodeAt(contentStart))) return false;

  let pos = contentStart;
  while (pos < state.posMax) {
    const c = src.charCodeAt(pos);
    if (c === 0x5c /* \ */) {
      pos += 2;
      continue;
    }
    if (c === 0x24) {
      if (display) {
        if (src.charCodeAt(pos + 1) === 0x24) break;
      } else {
        const next = src.charCodeAt(pos + 1);
        const closesHere = !isWhitespace(src.charCodeAt(pos - 1)) && !(next >= 0x30 && next <= 0x39);
        if (closesHere) break;
      }
    }
    pos++;
  }
  if (pos >= state.posMax) return false;
  const content = src.slice(contentStart, pos);
  if (!content.trim()) return false;
  if (!silent) {
    const token = state.push(display ? 'math_inline_display' : 'math_inline', 'math', 0);
    token.content = content;
    token.markup = display ? '$$' : '$';
  }
  state.pos = pos + open;
  return true;
}

function mathBlock(state: StateBlock, startLine: number, endLine: number, silent: boolean): boolean {
  let pos = (state.bMarks[startLine] ?? 0) + (state.tShift[startLine] ?? 0);
  let max = state.eMarks[startLine] ?? 0;
  if (state.sCount[startLine]! - state.blkIndent >= 4) return false;
  if (pos + 2 > max || state.src.slice(pos, pos + 2) !== '$$') return false;
  pos += 2;
  let firstLine = state.src.slice(pos, max);
  let lastLine = '';
  let found = false;
  if (firstLine.trim().endsWith('$$')) {
    firstLine = firstLine.trim().slice(0, -2);
    found = true;
  }
  if (silent) return true;
  let next = startLine;
  while (!found) {
    next++;
    if (next >= endLine) break;
    pos = (state.bMarks[next] ?? 0) + (state.tShift[next] ?? 0);
    max = state.eMarks[next] ?? 0;
    if (pos < max && state.sCount[next]! < state.blkIndent) break;
    const line = state.src.slice(pos, max).trimEnd();
    if (line.endsWith('$$')) {
      lastLine = line.slice(0, -2);
      found = true;
    }
  }
  if (!found) return false;
  state.line = next + 1;
  const token = state.push('math_block', 'math', 0);
  token.block = true;
  token.content = [firstLine, next > startLine + 1 ? state.getLines(startLine + 1, next, state.tShift[startLine] ?? 0, true) : '', lastLine]
    .filter((s) => s.trim() !== '')
    .join('\n');
  token.map = [startLine, state.line];
  token.markup = '$$';
  return true;
}

export function mathPlugin(md: MarkdownIt, options: MathOptions = {}): void {
  md.inline.ruler.after('escape', 'math_inline', mathInline);
  md.block.ruler.after('blockquote', 'math_block', mathBlock, { alt: ['paragraph', 'reference', 'blockquote', 'list'] });
  md.renderer.rules.math_inline = (tokens, idx) => {
    const tex = tokens[idx]!.content;
    options.check?.(tex);
    return renderMath(tex, false);
  };
  md.renderer.rules.math_inline_display = (tokens, idx) => {
    const tex = tokens[idx]!.content;
    options.check?.(tex);
    return renderMath(tex, true);
  };
  md.renderer.rules.math_block = (tokens, idx) => {
    const tex = tokens[idx]!.content;
    options.check?.(tex);
    // A wide formula scrolls in its own box, which a keyboard can reach.
    return `<div class="math-display" data-wide tabindex="0">${renderMath(tex, true)}</div>\n`;
  };
}
