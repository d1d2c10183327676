import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import { UserError } from '../../lib/errors.js';

export interface TeamMember {
  userId: number;
  name: string;
  email: string;
  studentId: string | null;
  joinedAt: number;
}

export interface Team {
  id: number;
  assignmentId: number;
  name: string;
  createdAt: number;
  createdBy: string;
  extensionUntil: number | null;
  extensionBy: string | null;
  members: TeamMember[];
}

export interface TeamInvite {
  id: number;
  teamId: number;
  teamName: string;
  userId: number;
  userName: string;
  invitedByName: string;
  createdAt: number;
}

interface TeamRow {
  id: number;
  assignment_id: number;
  name: string;
  created_at: number;
  created_by: string;
  extension_until: number | null;
  extension_by: string | null;
}

function statements(db: Db) {
  return {
    byId: db.prepare<[number], TeamRow>('SELECT * FROM teams WHERE id = ?'),
    byName: db.prepare<{ assignmentId: number; name: string }, TeamRow>('SELECT * FROM teams WHERE assignment_id = :assignmentId AND name = :name'),
    ofUser: db.prepare<{ assignmentId: number; userId: number }, TeamRow>(
      'SELECT t.* FROM team_members m JOIN teams t ON t.id = m.team_id WHERE m.assignment_id = :assignmentId AND m.user_id = :userId',
    ),
    list: db.prepare<[number], TeamRow>('SELECT * FROM teams WHERE assignment_id = ? ORDER BY name COLLATE NOCASE, id'),
    members: db.prepare<[number], { user_id: number; name: string; email: string; student_id: string | null; joined_at: number }>(
      `SELECT m.user_id, u.name, u.email, u.student_id, m.joined_at FROM team_members m JOIN users u ON u.id = m.user_id
        WHERE m.team_id = ? ORDER BY m.joined_at, m.user_id`,
    ),
    membersOfAssignment: db.prepare<[number], { team_id: number; user_id: number }>('SELECT team_id, user_id FROM team_members WHERE assignment_id = ?'),
    insert: db.prepare<{ assignmentId: number; name: string; now: number; by: string }>(
      'INSERT INTO teams (assignment_id, name, created_at, created_by) VALUES (:assignmentId, :name, :now, :by)',
    ),
    addMember: db.prepare<{ teamId: number; assignmentId: number; userId: number; now: number }>(
      'INSERT INTO team_members (team_id, assignment_id, user_id, joined_at) VALUES (:teamId, :assignmentId, :userId, :now)',
    ),
    removeMember: db.prepare<{ teamId: number; userId: number }>('DELETE FROM team_members WHERE team_id = :teamId AND user_id = :userId'),
    event: db.prepare<{ teamId: number; userId: number | null; event: string; actor: string; now: number }>(
      'INSERT INTO team_events (team_id, user_id, event, actor, at) VALUES (:teamId, :userId, :event, :actor, :now)',
    ),
    events: db.prepare<[number], { user_id: number | null; name: string | null; event: string; actor: string; at: number }>(
      'SELECT e.user_id, u.name, e.event, e.actor, e.at FROM team_events e LEFT JOIN users u ON u.id = e.user_id WHERE e.team_id = ? ORDER BY e.id',
    ),
    hasSubmissions: db.prepare<[number], { one: number }>('SELECT 1 AS one FROM submissions WHERE team_id = ? LIMIT 1'),
    invite: db.prepare<{ teamId: number; userId: number; by: number; now: number }>(
      'INSERT INTO team_invites (team_id, user_id, invited_by, created_at) VALUES (:teamId, :userId, :by, :now) ON CONFLICT (team_id, user_id) DO NOTHING',
    ),
    invitesFor: db.prepare<{ assignmentId: number; userId: number }, { id: number; team_id: number; team_name: string; user_id: number; user_name: string; by_name: string; created_at: number }>(
      `SELECT i.id, i.team_id, t.name AS team_name, i.user_id, u.name AS user_name, b.name AS by_name, i.created_at
         FROM team_invites i JOIN teams t ON t.id = i.team_id JOIN users u ON u.id = i.user_id JOIN users b ON b.id = i.invited_by
        WHERE t.assignment_id = :assignmentId AND i.user_id = :userId ORDER BY i.id`,
    ),
    invitesOfTeam: db.prepare<[number], { id: number; team_id: number; team_name: string; user_id: number; user_name: string; by_name: string; created_at: number }>(
      `SELECT i.id, i.team_id, t.name AS team_name, i.user_id, u.name AS user_name, b.name AS by_name, i.created_at
         FROM team_invites i JOIN teams t ON t.id = i.team_id JOIN users u ON u.id = i.user_id JOIN users b ON b.id = i.invited_by
        WHERE i.team_id = ? ORDER BY i.id`,
    ),
    inviteById: db.prepare<[number], { id: number; team_id: number; user_id: number }>('SELECT id, team_id, user_id FROM team_invites WHERE id = ?'),
    deleteInvite: db.prepare<[number]>('DELETE FROM team_invites WHERE id = ?'),
    deleteInvitesOfTeam: db.prepare<[number]>('DELETE FROM team_invites WHERE team_id = ?'),
    deleteInvitesOfUser: db.prepare<{ assignmentId: number; userId: number }>(
      'DELETE FROM team_invites WHERE user_id = :userId AND team_id IN (SELECT id FROM teams WHERE assignment_id = :assignmentId)',
    ),
    deleteEvents: db.prepare<[number]>('DELETE FROM team_events WHERE team_id = ?'),
    deleteVariant: db.prepare<[number]>('DELETE FROM team_variants WHERE team_id = ?'),
    deleteTeam: db.prepare<[number]>('DELETE FROM teams WHERE id = ?'),
    setExtension: db.prepare<{ id: number; until: number | null; by: string | null; now: number | null }>(
      'UPDATE teams SET extension_until = :until, extension_by = :by, extension_at = :now WHERE id = :id',
    ),
  };
}

