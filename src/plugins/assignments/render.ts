import { randomBytes } from 'node:crypto';
import MarkdownIt from 'markdown-it';
import type { Token } from 'markdown-it';
import nunjucks from 'nunjucks';
// Not in nunjucks' public typings: the step between parsing and compiling (see compileStatement).
import transformer from 'nunjucks/src/transformer.js';
import { focusableCode } from '../../lib/focusable-code.js';

/**
 * Statements and starter files are nunjucks templates over the variant's parameters. Rendering
 * order for statements: nunjucks first (autoescape off: the output is markdown, not HTML, and an
 * escaped "<" would show up as "&lt;" inside code blocks), then markdown-it with raw HTML
 * switched off, which escapes everything the template produced. So no parameter, student name
 * or template text can put HTML on the page.
 *
 * Markdown is markup too: a student named "[phish](https://evil.example/) **bold**" must not
 * become a link. So in a statement every `{{ value }}` is first rendered as an opaque word (a
 * placeholder no markdown rule acts on); markdown is parsed around the placeholders; then each
 * placeholder is replaced by its value inside the parsed text, code, link target or title, where
 * the renderer escapes it as what it is. The template's own text stays markdown.
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

const VALUE_FILTER = '__lectern_value';
const VALUES = '__lectern_values';

interface OutputNode {
  children: Array<{ lineno: number; colno: number }>;
}
type NodeCtor = new (...args: unknown[]) => { lineno: number; colno: number };
// The parts of nunjucks' compiler API its typings leave out.
const internals = nunjucks as unknown as { nodes: unknown; compiler: unknown; parser: unknown };
const nodes = internals.nodes as { TemplateData: NodeCtor; Filter: NodeCtor; Symbol: NodeCtor; NodeList: NodeCtor };
const BaseCompiler = (internals.compiler as { Compiler: new (name: string, throwOnUndefined: boolean) => { compileOutput(node: OutputNode, frame: unknown): void; compile(ast: unknown): void; getCode(): string } }).Compiler;

/** Compiles every `{{ … }}` of a statement as `{{ (…) | __lectern_value }}`. */
class StatementCompiler extends BaseCompiler {
  override compileOutput(node: OutputNode, frame: unknown): void {
    node.children = node.children.map((child) =>
      child instanceof nodes.TemplateData ? child : new nodes.Filter(child.lineno, child.colno, new nodes.Symbol(child.lineno, child.colno, VALUE_FILTER), new nodes.NodeList(child.lineno, child.colno, [child])),
    );
    super.compileOutput(node, frame);
  }
}

interface ValueStore {
  nonce: string;
  values: string[];
}

const statementEnv = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: false, trimBlocks: false, lstripBlocks: false });
statementEnv.addFilter(VALUE_FILTER, function (this: { ctx: Record<string, unknown> }, value: unknown) {
  // A macro's output is the template's own text, not a value.
  if (value instanceof nunjucks.runtime.SafeString) return value;
  const text = value === undefined || value === null ? '' : String(value);
  const store = this.ctx[VALUES] as ValueStore | undefined;
  if (!store || text === '') return text;
  store.values.push(text);
  return `LCTV${store.nonce}N${store.values.length - 1}Z`;
});

function compileStatement(source: string, name: string): nunjucks.Template {
  compile(source, name);
  const parser = internals.parser as { parse(src: string, extensions: unknown[], opts: unknown): unknown };
  const ast = transformer.transform(parser.parse(source, [], {}), [], name);
  const compiler = new StatementCompiler(name, false);
  compiler.compile(ast);
  // nunjucks' own precompiled form: the code returns the template's root and blocks.
  const props = new Function(compiler.getCode())() as unknown;
  return new nunjucks.Template({ type: 'code', obj: props } as unknown as string, statementEnv, name, true);
}

const compiledStatements = new Map<string, nunjucks.Template>();

/** Puts the values back into the parsed markdown, where the renderer escapes them as text, code or a link. */
function restoreValues(tokens: Token[], store: ValueStore): void {
  const pattern = new RegExp(`LCTV${store.nonce}N(\\d+)Z`, 'g');
  const resolve = (text: string, depth = 0): string =>
    depth > 8 ? text : text.replace(pattern, (_m, i: string) => resolve(store.values[Number(i)] ?? '', depth + 1));
  for (const token of tokens) {
    if (token.content) token.content = resolve(token.content);
    if (token.info) token.info = resolve(token.info);
    for (const attr of token.attrs ?? []) {
      const raw = String(attr[1]);
      if (!pattern.test(raw)) continue;
      pattern.lastIndex = 0;
      const value = resolve(raw);
      if (attr[0] === 'href' || attr[0] === 'src') {
        const link = md.normalizeLink(value);
        attr[1] = md.validateLink(link) ? link : '#';
      } else attr[1] = value;
    }
    pattern.lastIndex = 0;
    if (token.children) restoreValues(token.children, store);
  }
}

/** The statement as safe HTML: values substituted into it can form neither HTML nor markdown. */
export function renderStatement(source: string, ctx: TemplateContext, cacheKey?: string): string {
  const name = 'statement.md';
  let tpl = cacheKey ? compiledStatements.get(cacheKey) : undefined;
  if (!tpl) {
    tpl = compileStatement(source, name);
    if (cacheKey) {
      if (compiledStatements.size >= MAX_CACHED) compiledStatements.delete(compiledStatements.keys().next().value as string);
      compiledStatements.set(cacheKey, tpl);
    }
  }
  const store: ValueStore = { nonce: randomBytes(6).toString('hex'), values: [] };
  let text: string;
  try {
    text = tpl.render({ ...templateVars(ctx), [VALUES]: store });
  } catch (err) {
    throw new Error(`${name}: ${cleanNunjucksMessage((err as Error).message)}`, { cause: err });
  }
  const env = {};
  const tokens = md.parse(text, env);
  restoreValues(tokens, store);
  return md.renderer.render(tokens, md.options, env);
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
