/**
 * The content index after any sequence of upserts, changes and removals answers exactly like an index
 * built once from the final catalog (the O(1) posting removal keeps every slot right).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { itemFromProperties } from '../src/catalog/item.ts';
import { ContentModel } from '../src/recommend/candidates/content.ts';
import { ItemIds } from '../src/recommend/item-ids.ts';

const words = ['trail', 'road', 'boot', 'rain', 'camp', 'mug', 'pro', 'lite'];
const categories = ['Shoes > Running', 'Shoes > Hiking', 'Clothing', 'Kitchen'];
const brands = ['Acme', 'Peak', 'Tin'];

const props = fc.record({
  name: fc.array(fc.constantFrom(...words), { minLength: 1, maxLength: 3 }).map((w) => w.join(' ')),
  category: fc.constantFrom(...categories),
  brand: fc.constantFrom(...brands),
});
const op = fc.oneof(
  fc.record({ kind: fc.constant('upsert' as const), id: fc.integer({ min: 0, max: 11 }), props }),
  fc.record({ kind: fc.constant('remove' as const), id: fc.integer({ min: 0, max: 11 }) }),
);

describe('content index maintenance', () => {
  it('incremental upserts and removals equal a fresh build of the final catalog', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const live = new ContentModel(new ItemIds());
        const final = new Map<string, Record<string, unknown>>();
        for (const o of ops) {
          const id = `i${o.id}`;
          if (o.kind === 'upsert') {
            live.upsertItem(itemFromProperties(id, o.props, 0));
            final.set(id, o.props);
          } else {
            live.removeItem(id);
            final.delete(id);
          }
        }
        const fresh = new ContentModel(new ItemIds());
        for (const [id, p] of final) fresh.upsertItem(itemFromProperties(id, p, 0));
        expect(live.itemCount).toBe(fresh.itemCount);
        const byScore = (xs: Array<{ itemId: string; score: number }>) => xs.map((x) => `${x.itemId}:${x.score.toFixed(9)}`).sort();
        for (const id of final.keys()) expect(byScore(live.similarTo(id, 20))).toEqual(byScore(fresh.similarTo(id, 20)));
      }),
      { numRuns: 300 },
    );
  });
});
