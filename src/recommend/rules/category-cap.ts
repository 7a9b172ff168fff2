/**
 * Diversity: at most `max` items of one top-level category in a list. Items without a category are
 * never capped.
 */
import { categoryKey, type Item } from '../../catalog/item.ts';

/** the key the cap counts an item under: its top-level category as filters compare it */
export const topCategoryOf = (item: Item): string | undefined => (item.categoryPath[0] === undefined ? undefined : categoryKey(item.categoryPath[0]));

/** the cap for a list of `count` items when one category may fill at most `share` of it */
export const capFor = (count: number, share: number): number => Math.max(1, Math.ceil(count * share));

export class CategoryCap {
  private readonly counts = new Map<string, number>();

  constructor(readonly max: number) {}

  allows(item: Item): boolean {
    const c = topCategoryOf(item);
    return c === undefined || (this.counts.get(c) ?? 0) < this.max;
  }

  /** whether the category with this key may take one more item */
  isOpen(key: string): boolean {
    return (this.counts.get(key) ?? 0) < this.max;
  }

  take(item: Item): void {
    const c = topCategoryOf(item);
    if (c !== undefined) this.counts.set(c, (this.counts.get(c) ?? 0) + 1);
  }
}
