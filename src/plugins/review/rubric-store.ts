import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import type { RubricGroupConfig } from './config.js';

/** The rubric's tables: groups, their items, and which assignment.yaml version was last brought in. */

export interface RubricItem {
  id: number;
  groupId: number;
  key: string;
  title: string;
  description: string;
  points: number;
  position: number;
  retired: boolean;
}

export interface RubricGroup {
  id: number;
  key: string;
  title: string;
  max: number;
  scoring: 'positive' | 'negative';
  position: number;
  items: RubricItem[];
}

type ItemRow = Omit<RubricItem, 'retired'> & { retired: number };
type GroupRow = Omit<RubricGroup, 'items'>;

const ITEM = 'i.id, i.group_id AS groupId, i.key, i.title, i.description, i.points, i.position, i.retired_at IS NOT NULL AS retired';
const GROUP = 'id, key, title, max_points AS max, scoring, position';

const statements = preparedFor((db: Db) => ({
  groups: db.prepare<[number], GroupRow>(`SELECT ${GROUP} FROM review_groups WHERE assignment_id = ? ORDER BY position, id`),
  items: db.prepare<[number], ItemRow>(`SELECT ${ITEM} FROM review_items i JOIN review_groups g ON g.id = i.group_id WHERE g.assignment_id = ? ORDER BY i.position, i.id`),
  item: db.prepare<[number], ItemRow & { assignmentId: number }>(`SELECT ${ITEM}, g.assignment_id AS assignmentId FROM review_items i JOIN review_groups g ON g.id = i.group_id WHERE i.id = ?`),
  group: db.prepare<[number], GroupRow & { assignmentId: number }>(`SELECT ${GROUP}, assignment_id AS assignmentId FROM review_groups WHERE id = ?`),
  insertGroup: db.prepare<{ assignmentId: number; key: string; title: string; max: number; scoring: string; position: number }>(
    'INSERT INTO review_groups (assignment_id, key, title, max_points, scoring, position) VALUES (:assignmentId, :key, :title, :max, :scoring, :position)',
  ),
  updateGroup: db.prepare<{ id: number; title: string; max: number; scoring: string; position: number }>(
    'UPDATE review_groups SET title = :title, max_points = :max, scoring = :scoring, position = :position WHERE id = :id',
  ),
  deleteGroup: db.prepare<[number]>('DELETE FROM review_groups WHERE id = ?'),
  insertItem: db.prepare<{ groupId: number; key: string; title: string; description: string; points: number; position: number }>(
    'INSERT INTO review_items (group_id, key, title, description, points, position) VALUES (:groupId, :key, :title, :description, :points, :position)',
  ),
  updateItem: db.prepare<{ id: number; title: string; description: string; points: number; position: number }>(
    'UPDATE review_items SET title = :title, description = :description, points = :points, position = :position, retired_at = NULL WHERE id = :id',
  ),
  retireItem: db.prepare<{ id: number; at: number }>('UPDATE review_items SET retired_at = :at WHERE id = :id'),
  deleteItem: db.prepare<[number]>('DELETE FROM review_items WHERE id = ?'),
  itemUses: db.prepare<[number], { applied: number; comments: number; regrades: number }>(
    `SELECT (SELECT count(*) FROM review_applied WHERE item_id = ?1) AS applied,
            (SELECT count(*) FROM review_comments WHERE item_id = ?1) AS comments,
            (SELECT count(*) FROM review_regrades WHERE item_id = ?1) AS regrades`,
  ),
  appliedSubmissions: db.prepare<[number], { submissionId: number }>('SELECT submission_id AS submissionId FROM review_applied WHERE item_id = ?'),
  syncedVersion: db.prepare<[number], { versionId: number }>('SELECT version_id AS versionId FROM review_rubric_sync WHERE assignment_id = ?'),
  setSynced: db.prepare<{ assignmentId: number; versionId: number }>(
    'INSERT INTO review_rubric_sync (assignment_id, version_id) VALUES (:assignmentId, :versionId) ON CONFLICT (assignment_id) DO UPDATE SET version_id = excluded.version_id',
  ),
}));

/** SQLite answers a boolean as 0 or 1. */
function toItem<T extends ItemRow>(r: T): Omit<T, 'retired'> & { retired: boolean } {
  return { ...r, retired: r.retired === 1 };
}

export function listRubric(db: Db, assignmentId: number): RubricGroup[] {
  const q = statements(db);
  const groups = q.groups.all(assignmentId).map((g): RubricGroup => ({ ...g, items: [] }));
  const byId = new Map(groups.map((g) => [g.id, g]));
  for (const r of q.items.all(assignmentId)) byId.get(r.groupId)?.items.push(toItem(r));
  return groups;
}

