import { assignmentGrades } from './grades.js';
import type { Plugin } from '../../plugin.js';
import { gradebookRoutes } from './routes.js';

/** Grades for staff: the course dashboard, the students pages, the gradebook and its exports. */
const gradebook: Plugin = {
  name: 'gradebook',
  needs: ['grading'],
  create(deps) {
    return {
      provides: { grades: { ofAssignment: (current, students) => assignmentGrades(deps.db, current, students) } },
      routes: (r) => gradebookRoutes(r, deps),
    };
  },
};

export default gradebook;
