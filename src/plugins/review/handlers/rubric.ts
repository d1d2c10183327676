import { wantsJson } from '../../../core/http.js';
import { inputOf, type RouteContext } from '../../../core/routes.js';
import { roleIn } from '../../../lib/auth.js';
import { UserError } from '../../../lib/errors.js';
import type { Course } from '../../../lib/content.js';
import type { Deps } from '../../../plugin.js';
import type { Current } from '../../assignments/store.js';
import { keyOf } from '../config.js';
import { groupForm, idParam, itemForm, newItemForm } from '../forms.js';
import { gradingRule, rubricOf } from '../grading.js';
import { currentOf, mayDo } from '../policy.js';
import * as rubricStore from '../rubric-store.js';
import { auditEntry, flash } from './common.js';

/** The rubric editor: the page, and every change to groups and items (re-scoring what they were applied to). */
export function rubricHandlers(deps: Deps) {
  /** A change to the rubric, in one transaction; answers with the number of submissions re-scored. */
  function rubricChange(ctx: RouteContext, change: (current: Current, course: Course) => { affected: number }): void {
    const course = ctx.state.course!;
    const current = currentOf(ctx, deps);
    rubricOf(deps.db, current);
    const out = deps.db.transaction(() => change(current, course))();
    if (wantsJson(ctx)) {
      ctx.body = { ok: true, rescored: out.affected };
      return;
    }
    ctx.redirect(`/courses/${course.slug}/assignments/${current.assignment.slug}/rubric?done=rubric`);
  }

  function groupOf(current: Current, groupId: number) {
    const g = rubricStore.getGroup(deps.db, groupId);
    if (!g || g.assignmentId !== current.assignment.id) throw new UserError(404, 'group: there is no such rubric group for this assignment.');
    return g;
  }

  function itemOf(current: Current, idText: string | undefined) {
    const item = rubricStore.getItem(deps.db, idParam(idText, 'item'));
    if (!item || item.assignmentId !== current.assignment.id) throw new UserError(404, 'item: there is no such rubric item for this assignment.');
    return item;
  }

  /** A key made from the title, unique among `taken`. */
  function freshKey(title: string, taken: Array<{ key: string }>): string {
    let key = keyOf(title);
    for (let n = 2; taken.some((x) => x.key === key); n++) key = `${keyOf(title).slice(0, 55)}-${n}`;
    return key;
  }

  return {
    page(ctx: RouteContext) {
      const course = ctx.state.course!;
      const current = currentOf(ctx, deps);
      const groups = rubricOf(deps.db, current);
      const rule = gradingRule(current);
      const fromYaml = rule.rubric !== null;
      const data = groups.map((g) => ({ ...g, items: g.items.map((i) => ({ ...i, uses: rubricStore.itemUses(deps.db, i.id) })) }));
      if (wantsJson(ctx)) {
        ctx.body = { rule: { final: rule.final, weights: rule.weights, regradeWindowMs: rule.regradeWindowMs }, fromYaml, groups: data };
        return;
      }
      const isLecturer = roleIn(ctx, course.slug) === 'lecturer';
      ctx.render('review/rubric.njk', { ...flash(ctx), isStaffView: true, course, slug: current.assignment.slug, title: current.version.config.title, rule, fromYaml, groups: data, mayEdit: mayDo(ctx, course, 'edit_rubric'), isLecturer });
    },

    addGroup(ctx: RouteContext) {
      rubricChange(ctx, (current, course) => {
        const f = inputOf(ctx, groupForm);
        const existing = rubricStore.listRubric(deps.db, current.assignment.id);
        const id = rubricStore.addGroup(deps.db, { assignmentId: current.assignment.id, key: freshKey(f.title, existing), ...f, position: existing.length });
        auditEntry(deps, ctx, course.slug, 'rubric.group_add', `${current.assignment.slug} / ${f.title}`, { group: id, ...f });
        return { affected: 0 };
      });
    },

    editGroup(ctx: RouteContext) {
      rubricChange(ctx, (current, course) => {
        const g = groupOf(current, idParam(ctx.params.gid, 'group'));
        const f = inputOf(ctx, groupForm);
        rubricStore.updateGroup(deps.db, { id: g.id, ...f, position: g.position });
        const affected = new Set(rubricStore.listRubric(deps.db, current.assignment.id).find((x) => x.id === g.id)!.items.flatMap((i) => rubricStore.submissionsWithItem(deps.db, i.id))).size;
        auditEntry(deps, ctx, course.slug, 'rubric.group_edit', `${current.assignment.slug} / ${f.title}`, { group: g.id, before: { title: g.title, max: g.max, scoring: g.scoring }, after: f, rescoredSubmissions: affected });
        return { affected };
      });
    },

    deleteGroup(ctx: RouteContext) {
      rubricChange(ctx, (current, course) => {
        const g = groupOf(current, idParam(ctx.params.gid, 'group'));
        const items = rubricStore.listRubric(deps.db, current.assignment.id).find((x) => x.id === g.id)!.items;
        if (items.length) throw new UserError(409, "Remove the group's items first (items already used are kept as retired and keep the group).");
        rubricStore.deleteGroup(deps.db, g.id);
        auditEntry(deps, ctx, course.slug, 'rubric.group_delete', `${current.assignment.slug} / ${g.title}`, { group: g.id });
        return { affected: 0 };
      });
    },

    addItem(ctx: RouteContext) {
      rubricChange(ctx, (current, course) => {
        const { group, ...f } = inputOf(ctx, newItemForm);
        const g = groupOf(current, group);
        const siblings = rubricStore.listRubric(deps.db, current.assignment.id).find((x) => x.id === g.id)!.items;
        const id = rubricStore.addItem(deps.db, { groupId: g.id, key: freshKey(f.title, siblings), ...f, position: siblings.length });
        auditEntry(deps, ctx, course.slug, 'rubric.item_add', `${current.assignment.slug} / ${g.title} / ${f.title}`, { item: id, ...f });
        return { affected: 0 };
      });
    },

    editItem(ctx: RouteContext) {
      rubricChange(ctx, (current, course) => {
        const item = itemOf(current, ctx.params.iid);
        const f = inputOf(ctx, itemForm);
        rubricStore.updateItem(deps.db, { id: item.id, ...f, position: item.position });
        // Scores are computed from the items' points when read: every submission the item is
        // applied to is re-scored by this change; the count is recorded for the audit.
        const affected = item.points === f.points ? 0 : rubricStore.submissionsWithItem(deps.db, item.id).length;
        auditEntry(deps, ctx, course.slug, 'rubric.item_edit', `${current.assignment.slug} / ${f.title}`, { item: item.id, before: { title: item.title, points: item.points }, after: f, rescoredSubmissions: affected });
        return { affected };
      });
    },

    deleteItem(ctx: RouteContext) {
      rubricChange(ctx, (current, course) => {
        const item = itemOf(current, ctx.params.iid);
        const how = rubricStore.removeItem(deps.db, item.id, deps.clock.now());
        auditEntry(deps, ctx, course.slug, how === 'deleted' ? 'rubric.item_delete' : 'rubric.item_retire', `${current.assignment.slug} / ${item.title}`, { item: item.id, points: item.points });
        return { affected: 0 };
      });
    },
  };
}
