/** The in-memory catalog of one workspace: the serving copy of the `items` table. */
import type { CatalogListener, CatalogView } from '../recommend/types.ts';
import { itemFromProperties, type Item } from './item.ts';

export class Catalog implements CatalogView {
  private readonly items = new Map<string, Item>();
  private readonly listeners: CatalogListener[] = [];
  private newestCache: Item[] | undefined;

  listen(l: CatalogListener): void {
    this.listeners.push(l);
    for (const item of this.items.values()) l.upsertItem(item);
  }

  get(itemId: string): Item | undefined {
    return this.items.get(itemId);
  }

  has(itemId: string): boolean {
    return this.items.has(itemId);
  }

  isEligible(itemId: string): boolean {
    return this.items.get(itemId)?.available === true;
  }

  size(): number {
    return this.items.size;
  }

  newest(): Iterable<Item> {
    this.newestCache ??= [...this.items.values()].sort((a, b) => b.createdAt - a.createdAt || (a.itemId < b.itemId ? -1 : 1));
    return this.newestCache;
  }

  upsert(itemId: string, properties: Record<string, unknown>, now: number): Item {
    const prev = this.items.get(itemId);
    const item = itemFromProperties(itemId, properties, prev?.createdAt ?? now);
    this.items.set(itemId, item);
    this.newestCache = undefined;
    for (const l of this.listeners) l.upsertItem(item);
    return item;
  }

  remove(itemId: string): boolean {
    if (!this.items.delete(itemId)) return false;
    this.newestCache = undefined;
    for (const l of this.listeners) l.removeItem(itemId);
    return true;
  }

  values(): IterableIterator<Item> {
    return this.items.values();
  }
}
