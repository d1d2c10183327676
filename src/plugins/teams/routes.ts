import { audit, input, lecturer, staff, type PluginRouter } from '../../core/routes.js';
import { extensionForm, importForm, nameForm, noFields, STAFF_FORM_LIMIT, whoForm, type TeamHandlers } from './handlers.js';
import { courseMember } from './policy.js';

/**
 * Teams of a team assignment. Students form them on the Team page when the assignment lets them
 * (staff are told to use the Teams page); staff see every team, lecturers change them. Each
 * lecturer action writes its own audit entry, `team.<what was done>`, in the transaction that
 * does it (the extension route records team.extended, or team.extension_revoked when cleared).
 */
export function teamRoutes(r: PluginRouter, h: TeamHandlers): void {
  // ---- students: the team page ----
  r.get('/courses/:course/assignments/:slug/team', courseMember, h.teamPage);
  r.post('/courses/:course/assignments/:slug/team', courseMember, input(nameForm), h.create);
  r.post('/courses/:course/assignments/:slug/team/invite', courseMember, input(whoForm), h.invite);
  r.post('/courses/:course/assignments/:slug/team/invites/:invite/accept', courseMember, input(noFields), h.accept);
  r.post('/courses/:course/assignments/:slug/team/invites/:invite/decline', courseMember, input(noFields), h.decline);
  r.post('/courses/:course/assignments/:slug/team/leave', courseMember, input(noFields), h.leave);

  // ---- staff: every team of an assignment ----
  const form = { limit: STAFF_FORM_LIMIT };
  r.get('/courses/:course/assignments/:slug/teams', staff, h.staffPage);
  r.post('/courses/:course/assignments/:slug/teams/import', lecturer('make teams'), input(importForm, form), audit('team.imported'), h.importTeams);
  r.post('/courses/:course/assignments/:slug/teams', lecturer('make teams'), input(nameForm, form), audit('team.created'), h.staffCreate);
  r.post('/courses/:course/assignments/:slug/teams/:team/members', lecturer('change teams'), input(whoForm, form), audit('team.added'), h.addMember);
  r.post('/courses/:course/assignments/:slug/teams/:team/members/:user/remove', lecturer('change teams'), input(noFields, form), audit('team.removed'), h.removeMember);
  r.post('/courses/:course/assignments/:slug/teams/:team/extension', lecturer('grant extensions'), input(extensionForm, form), audit('team.extended'), h.extension);
}
