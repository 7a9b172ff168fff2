/**
 * Rebuilding catalog items made from events. Such an item keeps, per property, the value of the
 * latest counted event that carried it, and its first mention's time (item-record.ts); an event
 * counts while it is usable (consent: src/features/consent.ts) and held. When events stop counting
 * (an opt-out, a merge with someone opted out, erasure, retention) or start again (a late opt-in),
 * every event-made item they name is rebuilt from the counted mentions, or deleted when none is left:
 * no property value, and no item, survives that only uncounted events carried. Items written through
 * the catalog API are not made from events and are left alone.
 *
 * A rebuild holds its items (Ingestor.lockItems): batches merge mentions of them only once the
 * rebuilt records are in the catalog, so none builds on a record the rebuild replaces.
 *
 * Reading is newest first and stops early: the record being replaced names every property a counted
 * mention can carry (each was merged into it when it arrived) except those of the events that count
 * anew, which are read first; once every property has a value newer than the next mention, older
 * mentions cannot change it. A popular item is usually rebuilt from one segment, not thousands.
 */
import type { Workspace } from '../engine/workspace.ts';
import type { EventSummary } from '../identity/timeline.ts';
import type { StoredEvent } from '../ingest/event.ts';
import { productMentions } from '../ingest/interactions.ts';
import type { Mutation, Store } from '../store/types.ts';
import { itemStoreKey } from './item.ts';
import { mergeMention, newer, type ItemRecord } from './item-record.ts';

export interface ItemRebuild {
  /** the store writes: commit them (with whatever else the caller commits) */
  mutations: Mutation[];
  /** puts the rebuilt records in the catalog: call once the mutations are durable */
  apply(): void;
  /** lets batches merge mentions of the items again: call last, whatever happened */
  release(): void;
}

export interface RebuildOptions {
  /** messageIds to leave out although still applied (events being erased or expiring) */
  exclude?: ReadonlySet<string>;
  /** events that count anew: their properties may be ones the current record never held */
  counted?: readonly EventSummary[];
  /** read every counted mention (the current record may lack what they carry: after a crash) */
  exhaustive?: boolean;
}

export interface ItemLocker {
  lockItems(ws: Workspace, items: Iterable<string>): Promise<() => void>;
}

/** the item ids these events name */
export function itemsNamedBy(events: Iterable<EventSummary>): Set<string> {
  const out = new Set<string>();
  for (const e of events) for (const x of e.interactions) if (x.itemId !== undefined) out.add(x.itemId);
  return out;
}

const newestFirst = (a: EventSummary, b: EventSummary): number => b.t - a.t || (a.messageId < b.messageId ? 1 : a.messageId > b.messageId ? -1 : 0);

export async function rebuildItems(store: Store, locker: ItemLocker, ws: Workspace, items: Iterable<string>, o: RebuildOptions = {}): Promise<ItemRebuild> {
  const itemIds = [...items];
  const release = await locker.lockItems(ws, itemIds);
  try {
    const affected = new Set<string>();
    for (const itemId of itemIds) {
      const rec = ws.catalog.record(itemId);
      // no record: counted anew, events may make it again (an API-deleted item keeps a marker)
      if (rec === undefined || rec.source === 'events') affected.add(itemId);
    }
    const mentions = ws.countedMentions(affected, o.exclude);
    const anew = new Set((o.counted ?? []).map((e) => e.messageId));
    const segments = new Map<string, Promise<Map<string, StoredEvent>>>();
    const eventOf = async (e: EventSummary): Promise<StoredEvent | undefined> => {
      let seg = segments.get(e.seg);
      if (seg === undefined) {
        seg = store.get<StoredEvent[]>(ws.id, 'events', e.seg).then((events) => new Map((events ?? []).map((x) => [x.messageId, x])));
        segments.set(e.seg, seg);
      }
      return (await seg).get(e.messageId);
    };
    const rebuilt = new Map<string, ItemRecord | undefined>();
    for (const itemId of affected) {
      const base = ws.catalog.record(itemId);
      const held = (mentions.get(itemId) ?? []).sort(newestFirst);
      let rec: ItemRecord | undefined;
      /** events gone from their segments (an erasure rewrote them): they count for nothing */
      const gone = new Set<EventSummary>();
      const merge = async (e: EventSummary): Promise<void> => {
        const event = await eventOf(e);
        if (event === undefined) {
          gone.add(e);
          return;
        }
        for (const m of productMentions(event)) if (m.itemId === itemId) rec = mergeMention(rec, m.properties, e.t, e.messageId) ?? rec;
      };
      for (const e of held) if (anew.has(e.messageId)) await merge(e);
      const fields = Object.keys(base?.setBy ?? {});
      for (const e of held) {
        if (!o.exhaustive && rec !== undefined && settledBefore(rec, fields, e)) break;
        if (!anew.has(e.messageId)) await merge(e);
      }
      if (rec !== undefined) for (const e of held) if (!gone.has(e)) rec.firstSeen = Math.min(rec.firstSeen, e.t);
      if (rec !== undefined || base !== undefined) rebuilt.set(itemId, rec);
    }
    const mutations: Mutation[] = [];
    for (const [itemId, rec] of rebuilt) mutations.push(rec ? { table: 'items', key: itemStoreKey(itemId), value: { ...rec, itemId } } : { table: 'items', key: itemStoreKey(itemId) });
    return {
      mutations,
      apply: () => {
        for (const [itemId, rec] of rebuilt) {
          if (rec) ws.catalog.upsert(itemId, rec.properties, rec.firstSeen, rec);
          else ws.catalog.remove(itemId);
        }
      },
      release,
    };
  } catch (err) {
    release();
    throw err;
  }
}

/** whether no mention at or before `next` can change the record: every property holds a newer value */
function settledBefore(rec: ItemRecord, fields: readonly string[], next: EventSummary): boolean {
  const stamp: [number, string] = [next.t, next.messageId];
  for (const f of fields) if (!newer(rec.setBy?.[f] ?? [-Infinity, ''], stamp)) return false;
  for (const f in rec.setBy) if (!newer(rec.setBy[f]!, stamp)) return false;
  return true;
}

/** Rebuilds, commits and applies in one go (a change of consent; see rebuildItems). */
export async function rebuildAndApply(store: Store, locker: ItemLocker, ws: Workspace, itemIds: Iterable<string>, o: RebuildOptions = {}): Promise<void> {
  const r = await rebuildItems(store, locker, ws, itemIds, o);
  try {
    if (r.mutations.length > 0) await store.commit(ws.id, r.mutations);
    r.apply();
  } finally {
    r.release();
  }
}
