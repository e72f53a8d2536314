/**
 * What a client may change in an incident's checklist: the `status` (one of ITEM_STATUSES) and
 * `assignee` of existing items, and the text of their `note`. Everything else in the doc — the items
 * themselves, their plan-derived fields, other shared types — is the server's. An update is checked
 * struct by struct before it is applied, so a rejected one leaves no trace. Structs the doc already
 * has are not checked again: re-sending them is a no-op in Yjs.
 */
import * as Y from 'yjs';
import { CHECKLIST_ARRAY, CHECKLIST_LIMITS, ITEM_FIELDS, ITEM_STATUSES } from '../../shared/checklist.js';
import type { DecodedUpdate } from './protocol.js';
import { clientState } from './update-admission.js';

const USER_FIELDS = new Set<string>([ITEM_FIELDS.status, ITEM_FIELDS.assignee]);
const MAX_ASSIGNEE_LENGTH = CHECKLIST_LIMITS.assigneeLength;

export interface GuardLimits {
  /** Most characters (UTF-16 code units, as Y.Text counts them) one item's note may hold. */
  maxNoteLength: number;
}

type Location =
  | { kind: 'root'; name: string; sub: string | null }
  | { kind: 'type'; type: Y.AbstractType<unknown>; sub: string | null }
  | { kind: 'unresolved' };

const idKey = (id: Y.ID) => `${id.client}:${id.clock}`;

/** Returns why the update is refused, or null when every change in it is one a user may make. */
export function checklistUpdateProblem(doc: Y.Doc, { structs, ds }: DecodedUpdate, limits: GuardLimits): string | null {
  const checklist = doc.getArray(CHECKLIST_ARRAY);
  const local = new Map<string, Y.Item>();
  for (const s of structs) if (s instanceof Y.Item) local.set(idKey(s.id), s);
  /** Note length change per note, to hold the result against the limit. */
  const noteGrowth = new Map<Y.Text, number>();
  /** Items whose status this update sets to a new value (that it does not delete again). */
  const statusSet = new Set<Y.AbstractType<unknown>>();

  for (const s of structs) {
    if (!(s instanceof Y.Item)) continue; // GC and Skip structs carry no content
    const known = clientState(doc, s.id.client) - s.id.clock;
    if (known >= s.length) continue;
    const at = locate(doc, s, local, 0);
    const problem = checkInsert(checklist, at, s.content);
    if (problem) return problem;
    if (at.kind === 'type' && at.sub === ITEM_FIELDS.status && !(s.content instanceof Y.ContentDeleted) && !Y.isDeleted(ds, s.id)) statusSet.add(at.type);
    if (at.kind === 'type' && s.content instanceof Y.ContentString) {
      const note = at.type as Y.Text; // checkInsert lets strings into notes only
      noteGrowth.set(note, (noteGrowth.get(note) ?? 0) + s.length - Math.max(0, known));
    }
  }
  for (const [client, ranges] of ds.clients) {
    const problem = checkDeletes(doc, checklist, client, ranges, noteGrowth, statusSet);
    if (problem) return problem;
  }
  for (const [note, growth] of noteGrowth) {
    if (growth > 0 && note.length + growth > limits.maxNoteLength) return `a note holds at most ${limits.maxNoteLength} characters`;
  }
  return null;
}

function storeItem(doc: Y.Doc, id: Y.ID): Y.Item | undefined {
  const structs = doc.store.clients.get(id.client);
  if (!structs || structs.length === 0) return undefined;
  const last = structs[structs.length - 1]!;
  if (id.clock >= last.id.clock + last.length) return undefined;
  const s = structs[Y.findIndexSS(structs, id.clock)];
  return s instanceof Y.Item ? s : undefined;
}

/** Where an item of the update would be inserted: its parent type and map key. */
function locate(doc: Y.Doc, item: Y.Item, local: Map<string, Y.Item>, depth: number): Location {
  if (depth > 10_000) return { kind: 'unresolved' };
  const parent = item.parent as unknown;
  if (typeof parent === 'string') return { kind: 'root', name: parent, sub: item.parentSub };
  if (parent instanceof Y.ID) {
    const owner = storeItem(doc, parent);
    if (owner && owner.content instanceof Y.ContentType) return { kind: 'type', type: owner.content.type, sub: item.parentSub };
    return { kind: 'unresolved' }; // a type created by this update, or unknown to the server
  }
  if (parent instanceof Y.AbstractType) return { kind: 'type', type: parent, sub: item.parentSub };
  // No parent info on the wire: it is the parent of the neighbour the item was inserted next to.
  const neighbour = item.origin ?? item.rightOrigin;
  if (!neighbour) return { kind: 'unresolved' };
  const inUpdate = local.get(idKey(neighbour)) ?? local.get(containingKey(local, neighbour));
  if (inUpdate) return locate(doc, inUpdate, local, depth + 1);
  const stored = storeItem(doc, neighbour);
  if (!stored) return { kind: 'unresolved' };
  return { kind: 'type', type: stored.parent as Y.AbstractType<unknown>, sub: stored.parentSub };
}

