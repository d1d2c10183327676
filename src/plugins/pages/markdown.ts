import type { HLJSApi } from 'highlight.js';
import markdownIt from 'markdown-it';
import type { MarkdownIt, Token } from 'markdown-it';
import { createRequire } from 'node:module';
import path from 'node:path';
import { mathPlugin, mathReady, type MathOptions } from './math.js';
import { focusableCode } from '../../lib/focusable-code.js';

/**
 * The two markdown dialects: course pages (written by staff) and comments (written by anyone
 * signed in). Both keep raw HTML off (`html: false`): pages have no need for it that markdown,
 * math and the layout's CSS do not cover, and with it off a slip in a page (or a pasted snippet)
 * cannot put script or inline style into the site. markdown-it's validateLink keeps
 * javascript:, vbscript:, file: and non-image data: URLs out of links in both.
 */

/** Where a page lives, so its relative links can be made absolute once, at parse time. */
export interface PageLinkEnv {
  /** "/courses/prog1/" */
  base: string;
  /** The page's folder relative to pages/, posix, "" for the top. */
  folder: string;
}

/**
 * highlight.js and KaTeX are loaded when first needed, not at start-up, which they would slow
 * down whether or not any page has code or math. First the 36 common languages, and all 190-odd
 * only once a page names another one. markdownReady() loads (asynchronously) what a text needs;
 * pages await it before compiling and before rendering comments, so the request path does not
 * block on loading. Should anything render without it, the highlighter and KaTeX are loaded
 * synchronously instead: the output never depends on what happened to be loaded.
 * Comments stay with the common languages, so that what a comment looks like does not depend on
 * which pages this process compiled first.
 */
const require = createRequire(import.meta.url);
let hljs: HLJSApi | null = null;
let common: Set<string> = new Set();
let commonLoading: Promise<void> | null = null;
let allLoading: Promise<void> | null = null;

function adopt(api: HLJSApi): HLJSApi {
  if (!hljs) {
    hljs = api;
    common = new Set(api.listLanguages().flatMap((name) => [name, ...(api.getLanguage(name)?.aliases ?? [])].map((n) => n.toLowerCase())));
  }
  return hljs;
}

function highlighter(): HLJSApi {
  return hljs ?? adopt(require('highlight.js/lib/common') as HLJSApi);
}

/** Fenced code blocks' info strings (over-matching is harmless: it only loads the languages). */
const FENCE_LANGUAGE = /(?:`{3,}|~{3,})[ \t]*([^\s`~{}]+)/g;

/**
 * Null when everything `text` needs to render is loaded, else a promise that resolves once it
 * is: the highlighter for fenced code (all languages when one outside the common set is named,
 * unless `commonOnly`), KaTeX for `$`.
 */
export function markdownReady(text: string, commonOnly = false): Promise<void> | null {
  const waits: Array<Promise<void>> = [];
  if (text.includes('$')) {
    const math = mathReady();
    if (math) waits.push(math);
  }
  let fenced = false;
  let rare = false;
  for (const m of text.matchAll(FENCE_LANGUAGE)) {
    fenced = true;
    const lang = m[1]!.toLowerCase();
    if (!commonOnly && !common.has(lang) && !hljs?.getLanguage(lang)) {
      rare = true;
      break;
    }
  }
  if (fenced && !hljs) {
    commonLoading ??= import('highlight.js/lib/common').then((mod) => void adopt(mod.default));
    waits.push(commonLoading);
  }
  if (rare) {
    // Registers every language on the instance the common ones live on.
    allLoading ??= (commonLoading ?? Promise.resolve()).then(() => import('highlight.js')).then(() => undefined);
    waits.push(allLoading);
  }
  return waits.length ? Promise.all(waits).then(() => undefined) : null;
}

function highlight(md: MarkdownIt, commonOnly = false) {
  return (code: string, lang: string): string => {
    const hljs = highlighter();
    const known = lang && (commonOnly ? common.has(lang.toLowerCase()) : true) && hljs.getLanguage(lang);
    const language = known ? lang : '';
    // No auto-detection: it is slow and guesses wrong on short snippets; unlabelled blocks stay plain.
    if (!language) return '';
    const html = hljs.highlight(code, { language, ignoreIllegals: true }).value;
    return `<pre><code class="hljs language-${md.utils.escapeHtml(language)}">${html}</code></pre>\n`;
  };
}

