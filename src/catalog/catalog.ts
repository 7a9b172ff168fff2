/** The in-memory catalog of one workspace: the serving copy of the `items` table. */
import type { CatalogListener, CatalogView } from '../recommend/types.ts';
import { itemFromProperties, type Item } from './item.ts';
import type { ItemRecord } from './item-record.ts';

export class Catalog implements CatalogView {
  private readonly items = new Map<string, Item>();
  /**
   * the stored form of every item (see item-record.ts), built once per upsert: ingestion reads the
   * record of every item an event mentions, and most mentions change nothing
   */
  private readonly records = new Map<string, Readonly<ItemRecord>>();
  private readonly listeners: CatalogListener[] = [];
  /**
   * every item, newest first (createdAt descending, then itemId), kept in order as items change:
   * catalogs change all the time (prices, stock), and re-sorting the whole catalog after each change
   * would make the next request pay for it
   */
  private newestOrder: Item[] | undefined;

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
    this.newestOrder ??= [...this.items.values()].sort(newerFirst);
    return this.newestOrder;
  }

  /** where an item with this creation time and id sits (or would sit) in the newest-first order */
  private newestIndex(order: readonly Item[], createdAt: number, itemId: string): number {
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = order[mid]!;
      if (m.createdAt > createdAt || (m.createdAt === createdAt && m.itemId < itemId)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private newestRemove(item: Item): void {
    const order = this.newestOrder;
    if (!order) return;
    const at = this.newestIndex(order, item.createdAt, item.itemId);
    if (order[at]?.itemId === item.itemId) order.splice(at, 1);
  }

  private newestInsert(item: Item): void {
    const order = this.newestOrder;
    if (!order) return;
    const at = this.newestIndex(order, item.createdAt, item.itemId);
    if (order[at]?.itemId === item.itemId) order[at] = item;
    else order.splice(at, 0, item);
  }

  /** the stored form of an item, as the ingestion pipeline merges mentions into it (shared: never mutate it) */
  record(itemId: string): Readonly<ItemRecord> | undefined {
    return this.records.get(itemId);
  }

  upsert(itemId: string, properties: Record<string, unknown>, firstSeen: number, provenance?: Pick<ItemRecord, 'source' | 'setBy'>): Item {
    const item = itemFromProperties(itemId, properties, firstSeen);
    const previous = this.items.get(itemId);
    this.items.set(itemId, item);
    if (previous && previous.createdAt !== item.createdAt) this.newestRemove(previous);
    this.newestInsert(item);
    // field by field (no spread)
    const record: ItemRecord = { properties: item.properties, firstSeen: item.createdAt };
    if (provenance?.source === 'events') {
      record.source = 'events';
      if (provenance.setBy) record.setBy = provenance.setBy;
    } else if (provenance?.source === 'api') record.source = 'api';
    this.records.set(itemId, record);
    for (const l of this.listeners) l.upsertItem(item);
    return item;
  }

  remove(itemId: string): boolean {
    const item = this.items.get(itemId);
    if (!item) return false;
    this.items.delete(itemId);
    this.records.delete(itemId);
    this.newestRemove(item);
    for (const l of this.listeners) l.removeItem(itemId);
    return true;
  }

  /**
   * An item deleted through the API: gone from serving, its marker kept (ItemRecord.deleted) so that
   * mentions in events do not make it again. remove() is for items that simply stop existing (their
   * events were erased or expired): events may make those again.
   */
  markDeleted(itemId: string, at: number): void {
    this.remove(itemId);
    this.records.set(itemId, { properties: {}, firstSeen: at, source: 'api', deleted: true });
  }

  values(): IterableIterator<Item> {
    return this.items.values();
  }
}

const newerFirst = (a: Item, b: Item): number => b.createdAt - a.createdAt || (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0);