/** An origin may point inside a multi-clock item of the same update (e.g. a run of characters). */
function containingKey(local: Map<string, Y.Item>, id: Y.ID): string {
  for (const item of local.values()) {
    if (item.id.client === id.client && id.clock >= item.id.clock && id.clock < item.id.clock + item.length) return idKey(item.id);
  }
  return '';
}

function isItemMap(checklist: Y.Array<unknown>, type: Y.AbstractType<unknown>): boolean {
  return type instanceof Y.Map && type._item?.parent === checklist;
}

function isItemNote(checklist: Y.Array<unknown>, type: Y.AbstractType<unknown>): boolean {
  const owner = type._item;
  return type instanceof Y.Text && owner?.parentSub === ITEM_FIELDS.note && owner.parent instanceof Y.AbstractType && isItemMap(checklist, owner.parent);
}

function checkInsert(checklist: Y.Array<unknown>, at: Location, content: Y.Item['content']): string | null {
  if (content instanceof Y.ContentDeleted) return null; // inserted and deleted again within the update
  if (at.kind === 'unresolved') return 'the update refers to content the server does not have';
  if (at.kind === 'root') {
    return at.name === CHECKLIST_ARRAY ? 'checklist items are created by the server from the plan' : `unknown shared type "${at.name}"`;
  }
  const { type, sub } = at;
  if (type === checklist) return 'checklist items are created by the server from the plan';
  if (isItemMap(checklist, type)) {
    if (sub === null || !USER_FIELDS.has(sub)) return `field "${sub ?? '(none)'}" of a checklist item is not editable`;
    if (!(content instanceof Y.ContentAny) || content.arr.length !== 1) return `field "${sub}" takes one plain value`;
    const value = content.arr[0];
    if (sub === ITEM_FIELDS.status && !ITEM_STATUSES.includes(value as never)) return `status must be one of ${ITEM_STATUSES.join(', ')}`;
    if (sub === ITEM_FIELDS.assignee && !(typeof value === 'string' && value.length <= MAX_ASSIGNEE_LENGTH)) {
      return `assignee must be text of at most ${MAX_ASSIGNEE_LENGTH} characters`;
    }
    return null;
  }
  if (isItemNote(checklist, type)) return content instanceof Y.ContentString ? null : 'a note holds plain text only';
  return 'this part of the checklist is not editable';
}

function checkDeletes(
  doc: Y.Doc,
  checklist: Y.Array<unknown>,
  client: number,
  ranges: { clock: number; len: number }[],
  noteGrowth: Map<Y.Text, number>,
  statusSet: ReadonlySet<Y.AbstractType<unknown>>,
): string | null {
  const structs = doc.store.clients.get(client);
  if (!structs || structs.length === 0) return null;
  const last = structs[structs.length - 1]!;
  for (const { clock, len } of ranges) {
    if (clock >= last.id.clock + last.length) continue;
    for (let i = Y.findIndexSS(structs, clock); i < structs.length && structs[i]!.id.clock < clock + len; i++) {
      const s = structs[i]!;
      if (!(s instanceof Y.Item) || s.deleted) continue;
      const parent = s.parent as Y.AbstractType<unknown>;
      if (parent === checklist) return 'checklist items cannot be deleted';
      if (isItemMap(checklist, parent) && !(s.parentSub !== null && USER_FIELDS.has(s.parentSub))) {
        return `field "${s.parentSub}" of a checklist item cannot be removed`;
      }
      // The current status may go only for a new one: an item without a status has no state.
      if (s.parentSub === ITEM_FIELDS.status && isItemMap(checklist, parent) && (parent as Y.Map<unknown>)._map.get(s.parentSub) === s && !statusSet.has(parent)) {
        return 'the status of a checklist item can be changed, not removed';
      }
      if (s.countable && isItemNote(checklist, parent)) {
        const deleted = Math.min(clock + len, s.id.clock + s.length) - Math.max(clock, s.id.clock);
        noteGrowth.set(parent as Y.Text, (noteGrowth.get(parent as Y.Text) ?? 0) - deleted);
      }
    }
  }
  return null;
}
