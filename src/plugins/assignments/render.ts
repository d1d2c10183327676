import MarkdownIt from 'markdown-it';
import nunjucks from 'nunjucks';
import { focusableCode } from '../../lib/focusable-code.js';

/**
 * Statements and starter files are nunjucks templates over the variant's parameters. Rendering
 * order for statements: nunjucks first (autoescape off: the output is markdown, not HTML, and an
 * escaped "<" would show up as "&lt;" inside code blocks), then markdown-it with raw HTML
 * switched off, which escapes everything the template produced. So no parameter, student name
 * or template text can put markup on the page.
 */
const env = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: false, trimBlocks: false, lstripBlocks: false });

const md = new MarkdownIt({ html: false, linkify: true, typographer: false });
focusableCode(md);

export interface TemplateStudent {
  id: string;
  name: string;
}

export interface TemplateContext {
  params: Record<string, unknown>;
  student: TemplateStudent;
}

const compiled = new Map<string, nunjucks.Template>();
const MAX_CACHED = 500;

/**
 * Nunjucks templates are not a sandbox: member lookups like `"".constructor.constructor` reach
 * Function. Bundles come from lecturers, but a template has no reason to touch these names, so
 * they are refused outright rather than trusted.
 */
const FORBIDDEN_IN_TAGS = /\b(constructor|__proto__|prototype|__defineGetter__|__defineSetter__|__lookupGetter__)\b/;
const TAGS = /\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}/g;

/** Compiles a template, throwing an Error whose message names the line on a syntax error. */
function compile(source: string, name: string): nunjucks.Template {
  for (const m of source.matchAll(TAGS)) {
    const bad = FORBIDDEN_IN_TAGS.exec(m[0]);
    if (bad) {
      const line = source.slice(0, m.index).split('\n').length;
      throw new Error(`line ${line}: "${bad[1]}" is not allowed in a template tag`);
    }
  }
  try {
    return new nunjucks.Template(source, env, name, true);
  } catch (err) {
    throw new Error(cleanNunjucksMessage((err as Error).message), { cause: err });
  }
}

function cleanNunjucksMessage(message: string): string {
  // "(unknown path) [Line 3, Column 5]\n  unexpected token: }}" -> "line 3, column 5: unexpected token: }}"
  const m = /\[Line (\d+), Column (\d+)\]\s*([\s\S]*)$/.exec(message);
  const text = (m ? `line ${m[1]}, column ${m[2]}: ${m[3]}` : message).replace(/^\([^)]*\)\s*/, '');
  return text
    .replace(/Error: /g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Returns a problem message, or null when the template compiles. */
export function checkTemplate(source: string, name: string): string | null {
  try {
    compile(source, name);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

function cached(key: string, source: string, name: string): nunjucks.Template {
  let tpl = compiled.get(key);
  if (!tpl) {
    tpl = compile(source, name);
    if (compiled.size >= MAX_CACHED) compiled.delete(compiled.keys().next().value as string);
    compiled.set(key, tpl);
  }
  return tpl;
}

function templateVars(ctx: TemplateContext): Record<string, unknown> {
  return { ...ctx.params, params: ctx.params, student: ctx.student };
}

/**
 * Renders a text template. `cacheKey` (e.g. the blob hash) lets the compiled form be reused.
 * Throws with a readable message when the template fails at render time.
 */
export function renderText(source: string, ctx: TemplateContext, cacheKey?: string, name = 'template'): string {
  const tpl = cacheKey ? cached(cacheKey, source, name) : compile(source, name);
  try {
    return tpl.render(templateVars(ctx));
  } catch (err) {
    throw new Error(`${name}: ${cleanNunjucksMessage((err as Error).message)}`, { cause: err });
  }
}

/** The statement as safe HTML. */
export function renderStatement(source: string, ctx: TemplateContext, cacheKey?: string): string {
  return md.render(renderText(source, ctx, cacheKey, 'statement.md'));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Text files are templated; anything with a NUL byte or invalid UTF-8 is copied as it is. */
export function asText(buf: Buffer): string | null {
  if (buf.includes(0)) return null;
  try {
    return utf8.decode(buf);
  } catch {
    return null;
  }
}
