import type { Course } from '../../lib/content.js';
import { formatDateTime } from '../../lib/views.js';
import type { AssignmentConfig } from '../assignments/config.js';
import { standing, type Standing } from '../submissions/deadline.js';

/** A time in the course's zone; the short zone name is part of the text (staff may sit elsewhere). */
export function when(ms: number | null, course: Course): string {
  return ms === null ? '' : formatDateTime(ms, course.timezone);
}

/** "42 s", "7 min", "3 h 5 min", "2 d 4 h". */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

export type AssignmentState = 'upcoming' | 'open' | 'late' | 'closed';

/** The staff pages' words for each standing (submissions/deadline.ts standing() is the rule). */
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

export function lateness(minutes: number, penaltyPct: number): string {
  if (!minutes) return 'on time';
  const text = minutes < 60 ? `${minutes} min late` : minutes < 2880 ? `${Math.round(minutes / 6) / 10} h late` : `${Math.round(minutes / 144) / 10} d late`;
  return penaltyPct ? `${text}, −${penaltyPct} %` : `${text} (grace)`;
}

/** A score for people: at most three decimals, no trailing zeros. */
export function points(n: number | null): string {
  if (n === null) return '';
  return String(Math.round(n * 1000) / 1000);
}
