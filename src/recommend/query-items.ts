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
  if (max <= 0) return out;
  const seen = new Set<string>();
  if (q.contextItemId !== undefined) {
    seen.add(q.contextItemId);
    out.push(q.contextItemId);
  }
  takeInterest(q.session, out, seen, max);
  takeInterest(q.history, out, seen, max);
  return out;
}

/** appends the list's unseen items of interest to `out`, most recent first, until it holds `max` */
function takeInterest(list: readonly SessionItem[], out: string[], seen: Set<string>, max: number): void {
  for (let i = list.length - 1; i >= 0 && out.length < max; i--) {
    const it = list[i]!;
    if (!showsInterest(it) || seen.has(it.itemId)) continue;
    seen.add(it.itemId);
    out.push(it.itemId);
  }
}

/** items the person bought, as far as the query tells */
export function purchasedItems(q: RecommendQuery): Set<string> {
  const out = new Set<string>(q.purchased);
  // `purchased` already holds every stored purchase, `history`'s included: only the session (which
  // may carry the request's inline events) can add to it
  for (const list of q.purchased ? [q.session] : [q.history, q.session]) for (const it of list) if (it.kind === 'purchase') out.add(it.itemId);
  return out;
}
