import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/index.js';

/** Every view under views/, relative paths. */
function views(dir = path.join(ROOT, 'views'), rel = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? views(path.join(dir, d.name), `${rel}${d.name}/`) : d.name.endsWith('.njk') ? [`${rel}${d.name}`] : []));
}

describe('breadcrumbs', () => {
  it('are one kind of element everywhere, with the separator drawn by the style sheet', () => {
    const typed: string[] = [];
    let crumbs = 0;
    for (const v of views()) {
      const text = readFileSync(path.join(ROOT, 'views', v), 'utf8');
      // A trail typed by hand: a link followed by a separator and another link or the page's name.
      for (const line of text.split('\n')) if (/<\/a>\s*(›|·|»|\/|&rsaquo;|&raquo;)\s*(<a |\w)/.test(line) && /^\s*(<p class="muted">|\{%[^%]*%\}\s*<p class="muted">)<a |crumb/.test(line)) typed.push(`${v}: ${line.trim().slice(0, 120)}`);
      for (const m of text.matchAll(/<nav class="crumbs" aria-label="Breadcrumb">(.*?)<\/nav>/g)) {
        crumbs++;
        expect(m[1], v).not.toMatch(/›|·|»/);
      }
    }
    expect(typed).toEqual([]);
    expect(crumbs).toBeGreaterThan(10);
    expect(readFileSync(path.join(ROOT, 'public/css/lectern.css'), 'utf8')).toMatch(/nav\.crumbs > \* \+ \*::before \{ content: "›"/);
  });
});
