import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import { teamOf } from '../teams/store.js';
import { getVersion, listVersions, versionFile, type Current, type Version } from './store.js';
import { findTeamVariant, findVariant, type Variant } from './variants.js';

/**
 * The one home of the rule on what a student sees after a new bundle version.
 *
 * A variant freezes the student's parameters (seed and generated values) and the version they
 * opened. A version may fix what is rendered with those parameters: the statement, the starter
 * templates and the tests. Whether a new version reaches students who opened an earlier one is
 * its "reach":
 *
 * - `everyone`: they see the current version (title, statement, starters; their submissions are
 *   tested by it), rendered with their own frozen parameters. A typo fix reaches them without
 *   re-rolling their numbers.
 * - `new`: they keep the version they opened, whole (title, statement, starters and tests agree
 *   with each other); only students who open the assignment from now on get it. Staff can move
 *   them forward one by one or all at once (`moveForward`), again keeping their parameters, or
 *   regenerate a student on purpose (new parameters from the new generator).
 *
 * A student on version 1 sees the newest version up to the current one that reaches them.
 * A lecturer sets the reach of the current version on the assignment's staff page. Until they do,
 * it follows from the generator: when the current version's `generate` is byte for byte the one
 * that made the student's parameters, those parameters fit its text and it reaches everyone;
 * when the generator changed, the parameters may not have the shape the new text expects, so it
 * reaches only new students.
 */
export type Reach = 'everyone' | 'new';

function statements(db: Db) {
  return {
    get: db.prepare<{ version_id: number }, { reach: Reach; by: string; at: number }>('SELECT reach, set_by AS by, set_at AS at FROM version_reach WHERE version_id = :version_id'),
    put: db.prepare<{ version_id: number; reach: Reach; by: string; now: number }>(
      `INSERT INTO version_reach (version_id, reach, set_by, set_at) VALUES (:version_id, :reach, :by, :now)
       ON CONFLICT (version_id) DO UPDATE SET reach = excluded.reach, set_by = excluded.set_by, set_at = excluded.set_at`,
    ),
    moveOne: db.prepare<{ assignment_id: number; user_id: number; to: number }>('UPDATE variants SET version_id = :to WHERE assignment_id = :assignment_id AND user_id = :user_id AND version_id <> :to'),
    moveAll: db.prepare<{ assignment_id: number; to: number }>('UPDATE variants SET version_id = :to WHERE assignment_id = :assignment_id AND version_id <> :to'),
    moveTeams: db.prepare<{ assignment_id: number; to: number }>('UPDATE team_variants SET version_id = :to WHERE assignment_id = :assignment_id AND version_id <> :to'),
  };
}

const sql = preparedFor(statements);

function sameGenerator(a: Version, b: Version): boolean {
  return versionFile(a, 'generate')?.sha256 === versionFile(b, 'generate')?.sha256;
}

/** What the lecturer chose for `version`, if anything. */
export function chosenReach(db: Db, versionId: number): { reach: Reach; by: string; at: number } | undefined {
  return sql(db).get.get({ version_id: versionId });
}

/** The reach of `version` for a student whose parameters were made by `opened`. */
export function reachOf(db: Db, version: Version, opened: Version): Reach {
  return chosenReach(db, version.id)?.reach ?? (sameGenerator(version, opened) ? 'everyone' : 'new');
}

/**
 * The version a student with this variant sees and is tested by: the newest version from the one
 * they are on up to the current one that reaches them, so that a later version for new students
 * only does not take back an earlier fix. After a roll-back to an older version, that version if
 * it reaches them, else the one they are on.
 */
export function shownVersion(db: Db, current: Current, variant: Pick<Variant, 'versionId'> | undefined): Version {
  if (!variant || variant.versionId === current.version.id) return current.version;
  const opened = getVersion(db, variant.versionId);
  if (!opened) return current.version;
  if (reachOf(db, current.version, opened) === 'everyone') return current.version;
  if (current.version.number < opened.number) return opened;
  const between = listVersions(db, current.assignment.id)
    .filter((v) => v.number > opened.number && v.number < current.version.number)
    .sort((a, b) => b.number - a.number);
  return between.find((v) => reachOf(db, v, opened) === 'everyone') ?? opened;
}

/** The same for a user: their team's variant when they are in a team, else their own. */
export function shownVersionFor(db: Db, current: Current, userId: number): Version {
  const team = teamOf(db, current.assignment.id, userId);
  const variant = team ? findTeamVariant(db, team.id) : findVariant(db, current.assignment.id, userId);
  return shownVersion(db, current, variant);
}

export function setReach(db: Db, version: Version, reach: Reach, by: string, now: number): void {
  sql(db).put.run({ version_id: version.id, reach, by, now });
}

/**
 * Puts students (one, or everyone with a variant) on the current version, keeping their
 * parameters. Returns how many variants moved. Teams move with "everyone".
 */
export function moveForward(db: Db, current: Current, who: { userId: number } | 'everyone'): number {
  const s = sql(db);
  return db.transaction(() => {
    if (who === 'everyone') return s.moveAll.run({ assignment_id: current.assignment.id, to: current.version.id }).changes + s.moveTeams.run({ assignment_id: current.assignment.id, to: current.version.id }).changes;
    return s.moveOne.run({ assignment_id: current.assignment.id, user_id: who.userId, to: current.version.id }).changes;
  })();
}

/**
 * For the staff page: for each version students opened, how many did and which version they see
 * now. `openedPerVersion` counts variants by the version that made them (number → count).
 */
export function whoSeesWhat(db: Db, current: Current, openedPerVersion: Map<number, number>): Array<{ opened: number; students: number; sees: number }> {
  return listVersions(db, current.assignment.id)
    .filter((v) => (openedPerVersion.get(v.number) ?? 0) > 0)
    .map((v) => ({ opened: v.number, students: openedPerVersion.get(v.number)!, sees: shownVersion(db, current, { versionId: v.id }).number }));
}
