import { parse } from 'csv-parse/sync';
import { z } from 'zod';
import { wantsJson } from '../../core/http.js';
import { inputOf, type RouteContext } from '../../core/routes.js';
import { isStaffRole, roleIn, type CurrentUser } from '../../lib/auth.js';
import type { Course } from '../../lib/content.js';
import { UserError } from '../../lib/errors.js';
import type { Deps } from '../../plugin.js';
import { listEnrolled, normaliseEmail, type EnrolledUser } from '../accounts/users.js';
import { recordAudit } from '../audit/store.js';
import { repriceSubmissions } from '../gradebook/extensions.js';
import { zonedToInstant } from '../../lib/zoned.js';
import { assignmentSubmissions } from '../submissions/store.js';
import { idParam, teamAssignment, type TeamAssignment } from './policy.js';
import {
  addMember,
  createTeam,
  deleteInvite,
  findTeamByName,
  getInvite,
  getTeam,
  invitesFor,
  invitesOfTeam,
  inviteToTeam,
  listTeams,
  removeMember,
  setTeamExtension,
  teamEvents,
  teamHasSubmissions,
  teamOf,
  type Team,
} from './store.js';

export const MAX_CSV_BYTES = 256 * 1024;
/** Largest form a lecturer's team action reads: a class list, and the rest of the form. */
export const STAFF_FORM_LIMIT = MAX_CSV_BYTES + 4096;

/** A team's name (the store checks it: letters, digits, a few signs). */
export const nameForm = z.object({ name: z.string().default('') });
/** Someone of the course: an e-mail address or a student id (checked against the class list). */
export const whoForm = z.object({ who: z.string().default('') });
/** Lines of "team, e-mail or student id" (checked line by line, all or nothing). */
export const importForm = z.object({ csv: z.string().default('') });
/** A team's extension: until a local date and time of the course, or clear=1 to take it back. */
export const extensionForm = z.object({ until: z.string().default(''), clear: z.string().optional() });
/** Actions that take no fields. */
export const noFields = z.object({});

/** An enrolled student of the course by e-mail address or student id; a 422 naming the field otherwise. */
function studentByKey(students: EnrolledUser[], key: string, field: string): EnrolledUser {
  const k = key.trim();
  if (!k) throw new UserError(422, `${field}: give an e-mail address or a student id.`);
  const email = k.includes('@') ? normaliseEmail(k) : null;
  const s = students.find((u) => (email !== null ? u.email === email : u.studentId !== null && u.studentId === k));
  if (!s) throw new UserError(422, `${field}: no student of this course has the ${email !== null ? 'e-mail address' : 'student id'} "${k.slice(0, 100)}".`);
  return s;
}

interface StudentContext {
  user: CurrentUser;
  course: Course;
  current: TeamAssignment;
  staff: boolean;
}

interface LecturerContext {
  course: Course;
  current: TeamAssignment;
  actor: CurrentUser;
}

type Handler = (ctx: RouteContext) => Promise<void>;

export interface TeamHandlers {
  teamPage: Handler;
  create: Handler;
  invite: Handler;
  accept: Handler;
  decline: Handler;
  leave: Handler;
  staffPage: Handler;
  importTeams: Handler;
  staffCreate: Handler;
  addMember: Handler;
  removeMember: Handler;
  extension: Handler;
}

