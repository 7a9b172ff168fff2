/** Conformance scenarios that may run in a process of their own (see store-scenario.ts). */
import type { Store } from '../../src/store/types.ts';

export const scenarios = {
  /** a consumer that awaits between entries lets a whole compaction pass in the middle of its scan */
  async scanAcrossCompaction(store: Store): Promise<number[]> {
    await store.commit('w', Array.from({ length: 3000 }, (_, i) => ({ table: 'items', key: `s-${String(i).padStart(5, '0')}`, value: i })));
    const seen: number[] = [];
    for await (const [, value] of store.scan<number>('w', 'items', 's-')) {
      seen.push(value);
      if (seen.length === 10) await store.compact();
    }
    return seen;
  },
} satisfies Record<string, (store: Store) => Promise<unknown>>;

export type ScenarioName = keyof typeof scenarios;
