import { formatDateTime } from '../../lib/views.js';
import type { AuditEntry } from './store.js';

/**
 * The audit log as an administrator reads it: each action code said as a phrase, its details as
 * labelled values. The codes stay what is stored (and what the JSON view returns), so that
 * wording can change without touching a single row.
 */
const PHRASES: Record<string, string> = {
  'roster.import': 'imported a roster',
  'roster.remove': 'removed someone from the roster',
  'roster.signup_links': 'downloaded sign-up links',
  'assignment.upload': 'uploaded an assignment bundle',
  'assignment.version_current': 'made an assignment version current',
  'assignment.version_reach': 'changed whom an assignment version reaches',
  'assignment.move_forward': 'moved students onto the current version',
  'variant.regenerate': "regenerated a student's variant",
  'comment.post': 'posted a comment',
  'comment.edit': 'edited a comment',
  'comment.hide': 'hid a comment',
  'comment.delete': 'deleted a comment',
  'export.gradebook_csv': 'downloaded the gradebook as CSV',
  'export.submissions_zip': 'downloaded the counted submissions as a zip',
  'extension.grant': 'granted an extension',
  'extension.revoke': 'revoked an extension',
  rerun: 're-ran tests',
  'regrade.request': 'asked for a regrade',
  'regrade.adjusted': 'answered a regrade request by adjusting the score',
  'regrade.declined': 'declined a regrade request',
  'regrade.answered': 'answered a regrade request',
  'review.adjust': 'adjusted a score by hand',
  'review.adjust_delete': 'removed a manual score adjustment',
  'review.assign_graders': 'assigned graders',
  'review.comment': 'commented on a line of a submission',
  'review.comment_delete': 'deleted a line comment',
  'review.comment_edit': 'edited a line comment',
  'review.graded': 'marked a submission as graded',
  'review.reopened': 'reopened a submission for grading',
  'review.item_apply': 'applied a rubric item',
  'review.item_remove': 'took back a rubric item',
  'review.release_all': 'released the grades to all students',
  'review.release_student': "released one student's grade",
  'review.release_withdraw': 'withdrew released grades',
  'rubric.group_add': 'added a rubric group',
  'rubric.group_delete': 'deleted a rubric group',
  'rubric.group_edit': 'edited a rubric group',
  'rubric.item_add': 'added a rubric item',
  'rubric.item_delete': 'deleted a rubric item',
  'rubric.item_edit': 'edited a rubric item',
  'rubric.item_retire': 'retired a rubric item',
  'similarity.run': 'ran the similarity check',
  'similarity.export_csv': 'downloaded the similarity report as CSV',
  'similarity.view_pair': 'looked at a pair of similar submissions',
  'similarity.variant_check': 'checked submissions against other variants',
  'team.imported': 'imported teams',
  'team.created': 'created a team',
  'team.added': 'added a student to a team',
  'team.removed': 'removed a student from a team',
  'course.create': 'created a course',
  'course.settings': "changed a course's settings",
  'course.staff_add': 'appointed staff',
  'course.staff_remove': 'removed staff',
  request: 'made a change',
};

/** Labels for detail keys whose word-split form reads badly. */
const LABELS: Record<string, string> = {
  userId: 'student (account number)',
  userEmail: 'student',
  email: 'e-mail',
  location: 'went on to',
  status: 'answer',
  repricedSubmissions: 'submissions re-priced',
  teamsCreated: 'teams created',
  membersAdded: 'members added',
  teamDeleted: 'team deleted',
};

/** "export.gradebook_csv" → "export gradebook csv", for a code this table does not know yet. */
function fallbackPhrase(action: string): string {
  return action.replace(/[._]+/g, ' ').trim();
}

export function auditPhrase(action: string): string {
  return PHRASES[action] ?? fallbackPhrase(action);
}

function label(key: string): string {
  return LABELS[key] ?? key.replace(/_/g, ' ').replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/;

function say(value: unknown, timeZone: string): string {
  if (value === null || value === undefined || value === '') return '—';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'string') return ISO.test(value) ? formatDateTime(value, timeZone) : value;
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) return value.length ? value.map((v) => say(v, timeZone)).join(', ') : 'none';
  return Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => `${label(k)} ${say(v, timeZone)}`)
    .join('; ');
}

export interface AuditLine {
  label: string;
  value: string;
}

/**
 * The details as lines. A form's fields (recorded for plugins without their own audit entry) are
 * lifted to the top level, and the HTTP status of a successful request is left out: it says
 * nothing a reader needs.
 */
export function auditDetails(entry: Pick<AuditEntry, 'details'>, timeZone: string): AuditLine[] {
  const lines: AuditLine[] = [];
  for (const [key, value] of Object.entries(entry.details)) {
    if (key === 'status' && typeof value === 'number' && value < 400) continue;
    if (key === 'fields' && value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) lines.push({ label: label(k), value: say(v, timeZone) });
      continue;
    }
    lines.push({ label: label(key), value: say(value, timeZone) });
  }
  return lines;
}
