/** The request's `filter` (CONTRACT §6), compiled once per request into an item predicate. */
import type { Item } from '../../catalog/item.ts';
import { categoryKey, parseCategoryPath } from '../../catalog/item.ts';

export interface RecommendFilter {
  /** category path prefix: "Shoes" matches "Shoes > Running" (case-insensitive, whole levels) */
  category?: string;
  exclude?: string[];
  /** equality on item.properties (`available` on whether the item is available) */
  properties?: Record<string, string | number | boolean>;
  price?: { min?: number; max?: number };
}


/** the predicate of everything but `exclude` (an id list, handled with the other exclusions); undefined when nothing to check */
export function compileFilter(filter: RecommendFilter | undefined): ((item: Item) => boolean) | undefined {
  if (!filter) return undefined;
  const checks: Array<(item: Item) => boolean> = [];
  const path = parseCategoryPath(filter.category).map(categoryKey);
  if (path.length > 0) {
    checks.push((item) => item.categoryPath.length >= path.length && path.every((level, i) => categoryKey(item.categoryPath[i]!) === level));
  }
  const props = Object.entries(filter.properties ?? {});
  // `available` is compared with what the catalog makes of it (an item is available unless it says
  // `false`), the rest with the properties as given
  if (props.length > 0) checks.push((item) => props.every(([k, v]) => (k === 'available' ? item.available === v : item.properties[k] === v)));
  const min = filter.price?.min;
  const max = filter.price?.max;
  if (min !== undefined || max !== undefined) {
    checks.push((item) => item.price !== undefined && (min === undefined || item.price >= min) && (max === undefined || item.price <= max));
  }
  if (checks.length === 0) return undefined;
  return (item) => checks.every((check) => check(item));
}

/** the top-level category a filter restricts to, if any */
export const filterTopCategory = (filter: RecommendFilter | undefined): string | undefined => parseCategoryPath(filter?.category)[0];
