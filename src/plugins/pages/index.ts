import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import MarkdownIt from 'markdown-it';
import { parse as parseYaml } from 'yaml';
import type { Course } from '../../lib/content.js';
import { UserError } from '../../lib/errors.js';
import type { AppContext, Deps, Plugin } from '../../plugin.js';

interface Page {
  title: string;
  html: string;
  mtimeMs: number;
}

const FRONT_MATTER = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?/;

function createPageCache(md: { render(src: string): string }) {
  const cache = new Map<string, Page>();
  return async function load(file: string): Promise<Page | null> {
    let info;
    try {
      info = await stat(file);
    } catch {
      return null;
    }
    if (!info.isFile()) return null;
    const hit = cache.get(file);
    if (hit && hit.mtimeMs === info.mtimeMs) return hit;
    const source = await readFile(file, 'utf8');
    const m = FRONT_MATTER.exec(source);
    const meta = (m ? (parseYaml(m[1] ?? '') as Record<string, unknown> | null) : null) ?? {};
    const body = m ? source.slice(m[0].length) : source;
    const page: Page = { title: typeof meta.title === 'string' ? meta.title : path.basename(file, '.md'), html: md.render(body), mtimeMs: info.mtimeMs };
    cache.set(file, page);
    return page;
  };
}

const pages: Plugin = {
  name: 'pages',
  routes(router, deps: Deps) {
    const md = new MarkdownIt({ html: false, linkify: true, typographer: true });
    const load = createPageCache(md);

    async function renderHome(ctx: AppContext, course: Course) {
      const page = await load(path.join(course.dir, 'pages', 'index.md'));
      ctx.render('pages/page.njk', { course, page: page ?? { title: course.title, html: '' } });
    }

    router.get('/', async (ctx) => {
      const { courses } = deps.content;
      if (courses.length === 1 && courses[0]) return renderHome(ctx, courses[0]);
      ctx.render('pages/courses.njk', { courses });
    });
    router.get('/courses/:course/', async (ctx) => {
      const course = deps.content.course(ctx.params.course ?? '');
      if (!course) throw new UserError(404, 'There is no such course.');
      await renderHome(ctx, course);
    });
  },
};

export default pages;
