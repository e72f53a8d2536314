/**
 * The live checklist of an incident: the Y.Doc schema shared by the server, the web client and
 * outside tools (docs/API.md "Live checklist" documents it), and the close codes of the /yjs/
 * endpoint.
 */
import type { Phase, ResponseLevel } from './labels.js';
import { CHECKLIST_EVENT_TYPES } from './events.js';

/** `doc.getArray(CHECKLIST_ARRAY)` holds one Y.Map per item. */
export const CHECKLIST_ARRAY = 'checklist';

export const ITEM_STATUSES = ['todo', 'doing', 'done', 'skipped'] as const;
export type ItemStatus = (typeof ITEM_STATUSES)[number];
/** Statuses that close an item; entering or leaving them is a milestone in the event log. */
export const FINISHED_STATUSES: readonly ItemStatus[] = ['done', 'skipped'];

/** Field names of an item's Y.Map. Server-owned fields are written only by the server. */
export const ITEM_FIELDS = {
  /** Plan item id (server-owned, never changes). */
  id: 'id',
  /** Item text in Chinese (server-owned). */
  text: 'text',
  /** Item text in English (server-owned). */
  textEn: 'textEn',
  /** Responsible unit id from the plan's command.units (server-owned). */
  unit: 'unit',
  phase: 'phase',
  /** The response level whose section of the plan defines the item (server-owned). */
  level: 'level',
  /** Minutes after activation the item is due (server-owned). */
  dueMinutes: 'dueMinutes',
  /** ISO time: activation time + dueMinutes (server-owned). */
  dueAt: 'dueAt',
  /** Ids of items that should be done first (server-owned). */
  dependsOn: 'dependsOn',
  /** false once a de-escalation took the item out of the current level; the item stays (server-owned). */
  inLevel: 'inLevel',
  /** todo | doing | done | skipped (edited by users). */
  status: 'status',
  /** Free text: a user id, team id or name (edited by users; absent when unassigned). */
  assignee: 'assignee',
  /** Y.Text (edited by users). */
  note: 'note',
} as const;

/** A checklist item as plain JSON (`itemMap.toJSON()`). */
export interface ChecklistItem {
  id: string;
  text: string;
  textEn: string;
  unit: string;
  phase: Phase;
  level: ResponseLevel;
  dueMinutes: number;
  dueAt: string;
  dependsOn: string[];
  inLevel: boolean;
  status: ItemStatus;
  assignee?: string;
  note: string;
}

/** Event type written when an item enters or leaves done/skipped. */
export const CHECKLIST_ITEM_STATUS_EVENT = CHECKLIST_EVENT_TYPES.itemStatus;

export interface ChecklistItemStatusEventData {
  itemId: string;
  text: string;
  from: string | null;
  to: string;
  by: { id: string; name: string; role: string };
  dueAt: string | null;
  /** Minutes after dueAt (negative: early); null without a dueAt. */
  minutesLate: number | null;
}

/** Fixed limits of what users may write (the configurable ones are in server/config.ts, documented in docs/API.md). */
export const CHECKLIST_LIMITS = {
  /** Characters an item's `assignee` may have. */
  assigneeLength: 200,
} as const;

/**
 * WebSocket close codes of /yjs/<incidentId>. 4400–4499 are permanent for the stock
 * y-websocket client (it stops reconnecting); 1013 and 1011 make it retry.
 */
export const YJS_CLOSE_CODES = {
  /** The frame could not be decoded as a y-websocket message. */
  malformedMessage: 4400,
  /**
   * The update changed something users may not change (anything but an item's status, assignee
   * and note text, or an invalid value). Nothing of it was applied; reload the checklist.
   */
  updateRefused: 4422,
  /** Accepting the update would take the document over its size limit (YJS_MAX_DOC_BYTES). */
  documentTooLarge: 4413,
  /** This user, or this incident, has as many live checklist connections as allowed. */
  tooManyConnections: 4429,
  /** No token, or an invalid or expired one. */
  unauthorized: 4401,
  /** No such incident, or not one this user may see. */
  notFound: 4404,
  /** The message is over the size limit (ws closes with it). */
  messageTooBig: 1009,
  /** The server failed to store an update; reconnect and resync. */
  storageFailed: 1011,
  /** The server is shutting down or restarting this room; reconnect. */
  goingAway: 1001,
} as const;
