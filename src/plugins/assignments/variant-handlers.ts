import { z } from 'zod';
import { inputOf, type RouteContext } from '../../core/routes.js';
import { UserError } from '../../lib/errors.js';
import { findMember } from '../accounts/members.js';
import { describeBytes } from './config.js';
import { shownVersion } from './freeze.js';
import { currentOf, userOf } from './policy.js';
import { dates, starterEntries, statementHtml } from './present.js';
import type { AssignmentsApp } from './state.js';
import { currentVersion } from './store.js';
import type { staffHandlers } from './staff-handlers.js';
import { runGenerator } from './generator.js';
import { courseSecret, deriveSeed, findVariant, regenerateVariant, studentOf } from './variants.js';

/** GET …/:slug/preview?user=<id> or ?seed=<text>. */
export const previewQuery = z.object({
  seed: z
    .string()
    .refine((s) => s.length >= 1 && s.length <= 128, { message: 'give between 1 and 128 characters.', params: { status: 400 } })
    .optional(),
  user: z.string().optional(),
});

/** A member of the course named by their user id (a query value). */
const USER_ID = /^\d{1,12}$/;

/** Staff looking at variants: a preview for a student or a seed, and a lecturer's regeneration. */
export function variantHandlers(app: AssignmentsApp, staff: Pick<ReturnType<typeof staffHandlers>, 'renderStaff'>) {
  const { deps } = app;

  /** The statement as a student (stored variant, or what they would get) or a seed would see it. */
  async function preview(ctx: RouteContext) {
    const course = ctx.state.course!;
    const { assignment, version: current } = currentOf(ctx);
    const base = { course, slug: assignment.slug, isStaff: true, isStaffView: true, ...dates(current.config, course, deps.clock.now()) };
    const query = inputOf(ctx, previewQuery);
    let version = current;
    let params: Record<string, unknown>;
    let seed: string;
    let student: { id: string; name: string };
    let label: string;
    if (query.seed !== undefined) {
      seed = query.seed;
      student = { id: 'preview', name: 'Preview Student' };
      label = `seed "${query.seed}" with version ${current.number}`;
      const outcome = await runGenerator(deps, current, seed, student);
      if (!outcome.ok) {
        ctx.render('assignments/preview-failed.njk', { ...base, who: `seed "${query.seed}"`, failure: outcome });
        ctx.status = 200;
        return;
      }
      params = outcome.params;
    } else if (query.user !== undefined && USER_ID.test(query.user)) {
      const row = findMember(deps, course.slug, query.user)?.row;
      if (!row) throw new UserError(404, 'There is no such member of this course.');
      const u = { id: row.id, name: row.name };
      student = studentOf(u);
      const stored = findVariant(deps.db, assignment.id, u.id);
      if (stored) {
        version = shownVersion(deps.db, { assignment, version: current }, stored);
        params = stored.params;
        seed = stored.seed;
        label = version.number === stored.version ? `${row.name}'s stored variant (version ${stored.version})` : `${row.name}'s stored variant (parameters from version ${stored.version}, shown with version ${version.number})`;
      } else {
        seed = deriveSeed(courseSecret(deps.db, course.slug), assignment.slug, student.id);
        const outcome = await runGenerator(deps, current, seed, student);
        if (!outcome.ok) {
          ctx.render('assignments/preview-failed.njk', { ...base, who: row.name, failure: outcome });
          return;
        }
        params = outcome.params;
        label = `what ${row.name} would get from version ${current.number} (no variant yet)`;
      }
    } else {
      throw new UserError(400, 'Give a student (?user=<id>) or a seed (?seed=<text>) to preview.');
    }
    const html = await statementHtml(deps, version, { params, student });
    ctx.render('assignments/statement.njk', {
      ...base,
      preview: label,
      statementHtml: html ?? '<p>The statement failed to render with these parameters.</p>',
      params: JSON.stringify(params, null, 2),
      seed,
      versionNumber: version.number,
      starter: starterEntries(version).map((e) => ({ name: e.path.slice('starter/'.length), size: describeBytes(e.size) })),
    });
  }

  /** POST …/:slug/variants/:user/regenerate: new parameters from the current generator, on purpose. */
  async function regenerate(ctx: RouteContext) {
    const course = ctx.state.course!;
    const actor = userOf(ctx);
    const { assignment } = currentOf(ctx);
    const row = findMember(deps, course.slug, ctx.params.user)?.row;
    if (!row) throw new UserError(404, 'There is no such member of this course.');
    const result = await regenerateVariant(deps, app.runs, { course: course.slug, slug: assignment.slug, user: { id: row.id, name: row.name }, actor: actor.email });
    if (!result) throw new UserError(404, 'There is no such assignment.');
    if (!result.ok) {
      // Read again: the version may have changed while the generator ran.
      const current = currentVersion(deps.db, course.slug, assignment.slug);
      if (!current) throw new UserError(404, 'There is no such assignment.');
      await staff.renderStaff(ctx, course, current, { error: `Regenerating ${row.name}'s variant failed: ${result.outcome.message}. Nothing was changed; see the generator log below.` });
      ctx.status = 422;
      return;
    }
    ctx.redirect(`/courses/${course.slug}/assignments/${assignment.slug}/staff?done=regenerated`);
  }

  return { preview, regenerate };
}