export function getItem(db: Db, id: number): (RubricItem & { assignmentId: number }) | undefined {
  const r = statements(db).item.get(id);
  return r ? toItem(r) : undefined;
}

export function getGroup(db: Db, id: number): (Omit<RubricGroup, 'items'> & { assignmentId: number }) | undefined {
  return statements(db).group.get(id);
}

export function itemUses(db: Db, id: number): { applied: number; comments: number; regrades: number } {
  return statements(db).itemUses.get(id) ?? { applied: 0, comments: 0, regrades: 0 };
}

export function addGroup(db: Db, g: { assignmentId: number; key: string; title: string; max: number; scoring: string; position: number }): number {
  return Number(statements(db).insertGroup.run(g).lastInsertRowid);
}

export function updateGroup(db: Db, g: { id: number; title: string; max: number; scoring: string; position: number }): void {
  statements(db).updateGroup.run(g);
}

export function deleteGroup(db: Db, id: number): void {
  statements(db).deleteGroup.run(id);
}

export function addItem(db: Db, i: { groupId: number; key: string; title: string; description: string; points: number; position: number }): number {
  return Number(statements(db).insertItem.run(i).lastInsertRowid);
}

export function updateItem(db: Db, i: { id: number; title: string; description: string; points: number; position: number }): void {
  statements(db).updateItem.run(i);
}

/** Removes an item never used, or retires one that grades, comments or requests refer to. */
export function removeItem(db: Db, id: number, at: number): 'deleted' | 'retired' {
  const uses = itemUses(db, id);
  if (uses.applied + uses.comments + uses.regrades === 0) {
    statements(db).deleteItem.run(id);
    return 'deleted';
  }
  statements(db).retireItem.run({ id, at });
  return 'retired';
}

/** Submissions an item is applied to (the ones a change of its points re-scores). */
export function submissionsWithItem(db: Db, itemId: number): number[] {
  return statements(db)
    .appliedSubmissions.all(itemId)
    .map((r) => r.submissionId);
}

export function syncedVersion(db: Db, assignmentId: number): number | null {
  return statements(db).syncedVersion.get(assignmentId)?.versionId ?? null;
}

/**
 * Brings assignment.yaml's rubric into the tables, matching groups and items by key: points and
 * titles are taken from the file (re-scoring what they were applied to), new ones added, and
 * ones the file dropped removed, or retired when grades use them. Runs once per version.
 */
export function syncRubric(db: Db, assignmentId: number, versionId: number, rubric: RubricGroupConfig[] | null, at: number): { changedItems: number[] } {
  return db.transaction(() => {
    const changedItems: number[] = [];
    if (rubric) {
      const existing = listRubric(db, assignmentId);
      const groupByKey = new Map(existing.map((g) => [g.key, g]));
      const keptGroups = new Set<number>();
      rubric.forEach((g, gi) => {
        const old = groupByKey.get(g.key);
        const groupId = old ? old.id : addGroup(db, { assignmentId, key: g.key, title: g.title, max: g.max, scoring: g.scoring, position: gi });
        if (old) updateGroup(db, { id: old.id, title: g.title, max: g.max, scoring: g.scoring, position: gi });
        keptGroups.add(groupId);
        const oldItems = new Map((old?.items ?? []).map((i) => [i.key, i]));
        const keptItems = new Set<number>();
        g.items.forEach((it, ii) => {
          const prev = oldItems.get(it.key);
          if (prev) {
            if (prev.points !== it.points) changedItems.push(prev.id);
            updateItem(db, { id: prev.id, title: it.title, description: it.description, points: it.points, position: ii });
            keptItems.add(prev.id);
          } else {
            keptItems.add(addItem(db, { groupId, key: it.key, title: it.title, description: it.description, points: it.points, position: ii }));
          }
        });
        for (const i of old?.items ?? []) if (!keptItems.has(i.id) && !i.retired) removeItem(db, i.id, at);
      });
      for (const g of existing) {
        if (keptGroups.has(g.id)) continue;
        for (const i of g.items) if (!i.retired) removeItem(db, i.id, at);
        const left = listRubric(db, assignmentId).find((x) => x.id === g.id)?.items.length ?? 0;
        if (!left) deleteGroup(db, g.id);
      }
    }
    statements(db).setSynced.run({ assignmentId, versionId });
    return { changedItems };
  })();
}
