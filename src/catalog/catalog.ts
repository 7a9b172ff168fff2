/** The in-memory catalog of one workspace: the serving copy of the `items` table. */
import type { CatalogListener, CatalogView } from '../recommend/types.ts';
import { itemFromProperties, type Item } from './item.ts';
import type { ItemRecord } from './item-record.ts';

export class Catalog implements CatalogView {
  private readonly items = new Map<string, Item>();
  /** provenance of event-made items (see item-record.ts) */
  private readonly provenance = new Map<string, Pick<ItemRecord, 'source' | 'setBy'>>();
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

  /** the stored form of an item, as the ingestion pipeline merges mentions into it */
  record(itemId: string): ItemRecord | undefined {
    const item = this.items.get(itemId);
    if (!item) return undefined;
    return { properties: item.properties, firstSeen: item.createdAt, ...this.provenance.get(itemId) };
  }

  upsert(itemId: string, properties: Record<string, unknown>, firstSeen: number, provenance?: Pick<ItemRecord, 'source' | 'setBy'>): Item {
    const item = itemFromProperties(itemId, properties, firstSeen);
    this.items.set(itemId, item);
    if (provenance?.source === 'events') this.provenance.set(itemId, { source: provenance.source, ...(provenance.setBy ? { setBy: provenance.setBy } : {}) });
    else this.provenance.delete(itemId);
    this.newestCache = undefined;
    for (const l of this.listeners) l.upsertItem(item);
    return item;
  }

  remove(itemId: string): boolean {
    if (!this.items.delete(itemId)) return false;
    this.provenance.delete(itemId);
    this.newestCache = undefined;
    for (const l of this.listeners) l.removeItem(itemId);
    return true;
  }

  values(): IterableIterator<Item> {
    return this.items.values();
  }
}
