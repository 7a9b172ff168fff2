/**
 * Hard rules: what may never be recommended. Ineligible items (unavailable, deleted, unknown), the
 * context item, the filter's exclusions and mismatches, the caller's excluded ids, and items the
 * person bought unless purchases are allowed.
 */
import type { Item } from '../../catalog/item.ts';
import type { CatalogView } from '../types.ts';
import { compileFilter, type RecommendFilter } from './filter.ts';

export interface HardRules {
  catalog: CatalogView;
  contextItemId?: string;
  filter?: RecommendFilter;
  excludeItems?: ReadonlySet<string>;
  purchased?: ReadonlySet<string>;
}

/** a check returning the item when it may be recommended */
export type Admissibility = (itemId: string) => Item | undefined;

export function admissibility(rules: HardRules): Admissibility {
  const { catalog, contextItemId, excludeItems, purchased } = rules;
  const listed = new Set(rules.filter?.exclude ?? []);
  const matches = compileFilter(rules.filter);
  return (itemId) => {
    if (itemId === contextItemId || listed.has(itemId) || excludeItems?.has(itemId) || purchased?.has(itemId)) return undefined;
    if (!catalog.isEligible(itemId)) return undefined;
    const item = catalog.get(itemId);
    if (!item || (matches && !matches(item))) return undefined;
    return item;
  };
}
