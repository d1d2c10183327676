import type { Plugin } from '../../plugin.js';
import { createPageHandlers } from './page-handlers.js';
import { commentParam } from './policy.js';
import { pageRoutes } from './routes.js';

/**
 * Course pages from content (markdown + nunjucks), their files and comments. Assignment variants
 * come from the optional `variants` service, read when a page is rendered.
 */
const pages: Plugin = {
  name: 'pages',
  create(deps) {
    const handlers = createPageHandlers(deps);
    return {
      params: { comment: commentParam(deps) },
      routes: (r) => pageRoutes(r, handlers),
    };
  },
};

export default pages;
