import { fromOldShape, type OldShapePlugin } from '../../core/assemble.js';
import { registerCourseRoutes } from './routes.js';

/**
 * Courses and their staff through the web: the administrator creates courses and appoints
 * lecturers (/admin/courses), a course's lecturers add and remove tutors and edit its settings
 * (/courses/<slug>/settings). The rule between these and course.yaml files: src/lib/content.ts
 * (settings) and ./rules.ts (staff).
 */
const courses: OldShapePlugin = {
  name: 'courses',
  routes(router, deps) {
    registerCourseRoutes(router, deps);
  },
};

export default fromOldShape(courses);
