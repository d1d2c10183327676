import hljs from 'highlight.js';
import markdownIt from 'markdown-it';
import type { MarkdownIt, Token } from 'markdown-it';
import path from 'node:path';
import { mathPlugin, type MathOptions } from './math.js';

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

function highlight(md: MarkdownIt) {
  return (code: string, lang: string): string => {
    const language = lang && hljs.getLanguage(lang) ? lang : '';
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
  contentLinks(md);
  return md;
}

export function createCommentMarkdown(): MarkdownIt {
  const md: MarkdownIt = new markdownIt('default', { html: false, linkify: true, typographer: false, highlight: (c, l) => highlight(md)(c, l) });
  // Images would let a comment load anything the CSP allows and lay out the page; links suffice.
  md.disable(['image']);
  md.use(mathPlugin);
  alignClasses(md);
  const defaultLinkOpen = md.renderer.rules.link_open ?? ((tokens, idx, opts, _env, self) => self.renderToken(tokens, idx, opts));
  md.renderer.rules.link_open = (tokens, idx, opts, env, self) => {
    tokens[idx]!.attrSet('rel', 'nofollow noopener noreferrer ugc');
    return defaultLinkOpen(tokens, idx, opts, env, self);
  };
  return md;
}
