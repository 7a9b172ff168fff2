/**
 * Validation checks the product ids an event mentions with `productIdsOf`, which reads them without
 * copying properties; the catalog upserts what `productMentions` returns. Both must name the same
 * products, in the same order, for any event: otherwise an id could be stored unchecked.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '../src/ingest/event.ts';
import { productIdsOf, productMentions } from '../src/ingest/interactions.ts';

const idValue = fc.oneof(fc.constantFrom(undefined, null, '', 'p1', 'SKU-7', 0, 42, Number.NaN, Infinity, true), fc.string({ maxLength: 6 }), fc.integer());
const product = fc.oneof(
  fc.record({ product_id: idValue, sku: idValue, price: fc.constantFrom(undefined, 10, '12.5', 'x'), name: fc.constantFrom(undefined, 'Trail Shoe') }, { requiredKeys: [] }),
  fc.constantFrom(null, 'p1', 7, [] as unknown[]),
);
const event = fc.record({
  type: fc.constantFrom('track', 'page', 'identify'),
  event: fc.constantFrom('Product Viewed', 'Product Added', 'Order Completed', 'Product List Viewed', 'Products Searched', 'Signed Up', 'Product Clicked'),
  properties: fc.oneof(fc.constant(undefined), product, fc.record({ products: fc.oneof(fc.array(product, { maxLength: 5 }), fc.constantFrom('p1', null)), product_id: idValue }, { requiredKeys: [] })),
});

describe('productIdsOf', () => {
  it('names exactly the products productMentions returns', () => {
    fc.assert(
      fc.property(event, (e) => {
        const stored = { messageId: 'm', timestamp: 0, receivedAt: 0, userId: 'u', ...e } as StoredEvent;
        expect(productIdsOf(stored)).toEqual(productMentions(stored).map((m) => m.itemId));
      }),
      { numRuns: 2000 },
    );
  });
});
