/** Store rewrites that remove some events, and what only they carried, from the store (erasure, retention). */
import type { EventSummary } from '../identity/timeline.ts';
import type { StoredEvent } from '../ingest/event.ts';
import type { Workspace } from '../engine/workspace.ts';
import type { Mutation, Store } from '../store/types.ts';

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
