/**
 * Seeding and level reconciliation of the checklist doc. `reconcileChecklist` is idempotent:
 * it appends the plan items of the current level that the doc lacks (matched by id) and sets
 * `inLevel` on the others. It never changes what people edit (status, assignee, note), never
 * deletes, and running it twice changes nothing — so it runs on activation, on every level
 * change and again whenever a doc is loaded, healing a crash between a level change and the doc.
 */
import * as Y from 'yjs';
import type { Plan } from '../../shared/plan.js';
import { effectiveChecklist } from '../../shared/plan.js';
import type { ResponseLevel } from '../../shared/labels.js';
import { CHECKLIST_ARRAY, ITEM_FIELDS as F } from '../../shared/checklist.js';

export interface ChecklistSource {
  plan: Pick<Plan, 'levels'>;
  level: ResponseLevel;
  /** ISO activation time; dueAt = activatedAt + dueMinutes. */
  activatedAt: string;
}

/** Origin of transactions made by the server itself (seeding, reconciliation). */
export const SERVER_ORIGIN = Symbol('server');

/** Brings the doc's checklist to the source's level; returns true when it changed anything. */
export function reconcileChecklist(doc: Y.Doc, source: ChecklistSource): boolean {
  const wanted = effectiveChecklist(source.plan, source.level);
  const wantedIds = new Set(wanted.map((item) => item.id));
  const checklist = doc.getArray<Y.Map<unknown>>(CHECKLIST_ARRAY);
  const activatedAt = Date.parse(source.activatedAt);
  let changed = false;
  doc.transact(() => {
    const present = new Set<string>();
    for (const item of checklist) {
      if (!(item instanceof Y.Map)) continue;
      const id = item.get(F.id);
      if (typeof id !== 'string') continue;
      present.add(id);
      const inLevel = wantedIds.has(id);
      if (item.get(F.inLevel) !== inLevel) {
        item.set(F.inLevel, inLevel);
        changed = true;
      }
    }
    const missing = wanted.filter((item) => !present.has(item.id));
    if (missing.length === 0) return;
    checklist.push(
      missing.map((template) => {
        const item = new Y.Map<unknown>();
        item.set(F.id, template.id);
        item.set(F.text, template.text.zh);
        item.set(F.textEn, template.text.en);
        item.set(F.unit, template.unit);
        item.set(F.phase, template.phase);
        item.set(F.level, template.level);
        item.set(F.dueMinutes, template.dueMinutes);
        item.set(F.dueAt, new Date(activatedAt + template.dueMinutes * 60_000).toISOString());
        item.set(F.dependsOn, template.dependsOn ?? []);
        item.set(F.inLevel, true);
        item.set(F.status, 'todo');
        item.set(F.note, new Y.Text());
        return item;
      }),
    );
    changed = true;
  }, SERVER_ORIGIN);
  return changed;
}
