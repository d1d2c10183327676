import { createCommentMarkdown, markdownReady } from '../pages/markdown.js';

/**
 * Line comments and regrade messages are rendered like page comments: markdown without raw HTML,
 * no images, links marked nofollow. Memoised per text (a busy grading page repeats comments).
 */
const md = createCommentMarkdown();
const cache = new Map<string, string>();

export async function renderMarkdown(texts: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const text of texts) {
    let html = cache.get(text);
    if (html === undefined) {
      const ready = markdownReady(text, true);
      if (ready) await ready;
      html = md.render(text);
      if (cache.size >= 2000) cache.delete(cache.keys().next().value!);
      cache.set(text, html);
    }
    out.set(text, html);
  }
  return out;
}