/** The CSP forbids inline styles, so markdown-it's `style="text-align:..."` on table cells becomes a class. */
function alignClasses(md: MarkdownIt): void {
  md.core.ruler.push('lectern_align', (state) => {
    for (const token of state.tokens) {
      if (token.type !== 'th_open' && token.type !== 'td_open') continue;
      const style = token.attrGet('style');
      if (!style) continue;
      const m = /text-align:\s*(left|right|center)/.exec(String(style));
      token.attrs = (token.attrs ?? []).filter(([name]) => name !== 'style');
      if (m) token.attrJoin('class', `align-${m[1]}`);
    }
  });
}

const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/**
 * A relative link in a page, made absolute: "syllabus.md" or "syllabus" -> the page's URL,
 * "week1/" -> the folder's index page, "img/fig.png" -> /courses/<slug>/files/img/fig.png.
 * Done at parse time because a page is shown at more than one URL (the site root shows the
 * only course's home page), where the browser would resolve relative links differently.
 */
export function resolveContentLink(href: string, env: PageLinkEnv): string {
  if (!href || SCHEME.test(href) || href.startsWith('/') || href.startsWith('#') || href.startsWith('?')) return href;
  const cut = href.search(/[?#]/);
  const target = cut === -1 ? href : href.slice(0, cut);
  const suffix = cut === -1 ? '' : href.slice(cut);
  if (!target) return href;
  const trailing = target.endsWith('/');
  let rel = path.posix.normalize(path.posix.join('/', env.folder, target)).replace(/^\/+/, '');
  if (trailing && rel && !rel.endsWith('/')) rel += '/';
  const ext = path.posix.extname(rel);
  if (ext && ext !== '.md') return `${env.base}files/${rel}${suffix}`;
  if (ext === '.md') {
    rel = rel.slice(0, -3);
    if (rel === 'index' || rel.endsWith('/index')) rel = rel.slice(0, -5);
  }
  return `${env.base}${rel}${suffix}`;
}

function contentLinks(md: MarkdownIt): void {
  const visit = (tokens: Token[], env: PageLinkEnv) => {
    for (const token of tokens) {
      if (token.type === 'link_open') {
        const href = token.attrGet('href');
        if (href !== null) token.attrSet('href', resolveContentLink(String(href), env));
      } else if (token.type === 'image') {
        const src = token.attrGet('src');
        if (src !== null) token.attrSet('src', resolveContentLink(String(src), env));
      }
      if (token.children) visit(token.children, env);
    }
  };
  md.core.ruler.push('lectern_links', (state) => {
    const env = state.env as Partial<PageLinkEnv>;
    if (typeof env.base === 'string' && typeof env.folder === 'string') visit(state.tokens, env as PageLinkEnv);
  });
}

export function createPageMarkdown(options: MathOptions = {}): MarkdownIt {
  const md: MarkdownIt = new markdownIt('default', { html: false, linkify: true, typographer: true, highlight: (c, l) => highlight(md)(c, l) });
  // Smart quotes and dashes yes, but "(c)" -> "©" would turn "Caesar cipher (C)" into a copyright sign.
  md.disable('replacements');
  md.use(mathPlugin, options);
  alignClasses(md);
  focusableCode(md);
  contentLinks(md);
  return md;
}

export function createCommentMarkdown(): MarkdownIt {
  const md: MarkdownIt = new markdownIt('default', { html: false, linkify: true, typographer: false, highlight: (c, l) => highlight(md, true)(c, l) });
  // Images would let a comment load anything the CSP allows and lay out the page; links suffice.
  md.disable(['image']);
  md.use(mathPlugin);
  alignClasses(md);
  focusableCode(md);
  const defaultLinkOpen = md.renderer.rules.link_open ?? ((tokens, idx, opts, _env, self) => self.renderToken(tokens, idx, opts));
  md.renderer.rules.link_open = (tokens, idx, opts, env, self) => {
    tokens[idx]!.attrSet('rel', 'nofollow noopener noreferrer ugc');
    return defaultLinkOpen(tokens, idx, opts, env, self);
  };
  return md;
}

/**
 * A whole source file as highlighted HTML (the code views of the review plugin), with the same
 * highlighter and the same common languages as comments; null when `language` is not one of them.
 */
export function highlightSource(code: string, language: string): string | null {
  const hljs = highlighter();
  if (!language || !common.has(language.toLowerCase()) || !hljs.getLanguage(language)) return null;
  return hljs.highlight(code, { language, ignoreIllegals: true }).value;
}
