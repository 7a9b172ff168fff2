/** Store rewrites that remove some events, and what only they carried, from the store (erasure, retention). */
import type { EventSummary } from '../identity/timeline.ts';
import type { StoredEvent } from '../ingest/event.ts';
import type { Workspace } from '../engine/workspace.ts';
import type { Mutation, Store } from '../store/types.ts';
import { itemStoreKey } from '../catalog/item.ts';
import { mergeMention, type ItemRecord } from '../catalog/item-record.ts';
import { productMentions } from '../ingest/interactions.ts';

/** Rewrites of one workspace's segments run one at a time: two of them may touch the same segment. */
const queues = new WeakMap<Workspace, Promise<unknown>>();

export function exclusive<T>(ws: Workspace, task: () => Promise<T>): Promise<T> {
  const run = (queues.get(ws) ?? Promise.resolve()).then(task, task);
  queues.set(ws, run.catch(() => undefined));
  return run;
}

export async function segmentRewrites(store: Store, ws: string, events: readonly EventSummary[]): Promise<Mutation[]> {
  const drop = new Set(events.map((e) => e.messageId));
  const segments = [...new Set(events.map((e) => e.seg))].sort();
  const mutations: Mutation[] = [];
  for (const seg of segments) {
    const stored = (await store.get<StoredEvent[]>(ws, 'events', seg)) ?? [];
    const kept = stored.filter((e) => !drop.has(e.messageId));
    mutations.push(kept.length ? { table: 'events', key: seg, value: kept } : { table: 'events', key: seg });
  }
  return mutations;
}

/**
 * Catalog items made from events keep, per property, the value of the latest event that carried it
 * (catalog/item-record.ts). When events are removed (erasure, retention), every event-made item they
 * mentioned is rebuilt from the mentions that remain — or deleted when none remains — so no property
 * value, and no item, survives that only the removed events carried. Items written through the
 * catalog API are not made from events and are left alone.
 *
 * Returns the store writes (to commit with the segment rewrites) and what to apply to the in-memory
 * catalog once they are durable.
 */
export async function itemRewrites(store: Store, ws: Workspace, removed: readonly EventSummary[]): Promise<{ mutations: Mutation[]; apply: () => void }> {
  const gone = new Set(removed.map((e) => e.messageId));
  const affected = new Set<string>();
  for (const e of removed) for (const x of e.interactions) if (x.itemId !== undefined && ws.catalog.record(x.itemId)?.source === 'events') affected.add(x.itemId);
  if (affected.size === 0) return { mutations: [], apply: () => undefined };
  // the remaining events that mention an affected item, read back in full from their segments
  const remaining = ws.findEvents((e) => !gone.has(e.messageId) && e.interactions.some((x) => x.itemId !== undefined && affected.has(x.itemId)));
  const wanted = new Set(remaining.map((e) => e.messageId));
  const rebuilt = new Map<string, ItemRecord>();
  for (const seg of [...new Set(remaining.map((e) => e.seg))].sort()) {
    for (const e of (await store.get<StoredEvent[]>(ws.id, 'events', seg)) ?? []) {
      if (!wanted.has(e.messageId)) continue;
      for (const m of productMentions(e)) {
        if (!affected.has(m.itemId)) continue;
        // mergeMention keeps the latest value per property whatever the order, as ingestion does
        const merged = mergeMention(rebuilt.get(m.itemId), m.properties, e.timestamp, e.messageId);
        if (merged) rebuilt.set(m.itemId, merged);
      }
    }
  }
  const mutations: Mutation[] = [];
  for (const itemId of affected) {
    const rec = rebuilt.get(itemId);
    mutations.push(rec ? { table: 'items', key: itemStoreKey(itemId), value: { ...rec, itemId } } : { table: 'items', key: itemStoreKey(itemId) });
  }
  return {
    mutations,
    apply: () => {
      for (const itemId of affected) {
        // an API write that landed meanwhile owns the item now
        if (ws.catalog.record(itemId)?.source === 'api') continue;
        const rec = rebuilt.get(itemId);
        if (rec) ws.catalog.upsert(itemId, rec.properties, rec.firstSeen, rec);
        else ws.catalog.remove(itemId);
      }
    },
  };
}
