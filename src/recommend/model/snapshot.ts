/**
 * Packs the sessions a training uses into one row of distinct items of interest per person (CSR).
 * Session records are immutable (a changed session is a new record), so the list of records taken
 * at the start is a consistent snapshot; it is packed a slice at a time, yielding to the event loop
 * between slices, so requests are served while a snapshot of millions of interactions is built.
 */
import { showsInterest } from '../query-items.ts';
import type { SessionRecord } from '../types.ts';
import type { InteractionSnapshot } from './ease-train.ts';

/** sessions grouped, or interactions packed, between two pauses */
const SLICE = 20_000;

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * `personOf` maps a session key to its person; sessions it does not map are rows of their own.
 * `pause` yields to the event loop between slices (and may throw to cancel).
 */
export async function packSnapshot(records: readonly SessionRecord[], personOf: ReadonlyMap<string, string> | undefined, pause: () => Promise<void> = yieldToEventLoop): Promise<InteractionSnapshot> {
  const byPerson = new Map<string, SessionRecord[]>();
  for (let k = 0; k < records.length; k++) {
    const r = records[k]!;
    const person = personOf?.get(r.key);
    const key = person === undefined ? `\u0000${r.key}` : person;
    const list = byPerson.get(key);
    if (list) list.push(r);
    else byPerson.set(key, [r]);
    if (k % SLICE === SLICE - 1) await pause();
  }
  const handles = new Map<string, number>();
  const itemIds: string[] = [];
  /** row that last took each item handle: distinct items per row without a set per row */
  let lastRow = new Int32Array(1024).fill(-1);
  const offsets = new Int32Array(byPerson.size + 1);
  let items = new Int32Array(1024);
  let size = 0;
  let row = 0;
  let sinceYield = 0;
  for (const sessions of byPerson.values()) {
    for (const s of sessions) {
      for (let k = 0; k < s.size; k++) {
        const it = s.items[k]!;
        if (!showsInterest(it)) continue;
        let h = handles.get(it.itemId);
        if (h === undefined) {
          h = itemIds.length;
          handles.set(it.itemId, h);
          itemIds.push(it.itemId);
          if (h >= lastRow.length) {
            const grown = new Int32Array(lastRow.length * 2).fill(-1);
            grown.set(lastRow);
            lastRow = grown;
          }
        }
        if (lastRow[h] === row) continue;
        lastRow[h] = row;
        if (size === items.length) {
          const grown = new Int32Array(items.length * 2);
          grown.set(items);
          items = grown;
        }
        items[size++] = h;
      }
      sinceYield += s.size;
    }
    offsets[++row] = size;
    if (sinceYield >= SLICE) {
      sinceYield = 0;
      await pause();
    }
  }
  // an exact-length copy: its buffer is transferred to the worker whole
  return { itemIds, offsets, items: items.slice(0, size) };
}
