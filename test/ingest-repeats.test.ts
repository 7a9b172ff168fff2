/**
 * A repeat of an event whose commit is still under way is not stored again, and is acknowledged only
 * once that commit is: when the commit succeeds, with it; when it fails, not at all, and the event can
 * then be sent again and stored. The store is the in-memory one, its commits held at a gate so that
 * the second request surely arrives while the first is committing.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { Workspace } from '../src/engine/workspace.ts';
import { Ingestor, validateEvents } from '../src/ingest/pipeline.ts';
import { MemoryStore } from '../src/store/memory/memory-store.ts';
import type { Mutation } from '../src/store/types.ts';

/** a MemoryStore whose commits wait until the test lets each one through, or fail it */
class GatedStore extends MemoryStore {
  readonly waiting: Array<{ pass: () => void; fail: (e: Error) => void }> = [];
  override async commit(ws: string, mutations: readonly Mutation[]): Promise<void> {
    await new Promise<void>((pass, fail) => this.waiting.push({ pass, fail }));
    return super.commit(ws, mutations);
  }
}

const T0 = Date.parse('2026-11-01T00:00:00Z');
const events = (...ids: string[]) =>
  validateEvents({ events: ids.map((messageId, i) => ({ type: 'track', event: 'Product Viewed', userId: 'u1', messageId, properties: { product_id: `p-${messageId}` }, timestamp: new Date(T0 + i).toISOString() })), receivedAt: T0 + 60_000 });

const turns = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

function setUp(): { store: GatedStore; ws: Workspace; ingestor: Ingestor } {
  const store = new GatedStore();
  const ws = new Workspace('t', loadConfig({}).tuning);
  const ingestor = new Ingestor(store, { isSuppressed: () => false });
  return { store, ws, ingestor };
}

describe('repeats of events being committed', () => {
  it('are acknowledged with the commit that stores them, not before, and stored once', async () => {
    const { store, ws, ingestor } = setUp();
    const first = ingestor.ingestValid(ws, events('a', 'b', 'a'));
    let secondDone = false;
    const second = ingestor.ingestValid(ws, events('b', 'c')).then((r) => ((secondDone = true), r));
    await turns();
    expect(store.waiting).toHaveLength(2);
    // the second request's own event (c) is committed; b still waits for the first commit
    store.waiting[1]!.pass();
    await turns();
    expect(secondDone).toBe(false);
    store.waiting[0]!.pass();
    expect(await first).toMatchObject({ stored: 2, duplicates: 1 });
    expect(await second).toMatchObject({ stored: 1, duplicates: 1 });
    for (const id of ['a', 'b', 'c']) expect(ws.hasMessage(id)).toBe(true);
  });

  it('fail with a commit that fails, and are stored when sent again', async () => {
    const { store, ws, ingestor } = setUp();
    const first = ingestor.ingestValid(ws, events('a', 'b'));
    const second = ingestor.ingestValid(ws, events('b', 'c'));
    await turns();
    store.waiting[1]!.pass();
    store.waiting[0]!.fail(new Error('disk full'));
    await expect(first).rejects.toThrow('disk full');
    await expect(second).rejects.toThrow('disk full');
    expect(ws.hasMessage('a')).toBe(false);
    expect(ws.hasMessage('b')).toBe(false);
    const again = ingestor.ingestValid(ws, events('a', 'b'));
    await turns();
    store.waiting[2]!.pass();
    expect(await again).toMatchObject({ stored: 2, duplicates: 0 });
    expect(ws.hasMessage('b')).toBe(true);
  });

  it('leave no unhandled rejection behind when a commit fails and nothing waited for it', async () => {
    const { store, ws, ingestor } = setUp();
    const unhandled: unknown[] = [];
    const note = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', note);
    try {
      const alone = ingestor.ingestValid(ws, events('x', 'y'));
      await turns();
      store.waiting[0]!.fail(new Error('disk full'));
      await expect(alone).rejects.toThrow('disk full');
      // rejections are reported once the microtask queue drains: give it a few turns
      await turns(10);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', note);
    }
  });
});
