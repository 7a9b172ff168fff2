/**
 * Validation checks the product ids an event mentions with `productIdsOf`, which reads them without
 * copying properties; the catalog upserts what `productMentions` returns. Both must name the same
 * products, in the same order, for any event: otherwise an id could be stored unchecked. The
 * mentions carry the product fields the catalog keeps, as a plain reading of the event gives them.
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
        expect(productIdsOf(stored).map((p) => p.itemId)).toEqual(productMentions(stored).map((m) => m.itemId));
      }),
      { numRuns: 2000 },
    );
  });

  it('productMentions gives each named product with the catalog fields it carries, and no others', () => {
    const FIELDS = ['name', 'category', 'brand', 'price', 'url', 'image_url'];
    const idOf = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined);
    const sources = (e: Record<string, any>): unknown[] => {
      const listed = e.event === 'Order Completed' || e.event === 'Product List Viewed';
      const named = e.type === 'track' && ['Product Viewed', 'Product Added', 'Order Completed', 'Product List Viewed', 'Products Searched', 'Product Clicked'].includes(e.event);
      if (!named) return [];
      if (!listed) return [e.properties ?? {}];
      return Array.isArray(e.properties?.products) ? e.properties.products : [];
    };
    const withFields = fc.record({ product_id: idValue, name: fc.constantFrom(undefined, null, 'Lamp'), category: fc.constantFrom(undefined, 'Home'), brand: fc.constantFrom(undefined, 'Acme'), url: fc.constantFrom(undefined, 'https://x'), image_url: fc.constantFrom(undefined, null), colour: fc.constantFrom(undefined, 'red') }, { requiredKeys: [] });
    const described = fc.record({
      type: fc.constantFrom('track', 'page'),
      event: fc.constantFrom('Product Viewed', 'Order Completed', 'Product List Viewed', 'Signed Up'),
      properties: fc.oneof(fc.constant(undefined), withFields, fc.record({ products: fc.array(fc.oneof(withFields, fc.constantFrom(null, 'p1')), { maxLength: 4 }) })),
    });
    fc.assert(
      fc.property(fc.oneof(event, described), (e) => {
        const stored = { messageId: 'm', timestamp: 0, receivedAt: 0, userId: 'u', ...e } as StoredEvent;
        const expected = sources(e as Record<string, any>).flatMap((p) => {
          if (typeof p !== 'object' || p === null || Array.isArray(p)) return [];
          const src = p as Record<string, unknown>;
          const itemId = idOf(src.product_id) ?? idOf(src.sku);
          if (!itemId) return [];
          return [{ itemId, properties: Object.fromEntries(FIELDS.filter((f) => src[f] !== undefined && src[f] !== null).map((f) => [f, src[f]])) }];
        });
        expect(productMentions(stored)).toEqual(expected);
      }),
      { numRuns: 3000 },
    );
  });
});
