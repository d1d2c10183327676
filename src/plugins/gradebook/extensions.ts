import type { CurrentUser } from '../../lib/auth.js';
import type { Deps } from '../../plugin.js';
import { getVersion, type Current } from '../assignments/store.js';
import { rulesOf, timing } from '../assignments/deadline.js';
import { deleteExtension, ownExtension, setExtension, setLateness, studentSubmissions, type Submission } from '../submissions/store.js';
import { submissionOwners } from '../submissions/owner.js';
import { getTeam } from '../teams/store.js';
import { recordAudit } from '../audit/store.js';
import type { Student } from './grades.js';

/** An extension is at most this far past the deadline: a typo in the year should not stand. */
export const MAX_EXTENSION_MS = 366 * 86_400_000;

/**
 * Re-records how late each of the student's submissions was under their deadline now. An
 * extension granted afterwards (the usual case: a student was ill) takes the penalty off work
 * already handed in, and a revoked one puts it back. Each submission is judged by the rules of
 * the version it was made with, as intake did; the hard close is not applied again, since the
 * work was accepted then.
 */
function reprice(deps: Pick<Deps, 'db'>, assignmentId: number, userId: number, until: number | null): number {
  return repriceSubmissions(deps, assignmentId, studentSubmissions(deps.db, assignmentId, userId), until);
}

/**
 * A team's submission is timed against the most generous of the team's extension and those of
 * the members it was handed in for; `until` is the one just changed.
 */
function untilFor(deps: Pick<Deps, 'db'>, assignmentId: number, s: Submission, until: number | null): number | null {
  if (s.teamId === null) return until;
  let best = until;
  const candidates = [getTeam(deps.db, s.teamId)?.extensionUntil ?? null, ...submissionOwners(deps.db, s.id).map((u) => ownExtension(deps.db, assignmentId, u))];
  for (const c of candidates) if (c !== null && (best === null || c > best)) best = c;
  return best;
}

/** Re-times the given submissions (call inside the transaction that changed the extension). */
export function repriceSubmissions(deps: Pick<Deps, 'db'>, assignmentId: number, submissions: Submission[], until: number | null): number {
  let changed = 0;
  for (const s of submissions) {
    const version = getVersion(deps.db, s.versionId);
    if (!version) continue;
    const rules = { ...rulesOf(version.config), opensAt: null, hardCloseAt: Number.POSITIVE_INFINITY };
    const t = timing(rules, s.submittedAt, untilFor(deps, assignmentId, s, until));
    if (t.state === 'not_open' || t.state === 'closed') continue;
    if (t.deadlineAt === s.deadlineAt && t.lateMinutes === s.lateMinutes && t.penaltyPct === s.penaltyPct) continue;
    setLateness(deps.db, s.id, { deadlineAt: t.deadlineAt, lateMinutes: t.lateMinutes, penaltyPct: t.penaltyPct });
    changed += 1;
  }
  return changed;
}

export interface ExtensionChange {
  previous: number | null;
  until: number | null;
  repriced: number;
}

/** Grants (or moves) a student's extension, re-prices their submissions and records it, in one transaction. */
export function grantExtension(deps: Pick<Deps, 'db' | 'clock'>, req: { current: Current; course: string; student: Student; until: number; actor: CurrentUser }): ExtensionChange {
  const { assignment } = req.current;
  return deps.db.transaction((): ExtensionChange => {
    const previous = ownExtension(deps.db, assignment.id, req.student.id);
    setExtension(deps.db, { assignmentId: assignment.id, userId: req.student.id, untilAt: req.until, grantedBy: req.actor.email, grantedAt: deps.clock.now() });
    const repriced = reprice(deps, assignment.id, req.student.id, req.until);
    recordAudit(deps.db, {
      at: deps.clock.now(),
      actor: req.actor,
      course: req.course,
      action: 'extension.grant',
      target: `${assignment.slug} / ${req.student.email}`,
      details: {
        assignment: assignment.slug,
        userId: req.student.id,
        until: new Date(req.until).toISOString(),
        previous: previous === null ? null : new Date(previous).toISOString(),
        repricedSubmissions: repriced,
      },
    });
    return { previous, until: req.until, repriced };
  })();
}

/** Revokes a student's extension; null when they had none. */
export function revokeExtension(deps: Pick<Deps, 'db' | 'clock'>, req: { current: Current; course: string; student: Student; actor: CurrentUser }): ExtensionChange | null {
  const { assignment } = req.current;
  return deps.db.transaction((): ExtensionChange | null => {
    const previous = ownExtension(deps.db, assignment.id, req.student.id);
    if (previous === null || !deleteExtension(deps.db, assignment.id, req.student.id)) return null;
    const repriced = reprice(deps, assignment.id, req.student.id, null);
    recordAudit(deps.db, {
      at: deps.clock.now(),
      actor: req.actor,
      course: req.course,
      action: 'extension.revoke',
      target: `${assignment.slug} / ${req.student.email}`,
      details: { assignment: assignment.slug, userId: req.student.id, previous: new Date(previous).toISOString(), repricedSubmissions: repriced },
    });
    return { previous, until: null, repriced };
  })();
}
