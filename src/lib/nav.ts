import type { Course } from './content.js';
import { isStaffRole, type CurrentUser, type Role } from './auth.js';

export interface NavLink {
  href: string;
  label: string;
  current: boolean;
}

export interface Navigation {
  /** The courses the signed-in user belongs to (every course for the administrator). */
  courses: Array<NavLink & { slug: string }>;
  /** The course the page belongs to, when its visitor may see more than its public pages. */
  course: { slug: string; title: string; links: NavLink[] } | null;
  /** Site-wide pages only the administrator has. */
  admin: NavLink[];
}

/**
 * The navigation every page carries, by role: a student reaches the course and its assignments,
 * staff the dashboard, gradebook and assignment pages, a lecturer the roster and staff too, the
 * administrator the audit log; nobody is shown a course they would get a 404 from.
 */
export function navigation(path: string, courses: readonly Course[], user: CurrentUser | null | undefined, roleIn: ((course: string) => Role | null) | undefined): Navigation {
  const role = (slug: string): Role | null => (user && roleIn ? roleIn(slug) : null);
  const link = (href: string, label: string, exact = false): NavLink => ({ href, label, current: exact ? path === href : path === href || path.startsWith(href.endsWith('/') ? href : `${href}/`) });
  const mine = courses.filter((c) => role(c.slug) !== null);
  const pageCourse = /^\/courses\/([^/]+)/.exec(path)?.[1];
  const here = pageCourse === undefined ? undefined : courses.find((c) => c.slug === safeDecode(pageCourse));
  let course: Navigation['course'] = null;
  const r = here ? role(here.slug) : null;
  if (here && r) {
    const base = `/courses/${encodeURIComponent(here.slug)}`;
    const links = [link(`${base}/`, 'Course', true), link(`${base}/assignments/`, 'Assignments', true)];
    if (isStaffRole(r)) {
      links.push(link(`${base}/dashboard`, 'Dashboard'), link(`${base}/gradebook`, 'Gradebook'));
      if (r === 'lecturer') links.push(link(`${base}/roster`, 'Roster'), link(`${base}/assignments/new`, 'New assignment'), link(`${base}/settings`, 'Settings and staff'));
    }
    course = { slug: here.slug, title: here.code || here.title, links };
  }
  const admin = user?.isAdmin ? [link('/admin/courses', 'Courses'), link('/admin/audit', 'Audit log'), link('/admin/mail', 'Mail')] : [];
  return { courses: mine.map((c) => ({ ...link(`/courses/${encodeURIComponent(c.slug)}/`, c.code || c.title), slug: c.slug })), course, admin };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
