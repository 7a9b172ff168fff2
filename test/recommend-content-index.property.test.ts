/**
 * The content index after any sequence of upserts, changes and removals answers exactly like an index
 * built once from the final catalog (the O(1) posting removal keeps every slot right).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { itemFromProperties } from '../src/catalog/item.ts';
import { ContentModel } from '../src/recommend/candidates/content.ts';
import { featuresOf } from '../src/recommend/candidates/content-features.ts';
import { ItemIds } from '../src/recommend/item-ids.ts';
import { query } from './recommend-fixtures.ts';

const words = ['trail', 'road', 'boot', 'rain', 'camp', 'mug', 'pro', 'lite'];
const categories = ['Shoes > Running', 'Shoes > Hiking', 'Clothing', 'Kitchen'];
const brands = ['Acme', 'Peak', 'Tin'];

const props = fc.record({
  name: fc.array(fc.constantFrom(...words), { minLength: 1, maxLength: 3 }).map((w) => w.join(' ')),
  category: fc.constantFrom(...categories),
  brand: fc.constantFrom(...brands),
});
/** an item events named without describing it: nothing to compare, so it is no document of the index */
const featureless = fc.record({ price: fc.constantFrom(5, 9) });
const op = fc.oneof(
  fc.record({ kind: fc.constant('upsert' as const), id: fc.integer({ min: 0, max: 11 }), props: fc.oneof(props, props, featureless) }),
  fc.record({ kind: fc.constant('remove' as const), id: fc.integer({ min: 0, max: 11 }) }),
  fc.record({ kind: fc.constant('query' as const), id: fc.integer({ min: 0, max: 11 }) }),
);

const byScore = (xs: Array<{ itemId: string; score: number }>) => xs.map((x) => `${x.itemId}:${x.score.toFixed(9)}`).sort();

function built(catalog: ReadonlyMap<string, Record<string, unknown>>): ContentModel {
  const fresh = new ContentModel(new ItemIds());
  for (const [id, p] of catalog) fresh.upsertItem(itemFromProperties(id, p, 0));
  return fresh;
}

describe('content index maintenance', () => {
  it('incremental upserts and removals equal a fresh build of the catalog, at every step (cached similar lists never stale)', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const live = new ContentModel(new ItemIds());
        const final = new Map<string, Record<string, unknown>>();
        for (const o of ops) {
          const id = `i${o.id}`;
          if (o.kind === 'upsert') {
            live.upsertItem(itemFromProperties(id, o.props, 0));
            final.set(id, o.props);
          } else if (o.kind === 'remove') {
            live.removeItem(id);
            final.delete(id);
          } else {
            // asked between changes, so that a later change finds the answer cached
            expect(byScore(live.similarTo(id, 20))).toEqual(byScore(built(final).similarTo(id, 20)));
          }
        }
        const fresh = built(final);
        expect(live.itemCount).toBe(fresh.itemCount);
        for (const id of final.keys()) expect(byScore(live.similarTo(id, 20))).toEqual(byScore(fresh.similarTo(id, 20)));
      }),
      { numRuns: 300 },
    );
  });
});

describe('content similarity under a postings budget', () => {
  it('every item it finds scores the exact TF-IDF cosine with the anchor, whichever features were read or only checked', () => {
    const tags = ['waterproof', 'vegan', 'sale'];
    const item = fc.record({
      name: fc.array(fc.constantFrom(...words), { minLength: 1, maxLength: 3 }).map((w) => w.join(' ')),
      category: fc.constantFrom(...categories),
      brand: fc.constantFrom(...brands),
      tags: fc.subarray(tags),
    });
    fc.assert(
      fc.property(fc.array(fc.oneof(item, item, item, featureless), { minLength: 2, maxLength: 40 }), fc.constantFrom(1, 2, 3, 5, 8, 1000), (catalog, postingBudget) => {
        const model = new ContentModel(new ItemIds(), { postingBudget });
        const features = catalog.map((p, i) => {
          const it = itemFromProperties(`i${i}`, p, 0);
          model.upsertItem(it);
          return new Set(featuresOf(it));
        });
        const df = new Map<string, number>();
        for (const fs of features) for (const f of fs) df.set(f, (df.get(f) ?? 0) + 1);
        // the documents are the items with something to compare
        const documents = features.filter((fs) => fs.size > 0).length;
        const w2 = (f: string) => (Math.log(1 + documents / df.get(f)!)) ** 2;
        const norm = (fs: Set<string>) => Math.sqrt([...fs].reduce((s, f) => s + w2(f), 0));
        const cosine = (a: Set<string>, b: Set<string>) => [...a].filter((f) => b.has(f)).reduce((s, f) => s + w2(f), 0) / (norm(a) * norm(b));
        for (let a = 0; a < catalog.length; a++) {
          const found = model.similarTo(`i${a}`, 1000);
          for (const { itemId, score } of found) expect(score).toBeCloseTo(cosine(features[a]!, features[Number(itemId.slice(1))]!), 12);
          // with a budget that reads every posting, every item sharing a feature is found
          if (postingBudget === 1000) expect(found.length).toBe(features.filter((fs, b) => b !== a && [...fs].some((f) => features[a]!.has(f))).length);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('content similarity cache', () => {
  it('answers a request the same whatever earlier requests of other sizes left in the cache', () => {
    const catalog = fc.array(props, { minLength: 2, maxLength: 40 });
    const sizes = fc.array(fc.record({ id: fc.nat(39), other: fc.nat(39), limit: fc.integer({ min: 1, max: 150 }) }), { minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(catalog, sizes, fc.integer({ min: 1, max: 60 }), (items, asks, cachedNeighbours) => {
        const warm = new ContentModel(new ItemIds(), { cachedNeighbours });
        for (const [i, p] of items.entries()) warm.upsertItem(itemFromProperties(`i${i}`, p, 0));
        for (const { id, other, limit } of asks) {
          const itemId = `i${id % items.length}`;
          const otherId = `i${other % items.length}`;
          const cold = new ContentModel(new ItemIds(), { cachedNeighbours });
          for (const [i, p] of items.entries()) cold.upsertItem(itemFromProperties(`i${i}`, p, 0));
          expect(warm.similarTo(itemId, limit)).toEqual(cold.similarTo(itemId, limit));
          // one anchor (the context item), then two (recent items), whose lists are merged: there, how
          // much of each list is read decides which items make the cut
          for (const q of [{ ...query(), contextItemId: itemId }, query({ session: [otherId, itemId] })]) {
            expect(warm.generate(q, limit)).toEqual(cold.generate(q, limit));
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});
