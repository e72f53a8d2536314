/**
 * Checklist replay: the checklist as it stood at a time, rebuilt from every update stored by then —
 * the history kept at compaction (checklist_update_history, merged per second) and the update rows
 * not compacted yet. Yjs updates commute, so the order of rows does not matter.
 */
import * as Y from 'yjs';
import type { Queryable } from '../db/database.js';
import { CHECKLIST_ARRAY, type ChecklistItem } from '../../shared/checklist.js';

export async function checklistAt(db: Queryable, incidentId: string, at: Date): Promise<ChecklistItem[]> {
  const { rows } = await db.query<{ update: Buffer }>(
    `SELECT update FROM checklist_update_history WHERE incident_id = $1 AND at <= $2
     UNION ALL
     SELECT update FROM checklist_updates WHERE incident_id = $1 AND created_at <= $2`,
    [incidentId, at],
  );
  const doc = new Y.Doc();
  doc.transact(() => {
    for (const r of rows) Y.applyUpdate(doc, r.update);
  });
  const items = doc.getArray<Y.Map<unknown>>(CHECKLIST_ARRAY).toJSON() as ChecklistItem[];
  doc.destroy();
  return items;
}
