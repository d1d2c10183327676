import type { MarkdownIt } from 'markdown-it';

/**
 * A code block scrolls sideways when a line is long; a keyboard user must be able to reach it to
 * scroll it (axe's scrollable-region-focusable), so every block markdown makes can take the focus.
 */
export function focusableCode(md: MarkdownIt): void {
  const fence = md.renderer.rules.fence!;
  const indented = md.renderer.rules.code_block!;
  md.renderer.rules.fence = (...args) => fence(...args).replace(/^<pre>/, '<pre tabindex="0">');
  md.renderer.rules.code_block = (...args) => indented(...args).replace(/^<pre>/, '<pre tabindex="0">');
}
