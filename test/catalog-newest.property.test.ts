/**
 * The catalog keeps its newest-first order up to date as items are upserted and removed (catalogs
 * change all the time; re-sorting per change would make the next request pay for it): after any
 * sequence of changes it is exactly the order a full sort gives.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Catalog } from '../src/catalog/catalog.ts';

const T0 = Date.UTC(2025, 0, 1);

describe('catalog newest-first order', () => {
  it('equals a full sort after any sequence of upserts and removals', () => {
    const change = fc.oneof(
      fc.record({ op: fc.constant('upsert' as const), id: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), day: fc.integer({ min: 0, max: 3 }), price: fc.integer({ min: 1, max: 9 }), created: fc.boolean() }),
      fc.record({ op: fc.constant('remove' as const), id: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f') }),
    );
    fc.assert(
      fc.property(fc.array(change, { maxLength: 60 }), fc.integer({ min: 0, max: 60 }), (changes, readAt) => {
        const catalog = new Catalog();
        changes.forEach((c, i) => {
          // reading in between makes the catalog keep the order from then on
          if (i === readAt) [...catalog.newest()];
          if (c.op === 'remove') catalog.remove(c.id);
          // equal creation days make ties, broken by id; `created_at` moves an existing item in the order
          else catalog.upsert(c.id, { name: c.id, price: c.price, ...(c.created ? { created_at: new Date(T0 + c.day * 86_400_000).toISOString() } : {}) }, T0 + c.day * 86_400_000);
        });
        const expected = [...catalog.values()].sort((x, y) => y.createdAt - x.createdAt || (x.itemId < y.itemId ? -1 : 1));
        expect([...catalog.newest()].map((i) => [i.itemId, i.createdAt, i.price])).toEqual(expected.map((i) => [i.itemId, i.createdAt, i.price]));
      }),
      { numRuns: 300 },
    );
  });
});
