/**
 * Whether a decoded update integrates into the doc completely, right now. Yjs applies what it can
 * and parks the rest (structs whose dependencies are missing in `pendingStructs`, deletes of
 * unknown clocks in `pendingDs`): an update built on something the server refused would delete a
 * map key's old value and park its new one for ever. So admission is decided for the whole update
 * before it is applied, by replaying Yjs's integration order against the doc's state vector —
 * O(structs), no copy of the doc.
 */
import * as Y from 'yjs';
import type { DecodedUpdate } from './protocol.js';

/** The next clock the doc expects from `client` (its state vector entry). */
export function clientState(doc: Y.Doc, client: number): number {
  const structs = doc.store.clients.get(client);
  if (!structs || structs.length === 0) return 0;
  const last = structs[structs.length - 1]!;
  return last.id.clock + last.length;
}

/** True when every struct of the update is already in the doc (a re-send or an echo). */
export function isKnown(doc: Y.Doc, struct: { id: Y.ID; length: number }): boolean {
  return struct.id.clock + struct.length <= clientState(doc, struct.id.client);
}

/**
 * Returns why the update would not integrate completely (something of it would stay pending), or
 * null when all of its structs and deletes would be applied now.
 */
export function integrationProblem(doc: Y.Doc, { structs, ds }: DecodedUpdate): string | null {
  const state = new Map<number, number>();
  const stateOf = (client: number) => state.get(client) ?? clientState(doc, client);
  const byClient = new Map<number, (Y.Item | Y.GC | Y.Skip)[]>();
  for (const s of structs) {
    const list = byClient.get(s.id.client);
    if (list) list.push(s);
    else byClient.set(s.id.client, [s]);
  }
  const next = new Map<number, number>();
  // Another client's struct of the same update may supply a dependency, in any order: repeat
  // until nothing more integrates.
  for (let progress = true; progress; ) {
    progress = false;
    for (const [client, list] of byClient) {
      let i = next.get(client) ?? 0;
      while (i < list.length) {
        const s = list[i]!;
        if (s instanceof Y.Skip) {
          i++; // a gap: it integrates nothing, and whatever follows it from this client stays pending
          continue;
        }
        const have = stateOf(client);
        if (s.id.clock > have) break; // structs of this client before it are missing
        if (s instanceof Y.Item && !dependenciesPresent(s, stateOf)) break;
        if (s.id.clock + s.length > have) state.set(client, s.id.clock + s.length);
        i++;
        progress = true;
      }
      next.set(client, i);
    }
  }
  for (const [client, list] of byClient) {
    const stuck = list.slice(next.get(client) ?? 0).find((s) => !(s instanceof Y.Skip));
    if (stuck) return `the update builds on content the server does not have (client ${client}, clock ${stuck.id.clock})`;
  }
  for (const [client, ranges] of ds.clients) {
    const have = stateOf(client);
    for (const { clock, len } of ranges) {
      if (clock + len > have) return `the update deletes content the server does not have (client ${client}, clock ${clock})`;
    }
  }
  return null;
}

/** The ids an item is integrated against (Item.getMissing): left and right origin, parent item. */
function dependenciesPresent(item: Y.Item, stateOf: (client: number) => number): boolean {
  const parent = item.parent as unknown;
  for (const id of [item.origin, item.rightOrigin, parent instanceof Y.ID ? parent : null]) {
    // Also for the item's own client: an origin at or after its own clock can never exist first.
    if (id && id.clock >= stateOf(id.client)) return false;
  }
  return true;
}
