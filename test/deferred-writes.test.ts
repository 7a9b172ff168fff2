/**
 * Batched, non-durable-per-request writes (served impressions): what is added reaches the store in
 * one commit per flush with the last value of each key, an erasure can take buffered writes back
 * before they land, and closing makes everything durable.
 */
import { describe, expect, it } from 'vitest';
import { DeferredWrites } from '../src/store/deferred-writes.ts';
import { MemoryStore } from '../src/store/memory/memory-store.ts';
import type { Mutation } from '../src/store/types.ts';

/** the real in-memory store, counting its commits */
class CountingStore extends MemoryStore {
  commits: Array<readonly Mutation[]> = [];
  override async commit(ws: string, mutations: readonly Mutation[]): Promise<void> {
    this.commits.push(mutations);
    return super.commit(ws, mutations);
  }
}

const put = (key: string, value: unknown): Mutation => ({ table: 'impressions', key, value });
const never = { flushMs: 3_600_000, maxPending: 1_000_000 };
const failOnError = (err: unknown): never => {
  throw err;
};

describe('deferred writes', () => {
  it('a flush commits everything buffered once, with the last write of each key', async () => {
    const store = new CountingStore();
    const w = new DeferredWrites(store, 'ws', failOnError, never);
    w.add([put('a', 1), put('b', 1)]);
    w.add([put('a', 2), { table: 'impressions', key: 'b' }]);
    expect(await store.get('ws', 'impressions', 'a')).toBeUndefined();
    expect(w.size).toBe(2);
    await w.flush();
    expect(store.commits).toHaveLength(1);
    expect(await store.get('ws', 'impressions', 'a')).toBe(2);
    expect(await store.get('ws', 'impressions', 'b')).toBeUndefined();
    await w.flush();
    expect(store.commits, 'nothing buffered: no empty commit').toHaveLength(1);
  });

  it('dropped keys never reach the store', async () => {
    const store = new CountingStore();
    const w = new DeferredWrites(store, 'ws', failOnError, never);
    w.add([put('erased', 'secret'), put('kept', 'x')]);
    w.drop('impressions', ['erased']);
    await w.flush();
    expect(await store.get('ws', 'impressions', 'erased')).toBeUndefined();
    expect(await store.get('ws', 'impressions', 'kept')).toBe('x');
  });

  it('flushes on its own: after the interval, or as soon as enough writes wait', async () => {
    const timed = new CountingStore();
    const t = new DeferredWrites(timed, 'ws', failOnError, { flushMs: 5, maxPending: 1_000_000 });
    t.add([put('a', 1)]);
    await expect.poll(() => timed.get('ws', 'impressions', 'a')).toBe(1);

    const sized = new CountingStore();
    const s = new DeferredWrites(sized, 'ws', failOnError, { flushMs: 3_600_000, maxPending: 3 });
    s.add([put('a', 1), put('b', 1)]);
    expect(sized.commits).toHaveLength(0);
    s.add([put('c', 1)]);
    await expect.poll(() => sized.get('ws', 'impressions', 'c')).toBe(1);
    expect(sized.commits).toHaveLength(1);
  });

  it('close makes the buffer durable; later writes go straight to the store', async () => {
    const store = new CountingStore();
    const w = new DeferredWrites(store, 'ws', failOnError, never);
    w.add([put('a', 1)]);
    await w.close();
    expect(await store.get('ws', 'impressions', 'a')).toBe(1);
    w.add([put('b', 1)]);
    await expect.poll(() => store.get('ws', 'impressions', 'b')).toBe(1);
    expect(w.size).toBe(0);
  });

  it('a failed commit is reported and later flushes still run, in order', async () => {
    const errors: unknown[] = [];
    const store = new CountingStore();
    const w = new DeferredWrites(store, 'ws', (e) => errors.push(e), never);
    // a value the store cannot hold fails that commit as a whole
    w.add([put('bad', () => 1), put('with-bad', 1)]);
    await w.flush();
    w.add([put('ok', 1)]);
    await w.flush();
    expect(errors).toHaveLength(1);
    expect(await store.get('ws', 'impressions', 'with-bad')).toBeUndefined();
    expect(await store.get('ws', 'impressions', 'ok')).toBe(1);
  });
});