export function teamHandlers(deps: Deps): TeamHandlers {
  const mailer = deps.services.mail;

  // ---- students: the team page ----
  function studentContext(ctx: RouteContext): StudentContext {
    const course = ctx.state.course!;
    const current = teamAssignment(deps, course.slug, ctx.params.slug);
    return { user: ctx.state.user!, course, current, staff: isStaffRole(roleIn(ctx, course.slug)) };
  }

  /** Student actions: allowed when the assignment lets students form teams. */
  function studentAction(act: (ctx: RouteContext, c: StudentContext) => string): Handler {
    return async (ctx) => {
      const c = studentContext(ctx);
      if (c.staff) throw new UserError(403, 'Staff are in no team: make and change teams on the Teams page of the assignment.');
      if (c.current.team.formedBy !== 'students') throw new UserError(403, 'Teams for this assignment are made by the lecturer.');
      const done = deps.db.transaction(() => act(ctx, c)).immediate();
      ctx.state.log.info({ course: c.course.slug, slug: c.current.assignment.slug, user: c.user.id, done }, 'team changed');
      if (wantsJson(ctx)) {
        ctx.body = { done, team: teamOf(deps.db, c.current.assignment.id, c.user.id) ?? null };
        return;
      }
      ctx.redirect(`/courses/${c.course.slug}/assignments/${c.current.assignment.slug}/team?done=${done}`);
    };
  }

  // ---- staff: every team of an assignment ----
  /** Lecturer actions on teams: audited inside the transaction that makes the change. */
  function lecturerAction(act: (ctx: RouteContext, c: LecturerContext) => { done: string; details: Record<string, unknown> }): Handler {
    return async (ctx) => {
      const course = ctx.state.course!;
      const actor = ctx.state.user!;
      const current = teamAssignment(deps, course.slug, ctx.params.slug);
      ctx.state.audited = true;
      const result = deps.db
        .transaction(() => {
          const r = act(ctx, { course, current, actor });
          recordAudit(deps.db, { at: deps.clock.now(), actor, course: course.slug, action: `team.${r.done}`, target: `${current.assignment.slug} / teams`, details: r.details });
          return r;
        })
        .immediate();
      ctx.state.log.info({ course: course.slug, slug: current.assignment.slug, by: actor.email, done: result.done }, 'teams changed by staff');
      if (wantsJson(ctx)) {
        ctx.body = { done: result.done, ...result.details };
        return;
      }
      ctx.redirect(`/courses/${course.slug}/assignments/${current.assignment.slug}/teams?done=${result.done}`);
    };
  }

  function teamParam(ctx: RouteContext, current: TeamAssignment): Team {
    const team = getTeam(deps.db, idParam(ctx.params.team, 'team'));
    if (!team || team.assignmentId !== current.assignment.id) throw new UserError(404, 'There is no such team.');
    return team;
  }

  return {
    async teamPage(ctx) {
      const { user, course, current } = studentContext(ctx);
      const team = teamOf(deps.db, current.assignment.id, user.id) ?? null;
      const data = {
        team,
        invites: invitesFor(deps.db, current.assignment.id, user.id),
        sent: team ? invitesOfTeam(deps.db, team.id) : [],
        rules: current.team,
        locked: team ? teamHasSubmissions(deps.db, team.id) : false,
      };
      if (wantsJson(ctx)) {
        ctx.body = data;
        return;
      }
      ctx.set('Cache-Control', 'no-store');
      ctx.render('teams/team.njk', { course, slug: current.assignment.slug, title: current.version.config.title, ...data });
    },

    create: studentAction((ctx, { user, current }) => {
      const form = inputOf(ctx, nameForm);
      const mine = teamOf(deps.db, current.assignment.id, user.id);
      if (mine) throw new UserError(409, `You are already in team "${mine.name}"; leave it first.`);
      const team = createTeam(deps.db, { assignmentId: current.assignment.id, name: form.name, now: deps.clock.now(), actor: { label: user.email } });
      addMember(deps.db, { team, userId: user.id, userName: user.name, max: current.team.max, now: deps.clock.now(), actor: { label: user.email }, event: 'joined' });
      return 'created';
    }),

    invite: studentAction((ctx, { user, course, current }) => {
      const form = inputOf(ctx, whoForm);
      const team = teamOf(deps.db, current.assignment.id, user.id);
      if (!team) throw new UserError(409, 'Make a team first, then invite others to it.');
      const pending = invitesOfTeam(deps.db, team.id).length;
      if (team.members.length + pending >= current.team.max) throw new UserError(409, `Your team would have more than ${current.team.max} members with the invitations already sent.`);
      const invitee = studentByKey(listEnrolled(deps.db, course.slug, 'student'), form.who, 'who');
      if (invitee.id === user.id) throw new UserError(422, 'who: you are already in your team.');
      const again = invitesOfTeam(deps.db, team.id).some((i) => i.userId === invitee.id);
      inviteToTeam(deps.db, { team, userId: invitee.id, userName: invitee.name, by: user.id, now: deps.clock.now() });
      // Mailed once per invitation (queued in this transaction), not again when it is repeated.
      if (!again) {
        mailer.queue({
          kind: 'team-invite',
          template: 'mail/messages/team-invite.njk',
          vars: { name: invitee.name, inviter: user.name, team: team.name, assignment: current.version.config.title, course, url: `${deps.config.publicUrl}/courses/${course.slug}/assignments/${current.assignment.slug}/team` },
          to: invitee.email,
          userId: invitee.id,
          course: course.slug,
        });
      }
      return 'invited';
    }),

    accept: studentAction((ctx, { user, current }) => {
      const invite = getInvite(deps.db, idParam(ctx.params.invite, 'invitation'));
      const team = invite && invite.userId === user.id ? getTeam(deps.db, invite.teamId) : undefined;
      if (!invite || !team || team.assignmentId !== current.assignment.id) throw new UserError(404, 'There is no such invitation.');
      addMember(deps.db, { team, userId: user.id, userName: user.name, max: current.team.max, now: deps.clock.now(), actor: { label: user.email }, event: 'joined' });
      return 'joined';
    }),

    decline: studentAction((ctx, { user, current }) => {
      const invite = getInvite(deps.db, idParam(ctx.params.invite, 'invitation'));
      const team = invite ? getTeam(deps.db, invite.teamId) : undefined;
      // The invitee declines, or a member of the inviting team withdraws it.
      const mayAct = invite && team && team.assignmentId === current.assignment.id && (invite.userId === user.id || team.members.some((m) => m.userId === user.id));
      if (!invite || !mayAct) throw new UserError(404, 'There is no such invitation.');
      deleteInvite(deps.db, invite.id);
      return 'declined';
    }),

    leave: studentAction((_ctx, { user, current }) => {
      const team = teamOf(deps.db, current.assignment.id, user.id);
      if (!team) throw new UserError(409, 'You are not in a team for this assignment.');
      if (teamHasSubmissions(deps.db, team.id)) throw new UserError(409, `Team "${team.name}" has handed in work, so members can no longer leave on their own; ask your lecturer.`);
      removeMember(deps.db, { team, userId: user.id, now: deps.clock.now(), actor: { label: user.email }, event: 'left' });
      return 'left';
    }),

    async staffPage(ctx) {
      const course = ctx.state.course!;
      const current = teamAssignment(deps, course.slug, ctx.params.slug);
      const isLecturer = roleIn(ctx, course.slug) === 'lecturer';
      const teams = listTeams(deps.db, current.assignment.id);
      const inTeam = new Set(teams.flatMap((t) => t.members.map((m) => m.userId)));
      const students = listEnrolled(deps.db, course.slug, 'student');
      const data = {
        rules: current.team,
        teams: teams.map((t) => ({ ...t, locked: teamHasSubmissions(deps.db, t.id), history: teamEvents(deps.db, t.id) })),
        unassigned: students.filter((s) => !inTeam.has(s.id)).map((s) => ({ id: s.id, name: s.name, email: s.email, studentId: s.studentId })),
      };
      ctx.set('Cache-Control', 'no-store');
      if (wantsJson(ctx)) {
        ctx.body = data;
        return;
      }
      ctx.render('teams/staff.njk', { course, slug: current.assignment.slug, title: current.version.config.title, isLecturer, isStaffView: true, ...data });
    },

    importTeams: lecturerAction((ctx, { course, current, actor }) => {
      const text = inputOf(ctx, importForm).csv;
      if (!text.trim()) throw new UserError(422, 'csv: paste lines of "team, e-mail or student id".');
      if (Buffer.byteLength(text) > MAX_CSV_BYTES) throw new UserError(413, `csv: at most ${MAX_CSV_BYTES / 1024} KiB.`);
      let records: string[][];
      try {
        records = parse(text, { bom: true, relax_column_count: true, skip_empty_lines: true, trim: true }) as string[][];
      } catch (err) {
        throw new UserError(422, `csv: not valid CSV (${(err as Error).message.split('\n')[0]}).`);
      }
      if (records[0] && /^team$/i.test(records[0][0] ?? '')) records = records.slice(1);
      const students = listEnrolled(deps.db, course.slug, 'student');
      const problems: string[] = [];
      let added = 0;
      let created = 0;
      const now = deps.clock.now();
      records.forEach((r, i) => {
        const line = i + 1;
        try {
          const [name = '', key = ''] = r;
          const student = studentByKey(students, key, `line ${line}`);
          let team = findTeamByName(deps.db, current.assignment.id, name);
          if (!team) {
            team = createTeam(deps.db, { assignmentId: current.assignment.id, name, now, actor: { label: actor.email } });
            created += 1;
          }
          if (team.members.some((m) => m.userId === student.id)) return;
          const other = teamOf(deps.db, current.assignment.id, student.id);
          if (other) throw new UserError(409, `line ${line}: ${student.name} is already in team "${other.name}".`);
          addMember(deps.db, { team, userId: student.id, userName: student.name, max: current.team.max, now, actor: { label: actor.email }, event: 'added' });
          added += 1;
        } catch (err) {
          if (!(err instanceof UserError)) throw err;
          problems.push(err.message.startsWith('line ') ? err.message : `line ${line}: ${err.message}`);
        }
      });
      // All or nothing: a half-applied class list is worse than none.
      if (problems.length) throw new UserError(422, `Nothing was changed. ${problems.slice(0, 20).join(' ')}${problems.length > 20 ? ` (and ${problems.length - 20} more)` : ''}`, { problems });
      return { done: 'imported', details: { teamsCreated: created, membersAdded: added } };
    }),

    staffCreate: lecturerAction((ctx, { current, actor }) => {
      const team = createTeam(deps.db, { assignmentId: current.assignment.id, name: inputOf(ctx, nameForm).name, now: deps.clock.now(), actor: { label: actor.email } });
      return { done: 'created', details: { team: team.name } };
    }),

    addMember: lecturerAction((ctx, { course, current, actor }) => {
      const team = teamParam(ctx, current);
      const student = studentByKey(listEnrolled(deps.db, course.slug, 'student'), inputOf(ctx, whoForm).who, 'who');
      addMember(deps.db, { team, userId: student.id, userName: student.name, max: current.team.max, now: deps.clock.now(), actor: { label: actor.email }, event: 'added' });
      return { done: 'added', details: { team: team.name, userId: student.id, email: student.email } };
    }),

    removeMember: lecturerAction((ctx, { current, actor }) => {
      const team = teamParam(ctx, current);
      const userId = idParam(ctx.params.user, 'member');
      const r = removeMember(deps.db, { team, userId, now: deps.clock.now(), actor: { label: actor.email }, event: 'removed' });
      return { done: 'removed', details: { team: team.name, userId, teamDeleted: r.deleted } };
    }),

    extension: lecturerAction((ctx, { course, current, actor }) => {
      const form = inputOf(ctx, extensionForm);
      const team = teamParam(ctx, current);
      const clear = form.clear === '1';
      const until = clear ? null : zonedToInstant(form.until, course.timezone);
      if (!clear && (until === null || until <= current.version.config.deadlineAt)) throw new UserError(422, `until: give a date and time after the deadline (${course.timezone}).`);
      setTeamExtension(deps.db, team.id, until, actor.email, deps.clock.now());
      const subs = assignmentSubmissions(deps.db, current.assignment.id).filter((s) => s.teamId === team.id);
      const repriced = repriceSubmissions(deps, current.assignment.id, subs, until);
      return { done: clear ? 'extension_revoked' : 'extended', details: { team: team.name, until: until === null ? null : new Date(until).toISOString(), repricedSubmissions: repriced } };
    }),
  };
}
