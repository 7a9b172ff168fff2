/** Puts reasons into words, naming anchor items by their catalog names. */
import { displayName, shortLabel } from '../../catalog/item.ts';
import type { CatalogView, RawReason, Reason } from '../types.ts';

/** A raw reason that may also name the category it was scoped to ("Trending in Shoes"). */
export type ExplainableReason = RawReason & { category?: string };

/**
 * Whom a reason speaks to: a person whose session or history the answer drew on ("Because you
 * viewed…"), or nobody known, as on a product page for a new visitor or for similar items ("Often
 * viewed with…").
 */
export type Audience = 'person' | 'item';

export function explainReason(raw: ExplainableReason, catalog: CatalogView, audience: Audience = 'person'): Reason {
  // an anchor no longer in the catalog (deleted) is not named: its id is no name for people
  const item = raw.itemId === undefined ? undefined : catalog.get(raw.itemId);
  const anchor = item === undefined ? undefined : displayName(item, raw.itemId!);
  const text = reasonText(raw.category === undefined ? raw : { ...raw, category: shortLabel(raw.category) }, anchor, audience);
  return raw.itemId === undefined ? { type: raw.type, text } : { type: raw.type, itemId: raw.itemId, text };
}

function reasonText(raw: ExplainableReason, anchor: string | undefined, audience: Audience): string {
  if (audience === 'item') {
    if (raw.type === 'viewed_together') return anchor === undefined ? 'Often viewed together' : `Often viewed with ${anchor}`;
    if (raw.type === 'similar_session') return anchor === undefined ? 'Viewed in the same sessions' : `Viewed in the same sessions as ${anchor}`;
  }
  switch (raw.type) {
    case 'viewed_together':
      return anchor === undefined ? 'Often viewed together with your recent items' : `Because you viewed ${anchor}`;
    case 'bought_together':
      return anchor === undefined ? 'Often bought together with your recent items' : `Often bought with ${anchor}`;
    case 'similar_session':
      return 'People with sessions like yours viewed this';
    case 'similar_content':
      return anchor === undefined ? 'Similar to items you viewed' : `Similar to ${anchor}`;
    case 'personal':
      return anchor === undefined ? 'Picked for you' : `Popular with people who like ${anchor}`;
    case 'trending':
      return raw.category === undefined ? 'Trending now' : `Trending in ${raw.category}`;
    case 'popular':
      return raw.category === undefined ? 'Popular' : `Popular in ${raw.category}`;
    case 'new':
      return 'New arrival';
    case 'exploration':
      return 'Something new to explore';
    case 'in_session':
      return anchor === undefined ? 'You viewed this earlier' : `You viewed ${anchor} earlier`;
    case 'viewed_before':
      return anchor === undefined ? 'You viewed this before' : `You viewed ${anchor} before`;
    case 'context':
      return anchor === undefined ? (raw.category === undefined ? 'More from the catalog' : `More in ${raw.category}`) : `Related to ${anchor}`;
  }
}

/** distinct reasons (by type and anchor), in the given order, put into words */
export function explainReasons(raws: readonly ExplainableReason[], catalog: CatalogView, max: number, audience: Audience = 'person'): Reason[] {
  const out: Reason[] = [];
  const seen = new Set<string>();
  for (const raw of raws) {
    const key = `${raw.type}\u0000${raw.itemId ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(explainReason(raw, catalog, audience));
    if (out.length >= max) break;
  }
  return out;
}
