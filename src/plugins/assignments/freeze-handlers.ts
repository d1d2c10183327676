import { z } from 'zod';
import { inputOf, type RouteContext } from '../../core/routes.js';
import type { Db } from '../../db/open.js';
import { UserError } from '../../lib/errors.js';
import type { Deps } from '../../plugin.js';
import { findMember } from '../accounts/members.js';
import { recordAudit } from '../audit/store.js';
import { chosenReach, moveForward, setReach, shownVersion, whoSeesWhat, type Reach } from './freeze.js';
import { currentOf, userOf } from './policy.js';
import { getVersionByNumber, type Current } from './store.js';
import type { VariantListing } from './variants.js';

/** What the staff page shows of freeze.ts's rule: the current version's reach and who sees which version. */
export function reachView(db: Db, current: Current, perVersion: Map<number, number>, variants: VariantListing[]) {
  const chosen = chosenReach(db, current.version.id);
  const groups = whoSeesWhat(db, current, perVersion);
  const behind = groups.filter((g) => g.sees !== current.version.number).reduce((n, g) => n + g.students, 0);
  // Listing rows carry the version number; the rule needs the version.
  const sees = new Map<number, number>();
  for (const v of variants) {
    if (sees.has(v.version)) continue;
    const opened = getVersionByNumber(db, current.assignment.id, v.version);
    sees.set(v.version, opened ? shownVersion(db, current, { versionId: opened.id }).number : current.version.number);
  }
  return {
    reach: { current: current.version.number, chosen: chosen?.reach ?? null, by: chosen?.by ?? null, groups, behind },
    seesOf: Object.fromEntries(variants.map((v) => [v.userId, sees.get(v.version) ?? current.version.number])),
  };
}

const REACH_DONE: Record<Reach, string> = { everyone: 'reach-everyone', new: 'reach-new' };

/** POST …/versions/:number/reach */
export const reachForm = z.object({ reach: z.enum(['everyone', 'new'], { message: 'choose "everyone" or "new".' }) });
/** POST …/versions/move-forward: a member (id or e-mail), or "everyone". */
export const moveForwardForm = z.object({ user: z.string().optional() });

/**
 * The lecturer's two levers on the rule: the current version's reach, and moving students who
 * stayed on an older version forward (their parameters kept). Both write their own audit entry in
 * the transaction (and mark the request audited).
 */
export function freezeHandlers(deps: Deps) {
  async function reach(ctx: RouteContext) {
    const course = ctx.state.course!;
    const user = userOf(ctx);
    const current = currentOf(ctx);
    const { reach } = inputOf(ctx, reachForm);
    if (ctx.params.number !== String(current.version.number)) {
      throw new UserError(409, `Only the current version's reach can be set (version ${current.version.number} is current); make this version current first.`);
    }
    deps.db.transaction(() => {
      setReach(deps.db, current.version, reach, user.email, deps.clock.now());
      recordAudit(deps.db, { at: deps.clock.now(), actor: user, course: course.slug, action: 'assignment.version_reach', target: `${current.assignment.slug} / version ${current.version.number}`, details: { reach } });
    })();
    ctx.state.audited = true;
    ctx.state.log.info({ course: course.slug, slug: current.assignment.slug, version: current.version.number, reach, by: user.email }, 'version reach set');
    ctx.redirect(`/courses/${course.slug}/assignments/${current.assignment.slug}/staff?done=${REACH_DONE[reach]}&v=${current.version.number}#versions`);
  }

  async function moveForwardTo(ctx: RouteContext) {
    const course = ctx.state.course!;
    const user = userOf(ctx);
    const current = currentOf(ctx);
    const form = inputOf(ctx, moveForwardForm);
    let who: { userId: number } | 'everyone';
    let label: string;
    if (form.user === 'everyone') {
      who = 'everyone';
      label = 'everyone';
    } else {
      const member = findMember(deps, course.slug, form.user);
      if (!member) throw new UserError(404, 'user: there is no such member of this course.');
      who = { userId: member.row.id };
      label = member.row.email;
    }
    const moved = deps.db.transaction(() => {
      const n = moveForward(deps.db, current, who);
      recordAudit(deps.db, { at: deps.clock.now(), actor: user, course: course.slug, action: 'assignment.move_forward', target: `${current.assignment.slug} / ${label}`, details: { version: current.version.number, moved: n } });
      return n;
    })();
    ctx.state.audited = true;
    ctx.state.log.info({ course: course.slug, slug: current.assignment.slug, version: current.version.number, who: label, moved, by: user.email }, 'students moved to the current version');
    ctx.redirect(`/courses/${course.slug}/assignments/${current.assignment.slug}/staff?done=moved&n=${moved}&v=${current.version.number}#versions`);
  }

  return { reach, moveForward: moveForwardTo };
}
