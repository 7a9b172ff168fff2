/**
 * Catalog items made from product mentions do not depend on how events are grouped into requests:
 * mentions of one item within a batch (several events, or several products of one order) merge as
 * they would one request at a time, each field taking the value of the newest event that set it,
 * whether the batch arrives as objects (HTTP) or encoded (bulk import).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { Workspace } from '../src/engine/workspace.ts';
import { encodeBatch } from '../src/ingest/batch.ts';
import type { StoredEvent } from '../src/ingest/event.ts';
import { Ingestor, validateEvents } from '../src/ingest/pipeline.ts';
import { MemoryStore } from '../src/store/memory/memory-store.ts';

const T0 = Date.parse('2026-11-01T00:00:00Z');
const product = fc.record(
  {
    product_id: fc.constantFrom('p1', 'p2', 'p3'),
    name: fc.constantFrom('Trail Shoe', 'Lamp', 'Mug'),
    price: fc.constantFrom(5, 9.5, 12),
    brand: fc.constantFrom('Acme', 'Zeta'),
    category: fc.constantFrom('Home > Lighting', 'Shoes'),
  },
  { requiredKeys: ['product_id'] },
);
const rawEvent = fc
  .oneof(
    fc.record({ event: fc.constantFrom('Product Viewed', 'Product Added'), properties: product }),
    fc.record({ event: fc.constant('Order Completed'), properties: fc.record({ order_id: fc.constant('o1'), products: fc.array(product, { minLength: 1, maxLength: 3 }) }) }),
  )
  .chain((e) => fc.record({ minutes: fc.integer({ min: 0, max: 50 }) }).map(({ minutes }) => ({ ...e, minutes })));

function fresh(): { ws: Workspace; ingestor: Ingestor } {
  return { ws: new Workspace('t', loadConfig({}).tuning), ingestor: new Ingestor(new MemoryStore(), { isSuppressed: () => false }) };
}

const catalogOf = (ws: Workspace) => Object.fromEntries(['p1', 'p2', 'p3'].map((id) => [id, ws.catalog.record(id)]));

describe('items made from mentions', () => {
  it('are the same whether events come one per request or grouped, as objects or encoded', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(rawEvent, { minLength: 1, maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 10 }), async (raw, cuts) => {
        const events: StoredEvent[] = validateEvents({
          events: raw.map(({ minutes, ...e }, i) => ({ ...e, type: 'track', userId: 'u1', messageId: `m${i}`, timestamp: new Date(T0 + minutes * 60_000).toISOString() })),
          receivedAt: T0 + 86_400_000,
        });
        const one = fresh();
        for (const e of events) await one.ingestor.ingestValid(one.ws, [e]);
        const grouped = fresh();
        const encoded = fresh();
        encoded.ws.ledgerOnly = true;
        for (let from = 0, c = 0; from < events.length; c++) {
          const part = events.slice(from, from + cuts[c % cuts.length]!);
          await grouped.ingestor.ingestValid(grouped.ws, part);
          await encoded.ingestor.ingestEncoded(encoded.ws, encodeBatch(part));
          from += part.length;
        }
        expect(catalogOf(grouped.ws)).toEqual(catalogOf(one.ws));
        expect(catalogOf(encoded.ws)).toEqual(catalogOf(one.ws));
      }),
      { numRuns: 200 },
    );
  });
});
