/** Reads the events a stopped server's data dir holds, straight from the store (not through serving state). */
import { join } from 'node:path';
import type { StoredEvent } from '../../src/ingest/event.ts';
import { LmdbStore } from '../../src/store/lmdb/lmdb-store.ts';

export async function storedEvents(dataDir: string, ws = 'default'): Promise<StoredEvent[]> {
  const store = new LmdbStore(join(dataDir, 'store'));
  try {
    const out: StoredEvent[] = [];
    for await (const [, events] of store.scan<StoredEvent[]>(ws, 'events')) out.push(...events);
    return out;
  } finally {
    await store.close();
  }
}

/** how many times each messageId is stored */
export function messageIdCounts(events: readonly StoredEvent[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of events) counts.set(e.messageId, (counts.get(e.messageId) ?? 0) + 1);
  return counts;
}
