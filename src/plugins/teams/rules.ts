import type { Db } from '../../db/open.js';
import { UserError } from '../../lib/errors.js';
import { teamOf } from './store.js';

/** An assignment's team settings (assignment.yaml's `team:`): sizes and who forms teams (the lecturer always may). */
export interface TeamRules {
  min: number;
  max: number;
  formedBy: 'students' | 'lecturer';
}

/** Team settings of a version's config; versions stored before teams existed have none. */
export function teamConfig(config: { team?: TeamRules | null }): TeamRules | null {
  return config.team ?? null;
}

/**
 * A team assignment with a minimum team size takes submissions only from a team that large.
 * With a minimum of 1, a student without a team hands in alone.
 */
export function checkTeamMaySubmit(db: Db, config: { team?: TeamRules | null }, assignmentId: number, userId: number): void {
  const team = teamConfig(config);
  if (!team) return;
  const mine = teamOf(db, assignmentId, userId);
  const size = mine ? mine.members.length : 1;
  if (size >= team.min) return;
  const how = team.formedBy === 'students' ? 'form one (or accept an invitation) on the Team page' : 'your lecturer assigns teams';
  if (!mine) throw new UserError(422, `This is a team assignment: submissions come from a team of at least ${team.min}. You are not in a team yet: ${how}.`);
  throw new UserError(422, `This is a team assignment: your team "${mine.name}" has ${size} member${size === 1 ? '' : 's'} and needs at least ${team.min} to submit.`);
}