const sql = preparedFor(statements);

function toTeam(db: Db, r: TeamRow): Team {
  return {
    id: r.id,
    assignmentId: r.assignment_id,
    name: r.name,
    createdAt: r.created_at,
    createdBy: r.created_by,
    extensionUntil: r.extension_until,
    extensionBy: r.extension_by,
    members: sql(db)
      .members.all(r.id)
      .map((m) => ({ userId: m.user_id, name: m.name, email: m.email, studentId: m.student_id, joinedAt: m.joined_at })),
  };
}

export function getTeam(db: Db, id: number): Team | undefined {
  const r = sql(db).byId.get(id);
  return r ? toTeam(db, r) : undefined;
}

/** The team a student is in for an assignment now, if any. */
export function teamOf(db: Db, assignmentId: number, userId: number): Team | undefined {
  const r = sql(db).ofUser.get({ assignmentId, userId });
  return r ? toTeam(db, r) : undefined;
}

export function listTeams(db: Db, assignmentId: number): Team[] {
  return sql(db)
    .list.all(assignmentId)
    .map((r) => toTeam(db, r));
}

/** user id -> team id, for every current member of an assignment's teams. */
export function teamIndex(db: Db, assignmentId: number): Map<number, number> {
  return new Map(
    sql(db)
      .membersOfAssignment.all(assignmentId)
      .map((r) => [r.user_id, r.team_id]),
  );
}

export function teamHasSubmissions(db: Db, teamId: number): boolean {
  return sql(db).hasSubmissions.get(teamId) !== undefined;
}

export function teamEvents(db: Db, teamId: number): Array<{ userId: number | null; name: string | null; event: string; actor: string; at: number }> {
  return sql(db)
    .events.all(teamId)
    .map((e) => ({ userId: e.user_id, name: e.name, event: e.event, actor: e.actor, at: e.at }));
}

function toInvite(r: { id: number; team_id: number; team_name: string; user_id: number; user_name: string; by_name: string; created_at: number }): TeamInvite {
  return { id: r.id, teamId: r.team_id, teamName: r.team_name, userId: r.user_id, userName: r.user_name, invitedByName: r.by_name, createdAt: r.created_at };
}

export function invitesFor(db: Db, assignmentId: number, userId: number): TeamInvite[] {
  return sql(db).invitesFor.all({ assignmentId, userId }).map(toInvite);
}

export function invitesOfTeam(db: Db, teamId: number): TeamInvite[] {
  return sql(db).invitesOfTeam.all(teamId).map(toInvite);
}

