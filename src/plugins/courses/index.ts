import type { Plugin } from '../../plugin.js';
import { courseHandlers } from './pages.js';
import { courseRoutes } from './routes.js';

/**
 * Courses and their staff through the web: the administrator creates courses and appoints
 * lecturers (/admin/courses), a course's lecturers add and remove tutors and edit its settings
 * (/courses/<slug>/settings). The rule between these and course.yaml files: src/lib/content.ts
 * (settings) and ./rules.ts (staff).
 */
const courses: Plugin = {
  name: 'courses',
  needs: ['mail'],
  create(deps) {
    const handlers = courseHandlers(deps);
    return { routes: (r) => courseRoutes(r, handlers) };
  },
};

export default courses;
