import { AnsiUp } from 'ansi_up';
import type { MarkdownIt } from 'markdown-it';
import sanitizeHtml from 'sanitize-html';
import { createCommentMarkdown } from '../pages/markdown.js';
import type { OutputFormat } from './run/grade.js';

/**
 * Autograder output as safe HTML. Results files are written by the lecturer's harness but often
 * quote the student's program (its output, its compiler errors), so every format ends up as
 * markup the page may show without script, style or remote content: text is escaped, markdown
 * goes through the comments' renderer (raw HTML off), ANSI colours become classes, and HTML is
 * cut down by sanitize-html to plain formatting.
 */

const ALLOWED_TAGS = ['a', 'b', 'i', 'em', 'strong', 'code', 'pre', 'kbd', 'samp', 'br', 'p', 'div', 'span', 'ul', 'ol', 'li', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'blockquote', 'hr', 'del', 'ins', 'sub', 'sup', 'details', 'summary', 'img'];

function sanitise(html: string): string {
  return sanitizeHtml(html, {
    allowedTags: ALLOWED_TAGS,
    allowedAttributes: {
      a: ['href', 'title'],
      img: ['src', 'alt', 'title'],
      span: ['class'],
      th: ['colspan', 'rowspan'],
      td: ['colspan', 'rowspan'],
    },
    // Only ANSI colour classes (ours), never the page's own classes (which could dress a fake verdict).
    allowedClasses: { span: ['ansi-*'] },
    allowedSchemes: ['http', 'https', 'mailto'],
    allowedSchemesByTag: { img: ['data'] },
    allowProtocolRelative: false,
    transformTags: {
      a: sanitizeHtml.simpleTransform('a', { rel: 'nofollow noopener noreferrer ugc' }),
    },
    exclusiveFilter: (frame) => frame.tag === 'img' && !/^data:image\/(png|jpeg|gif|webp);base64,/i.test(frame.attribs.src ?? ''),
  });
}

let md: MarkdownIt | null = null;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The HTML of one output text; "" for an empty text. */
export function renderOutput(text: string, format: OutputFormat): string {
  if (!text) return '';
  switch (format) {
    case 'md':
      md ??= createCommentMarkdown();
      return `<div class="grader-md">${sanitise(md.render(text))}</div>`;
    case 'ansi': {
      const ansi = new AnsiUp();
      ansi.use_classes = true;
      ansi.escape_html = true;
      return `<pre class="output grader-ansi">${sanitise(ansi.ansi_to_html(text))}</pre>`;
    }
    case 'html':
      return `<div class="grader-html">${sanitise(text)}</div>`;
    case 'simple_format':
      return text
        .split(/\n{2,}/)
        .map((p) => `<p>${escapeHtml(p).replace(/\n/g, '<br>')}</p>`)
        .join('');
    default:
      return `<pre class="output">${escapeHtml(text)}</pre>`;
  }
}
