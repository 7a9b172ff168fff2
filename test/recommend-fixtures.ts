/** Small hand-computable fixtures shared by the recommendation tests. */
import { Catalog } from '../src/catalog/catalog.ts';
import { DEFAULT_INTERACTION_WEIGHTS, type InteractionKind } from '../src/ingest/interactions.ts';
import type { RecommendQuery, SessionItem, SessionRecord } from '../src/recommend/types.ts';

export const MINUTE = 60_000;
export const DAY = 86_400_000;
/** a fixed "now" for every test */
export const NOW = Date.UTC(2024, 5, 1, 12);

/** one interaction: an item id, or [item id, kind] */
export type Step = string | [string, InteractionKind];

/** a session of consecutive interactions one minute apart, ending `endsAgo` ms before NOW */
export function session(key: string, steps: Step[], endsAgo = 0): SessionRecord {
  const end = NOW - endsAgo;
  const start = end - (steps.length - 1) * MINUTE;
  const items: SessionItem[] = steps.map((s, i) => {
    const [itemId, kind] = typeof s === 'string' ? [s, 'view' as const] : s;
    return { itemId, kind, t: start + i * MINUTE, weight: DEFAULT_INTERACTION_WEIGHTS[kind] };
  });
  return { key, start, end, items, size: items.length };
}

export interface ItemSpec {
  id: string;
  name?: string;
  category?: string;
  brand?: string;
  tags?: string[];
  price?: number;
  available?: boolean;
  /** days before NOW the item was created (default 100: not new) */
  ageDays?: number;
  [property: string]: unknown;
}

export function catalogOf(specs: ItemSpec[]): Catalog {
  const catalog = new Catalog();
  for (const { id, ageDays, ...properties } of specs) catalog.upsert(id, properties, NOW - (ageDays ?? 100) * DAY);
  return catalog;
}

/** a query at NOW; `session` steps are one minute apart, ending now */
export function query(o: { session?: Step[]; history?: Step[]; context?: string; personalized?: boolean } = {}): RecommendQuery {
  const asItems = (steps: Step[] | undefined): SessionItem[] => (steps ? [...session('q', steps).items] : []);
  const current = asItems(o.session);
  return {
    now: NOW,
    session: current,
    history: [...asItems(o.history).map((i) => ({ ...i, t: i.t - DAY })), ...current],
    ...(o.context !== undefined ? { contextItemId: o.context } : {}),
    personalized: o.personalized ?? true,
  };
}
