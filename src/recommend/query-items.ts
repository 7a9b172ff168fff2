/**
 * What a query says about the person's current interest: their recent items, most recent first.
 * Session-based generators anchor on these; the context item (the page being viewed) comes first
 * even when the caller did not send the matching view event.
 */
import type { InteractionKind } from '../ingest/interactions.ts';
import type { RecommendQuery, SessionItem } from './types.ts';

/** Interaction kinds that express interest in an item (list impressions, searches and removals do not). */
export const INTEREST_KINDS: ReadonlySet<InteractionKind> = new Set<InteractionKind>(['view', 'click', 'add', 'wishlist', 'purchase']);

export const showsInterest = (i: SessionItem): boolean => i.weight > 0 && INTEREST_KINDS.has(i.kind);

/**
 * Distinct items of interest, most recent first: the context item, then the session, then older
 * history, at most `max` of them.
 */
export function recentInterest(q: RecommendQuery, max: number): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const take = (itemId: string): boolean => {
    if (!seen.has(itemId)) {
      seen.add(itemId);
      out.push(itemId);
    }
    return out.length < max;
  };
  if (max <= 0) return out;
  if (q.contextItemId !== undefined && !take(q.contextItemId)) return out;
  for (const list of [q.session, q.history]) {
    for (let i = list.length - 1; i >= 0; i--) {
      const it = list[i]!;
      if (showsInterest(it) && !take(it.itemId)) return out;
    }
  }
  return out;
}

/** items the person bought, as far as the query tells */
export function purchasedItems(q: RecommendQuery): Set<string> {
  const out = new Set<string>();
  for (const list of [q.history, q.session]) for (const it of list) if (it.kind === 'purchase') out.add(it.itemId);
  return out;
}
