import type { Course } from '../../lib/content.js';
import { formatDateTime } from '../../lib/views.js';
import type { AssignmentConfig } from '../assignments/config.js';
import { standing, type Standing } from '../assignments/deadline.js';

/** A time in the course's zone; the short zone name is part of the text (staff may sit elsewhere). */
export function when(ms: number | null, course: Course): string {
  return ms === null ? '' : formatDateTime(ms, course.timezone);
}

export type AssignmentState = 'upcoming' | 'open' | 'late' | 'closed';

/** The staff pages' words for each standing (assignments/deadline.ts standing() is the rule). */
const STATES: Record<Standing, { state: AssignmentState; text: string }> = {
  upcoming: { state: 'upcoming', text: 'Not open yet' },
  open: { state: 'open', text: 'Open' },
  grace: { state: 'open', text: 'Open (grace period)' },
  late: { state: 'late', text: 'Deadline passed: late submissions accepted' },
  closed: { state: 'closed', text: 'Closed' },
};

/** Where the assignment stands for everyone without an extension. */
export function assignmentState(config: AssignmentConfig, now: number): { state: AssignmentState; text: string } {
  return STATES[standing(config, now)];
}
