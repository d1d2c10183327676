import { audit, input, lecturer, type PluginRouter } from '../../core/routes.js';
import { newCourseForm, settingsForm, staffForm, staffRemoveForm } from './forms.js';
import type { CourseHandlers } from './pages.js';
import { siteAdmin } from './policy.js';

/**
 * Courses and their staff on the web. Each change writes its own, richer audit entry (pages.ts)
 * and marks the request audited; the names here are the same actions.
 */
export function courseRoutes(r: PluginRouter, h: CourseHandlers): void {
  // The administrator's list of courses: create one on the web, look for new course.yaml files.
  r.get('/admin/courses', siteAdmin, h.adminPage);
  r.post('/admin/courses', siteAdmin, input(newCourseForm), audit('course.create'), h.create);
  r.post('/admin/courses/rescan', siteAdmin, audit('course.rescan'), h.rescan);

  // One course's settings and staff, for its lecturers (and the administrator).
  r.get('/courses/:course/settings', lecturer('change the course settings and staff'), h.settingsPage);
  r.post('/courses/:course/settings', lecturer('change the course settings'), input(settingsForm), audit('course.settings'), h.saveSettings);
  r.post('/courses/:course/staff', lecturer('add staff'), input(staffForm), audit('course.staff_add'), h.addStaff);
  r.post('/courses/:course/staff/remove', lecturer('remove staff'), input(staffRemoveForm), audit('course.staff_remove'), h.removeStaff);
}
