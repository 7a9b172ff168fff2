/**
 * What the harness evaluates on: interactions (who, which item, when, which event) and optionally a
 * catalog. Readers (CSV, presets) produce this; splits and protocols consume it.
 */

export interface Interaction {
  /** the person: a user id (top-N protocols) or the session id (session datasets have no users) */
  person: string;
  /** the session as the dataset states it; absent when sessions are left to the engine's gap rule */
  session?: string;
  item: string;
  /** ms since epoch */
  t: number;
  /** Segment E-commerce event name ("Product Viewed", "Order Completed", …) */
  event: string;
}

export interface CatalogEntry {
  itemId: string;
  /** CONTRACT §5 properties: name, category, tags, … */
  properties: Record<string, unknown>;
}

export interface Dataset {
  name: string;
  interactions: Interaction[];
  catalog: CatalogEntry[];
  /** a licence notice that must travel with results derived from the data */
  licence?: string;
}

export const DEFAULT_EVENT = 'Product Viewed';

/** replay order: by time, then person, then the order read (Array.prototype.sort is stable) */
export function byTime(list: readonly Interaction[]): Interaction[] {
  return [...list].sort((a, b) => a.t - b.t || (a.person < b.person ? -1 : a.person > b.person ? 1 : 0));
}

/** interactions grouped by a key, each group in time order (stable for equal times) */
export function groupBy(list: readonly Interaction[], key: (x: Interaction) => string): Map<string, Interaction[]> {
  const out = new Map<string, Interaction[]>();
  for (const x of list) {
    const k = key(x);
    let g = out.get(k);
    if (!g) out.set(k, (g = []));
    g.push(x);
  }
  for (const g of out.values()) g.sort((a, b) => a.t - b.t);
  return out;
}

/** events per item */
export function itemCounts(list: readonly Interaction[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const x of list) out.set(x.item, (out.get(x.item) ?? 0) + 1);
  return out;
}
