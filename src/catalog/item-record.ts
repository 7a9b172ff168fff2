/**
 * What the `items` table holds, and how product properties carried by events build an item:
 * each property takes the value of the latest event (by time, then messageId) that carried it, so
 * the item is the same whatever order the events arrived in. Items written through the catalog API
 * belong to the API: events never change them.
 */
export interface ItemRecord {
  /** the id (the store key may be a hash of it, see itemStoreKey) */
  itemId?: string;
  properties: Record<string, unknown>;
  /** ms since epoch: API items, when first written; event-made items, the earliest mention */
  firstSeen: number;
  source?: 'api' | 'events';
  /** event-made items: for each property, the [time, messageId] of the event that set it */
  setBy?: Record<string, [number, string]>;
  /**
   * deleted through the API: kept as a marker (source 'api', no properties) so that an event still
   * naming the item does not make it again; an API upsert replaces it
   */
  deleted?: true;
}

/** whether stamp `a` ([time, messageId]) is later than `b` (none: every stamp is) */
export const newer = (a: [number, string], b: [number, string] | undefined): boolean => !b || a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);

/** The record after one more mention, or undefined when the mention changes nothing. */
export function mergeMention(prev: Readonly<ItemRecord> | undefined, properties: Readonly<Record<string, unknown>>, t: number, messageId: string): ItemRecord | undefined {
  if (prev && prev.source !== 'events') return undefined;
  const firstSeen = Math.min(prev?.firstSeen ?? t, t);
  // most mentions change nothing (a known item, no newer property): decided before copying anything
  let changed = !prev || firstSeen !== prev.firstSeen;
  if (!changed) {
    for (const field in properties) {
      if (newer([t, messageId], prev!.setBy?.[field])) {
        changed = true;
        break;
      }
    }
  }
  if (!changed) return undefined;
  const setBy = { ...(prev?.setBy ?? {}) };
  const merged = { ...(prev?.properties ?? {}) };
  for (const [field, value] of Object.entries(properties)) {
    const stamp: [number, string] = [t, messageId];
    if (!newer(stamp, setBy[field])) continue;
    setBy[field] = stamp;
    merged[field] = value;
  }
  return { properties: merged, firstSeen, source: 'events', setBy };
}