export const TEAM_NAME = /^[\p{L}\p{N}][\p{L}\p{N} ._'-]{0,59}$/u;

export interface Actor {
  /** Shown in the team's history: an e-mail address or "csv import". */
  label: string;
}

/**
 * The membership rules in one place, each a 4xx the person can act on. Writes happen in the
 * caller's transaction, so that a check and its change see the same rows.
 */
export function createTeam(db: Db, req: { assignmentId: number; name: string; now: number; actor: Actor }): Team {
  const name = req.name.trim();
  if (!TEAM_NAME.test(name)) throw new UserError(422, 'name: give the team a name of 1 to 60 letters, digits, spaces, dots, dashes or apostrophes.');
  if (sql(db).byName.get({ assignmentId: req.assignmentId, name })) throw new UserError(409, `name: there is already a team called "${name}" for this assignment.`);
  const id = Number(sql(db).insert.run({ assignmentId: req.assignmentId, name, now: req.now, by: req.actor.label }).lastInsertRowid);
  sql(db).event.run({ teamId: id, userId: null, event: 'created', actor: req.actor.label, now: req.now });
  return getTeam(db, id)!;
}

export function findTeamByName(db: Db, assignmentId: number, name: string): Team | undefined {
  const r = sql(db).byName.get({ assignmentId, name: name.trim() });
  return r ? toTeam(db, r) : undefined;
}

export function addMember(db: Db, req: { team: Team; userId: number; userName: string; max: number; now: number; actor: Actor; event: 'joined' | 'added' }): void {
  const current = teamOf(db, req.team.assignmentId, req.userId);
  if (current?.id === req.team.id) throw new UserError(409, `${req.userName} is already in team "${req.team.name}".`);
  if (current) throw new UserError(409, `${req.userName} is already in team "${current.name}" for this assignment.`);
  if (getTeam(db, req.team.id)!.members.length >= req.max) throw new UserError(409, `Team "${req.team.name}" is full: at most ${req.max} members.`);
  sql(db).addMember.run({ teamId: req.team.id, assignmentId: req.team.assignmentId, userId: req.userId, now: req.now });
  sql(db).deleteInvitesOfUser.run({ assignmentId: req.team.assignmentId, userId: req.userId });
  sql(db).event.run({ teamId: req.team.id, userId: req.userId, event: req.event, actor: req.actor.label, now: req.now });
}

/**
 * Takes a member out. A team with no submissions that is left empty is deleted with its
 * invitations and variant; one with submissions stays, since those submissions name it.
 */
export function removeMember(db: Db, req: { team: Team; userId: number; now: number; actor: Actor; event: 'left' | 'removed' }): { deleted: boolean } {
  if (sql(db).removeMember.run({ teamId: req.team.id, userId: req.userId }).changes === 0) throw new UserError(404, 'That student is not in this team.');
  sql(db).event.run({ teamId: req.team.id, userId: req.userId, event: req.event, actor: req.actor.label, now: req.now });
  if (getTeam(db, req.team.id)!.members.length === 0 && !teamHasSubmissions(db, req.team.id)) {
    const s = sql(db);
    s.deleteInvitesOfTeam.run(req.team.id);
    s.deleteEvents.run(req.team.id);
    s.deleteVariant.run(req.team.id);
    s.deleteTeam.run(req.team.id);
    return { deleted: true };
  }
  return { deleted: false };
}

export function inviteToTeam(db: Db, req: { team: Team; userId: number; userName: string; by: number; now: number }): void {
  if (req.team.members.some((m) => m.userId === req.userId)) throw new UserError(409, `${req.userName} is already in your team.`);
  const other = teamOf(db, req.team.assignmentId, req.userId);
  if (other) throw new UserError(409, `${req.userName} is already in a team for this assignment.`);
  sql(db).invite.run({ teamId: req.team.id, userId: req.userId, by: req.by, now: req.now });
}

export function getInvite(db: Db, id: number): { id: number; teamId: number; userId: number } | undefined {
  const r = sql(db).inviteById.get(id);
  return r ? { id: r.id, teamId: r.team_id, userId: r.user_id } : undefined;
}

export function deleteInvite(db: Db, id: number): void {
  sql(db).deleteInvite.run(id);
}

export function setTeamExtension(db: Db, teamId: number, until: number | null, by: string | null, now: number): void {
  sql(db).setExtension.run({ id: teamId, until, by: until === null ? null : by, now: until === null ? null : now });
}
