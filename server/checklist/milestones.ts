/**
 * Checklist milestones: an item entering done/skipped, or leaving them (reopened), becomes an
 * event in the incident's log. Transitions are read from the Yjs events of the transaction that
 * applied a user's update, so each is seen once, by the node that accepted the update.
 */
import * as Y from 'yjs';
import type { Actor } from '../auth/policy.js';
import {
  CHECKLIST_ARRAY,
  FINISHED_STATUSES,
  ITEM_FIELDS as F,
  type ChecklistItemStatusEventData,
} from '../../shared/checklist.js';

export interface Milestone {
  incidentId: string;
  actor: Actor;
  data: ChecklistItemStatusEventData;
}

const isFinished = (status: unknown) => typeof status === 'string' && (FINISHED_STATUSES as readonly string[]).includes(status);

/**
 * Calls `onMilestone` for every status transition made by a transaction whose origin maps to
 * an actor. Returns the unsubscribe function.
 */
export function watchMilestones(
  doc: Y.Doc,
  incidentId: string,
  actorOf: (origin: unknown) => Actor | undefined,
  onMilestone: (m: Milestone, origin: unknown) => void,
  now: () => Date = () => new Date(),
): () => void {
  const checklist = doc.getArray<Y.Map<unknown>>(CHECKLIST_ARRAY);
  const observer = (events: Y.YEvent<any>[], tr: Y.Transaction) => {
    const actor = actorOf(tr.origin);
    if (!actor) return;
    for (const event of events) {
      const item = event.target;
      if (!(item instanceof Y.Map) || item.parent !== checklist || !(event as Y.YMapEvent<unknown>).keysChanged.has(F.status)) continue;
      const change = event.changes.keys.get(F.status);
      const from = change?.oldValue ?? null;
      const to = item.get(F.status);
      if (typeof to !== 'string' || from === to) continue;
      if (isFinished(to) === isFinished(from)) continue;
      const dueAt = typeof item.get(F.dueAt) === 'string' ? (item.get(F.dueAt) as string) : null;
      const at = now();
      onMilestone({
        incidentId,
        actor,
        data: {
          itemId: String(item.get(F.id) ?? ''),
          text: String(item.get(F.text) ?? ''),
          from: typeof from === 'string' ? from : null,
          to,
          by: { id: actor.userId, name: actor.username, role: actor.role },
          dueAt,
          minutesLate: dueAt && !Number.isNaN(Date.parse(dueAt)) ? Math.round((at.getTime() - Date.parse(dueAt)) / 60_000) : null,
        },
      }, tr.origin);
    }
  };
  checklist.observeDeep(observer);
  return () => checklist.unobserveDeep(observer);
}
