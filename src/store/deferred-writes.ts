/**
 * Writes that need not be durable before a response: they are gathered in memory and committed
 * together every `flushMs` (or once `maxPending` accumulate), so a busy read path costs one
 * transaction and one fsync per interval instead of one per request. A crash loses at most the
 * last interval's writes, so only records that may be lost go through here (served recommendations
 * kept for attribution, never acknowledged events). Later writes of a key replace earlier ones.
 */
import type { Mutation, Store } from './types.ts';

export interface DeferredWritesOptions {
  flushMs: number;
  maxPending: number;
}

export const DEFAULT_DEFERRED_WRITES: DeferredWritesOptions = { flushMs: 100, maxPending: 2000 };

export class DeferredWrites {
  private pending = new Map<string, Mutation>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly ws: string,
    private readonly onError: (err: unknown) => void,
    private readonly o: DeferredWritesOptions = DEFAULT_DEFERRED_WRITES,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  add(mutations: readonly Mutation[]): void {
    if (mutations.length === 0) return;
    if (this.closed) {
      // after close nothing is buffered: the write goes straight to the store (or fails there)
      this.store.commit(this.ws, mutations).catch(this.onError);
      return;
    }
    for (const m of mutations) {
      const key = `${m.table}\u0000${m.key}`;
      // re-inserted so the Map's order stays the order of the last write of each key
      this.pending.delete(key);
      this.pending.set(key, m);
    }
    if (this.pending.size >= this.o.maxPending) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.o.flushMs);
      this.timer.unref();
    }
  }

  /** forgets buffered writes of these keys (an erasure deletes them: they must not come back) */
  drop(table: Mutation['table'], keys: Iterable<string>): void {
    for (const k of keys) this.pending.delete(`${table}\u0000${k}`);
  }

  /** commits everything buffered so far; resolves once it is durable */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return this.flushing;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    // one commit at a time, in order, so a later write of a key never lands before an earlier one
    this.flushing = this.flushing.then(() => this.store.commit(this.ws, batch)).catch(this.onError);
    return this.flushing;
  }

  /** flushes and stops buffering */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }
}
