/**
 * Bulk import's parsing thread hands events over encoded (src/ingest/batch.ts): MessagePack segments
 * plus a few columns of ledger facts. Storing an encoded batch must leave exactly what storing the
 * same events as objects leaves, whatever repeats the batches hold: the same answers per event, the
 * same stored segments, the same catalog.
 */
import { join } from 'node:path';
import fc from 'fast-check';
import { unpack } from 'msgpackr';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { DEFAULT_WORKSPACE } from '../src/engine/engine.ts';
import { openEngine } from '../src/engine/open.ts';
import { EncodedBatch, EventList, MAX_SEGMENT_EVENTS, encodeBatch, encodeBatches, mentionsOf } from '../src/ingest/batch.ts';
import type { StoredEvent } from '../src/ingest/event.ts';
import { productMentions } from '../src/ingest/interactions.ts';
import { validateEvents, type IngestResult } from '../src/ingest/pipeline.ts';
import { LmdbStore } from '../src/store/lmdb/lmdb-store.ts';
import { Encoded } from '../src/store/types.ts';
import { removeDir, tempDir } from './helpers/server.ts';

const T0 = Date.parse('2026-11-01T00:00:00Z');
const product = fc.record(
  {
    product_id: fc.constantFrom('p1', 'p2', 'p3', 'SKU-7', 'ключ'),
    name: fc.constantFrom('Trail Shoe', 'Lamp', 'Mug 😀'),
    // numbers JSON cannot carry as they are (1e400 in an NDJSON line parses to Infinity)
    price: fc.constantFrom(9.5, 12, 0, Infinity, -Infinity),
    category: fc.constantFrom('Home > Lighting', 'Shoes'),
  },
  { requiredKeys: ['product_id'] },
);
/** valid Segment events; messageIds from a small pool, so repeats occur within and across batches */
const rawEvent = fc.oneof(
  fc.record({
    type: fc.constant('track'),
    event: fc.constantFrom('Product Viewed', 'Product Added', 'Product Clicked', 'Signed Up'),
    properties: product,
  }),
  fc.record({ type: fc.constant('track'), event: fc.constant('Order Completed'), properties: fc.record({ order_id: fc.constant('o1'), products: fc.array(product, { maxLength: 3 }) }) }),
  fc.record({ type: fc.constant('identify'), traits: fc.record({ plan: fc.constantFrom('pro', 'free') }, { requiredKeys: [] }) }),
  fc.record({ type: fc.constant('page'), name: fc.constantFrom('Home', 'Cart') }),
  fc.record({ type: fc.constant('alias'), previousId: fc.constantFrom('anon-1', 'anon-2') }),
).chain((e) =>
  fc.record({
    ids: e.type === 'alias' ? fc.record({ userId: fc.constantFrom('u1', 'u2') }) : fc.oneof(fc.record({ userId: fc.constantFrom('u1', 'u2') }), fc.record({ anonymousId: fc.constantFrom('anon-1', 'anon-2', 'anon-3') }), fc.record({ userId: fc.constantFrom('u1', 'u3'), anonymousId: fc.constantFrom('anon-1', 'anon-3') })),
    messageId: fc.integer({ min: 0, max: 60 }).map((n) => `m-${n}`),
    minutes: fc.integer({ min: 0, max: 600 }),
  }).map(({ ids, messageId, minutes }) => ({ ...e, ...ids, messageId, timestamp: new Date(T0 + minutes * 60_000).toISOString() })),
);

const valid = (raw: unknown[]): StoredEvent[] => validateEvents({ events: raw, receivedAt: T0 + 86_400_000 });

describe('an encoded batch', () => {
  it('answers for every event what the events themselves answer, and its segments decode to them', () => {
    fc.assert(
      fc.property(fc.array(rawEvent, { maxLength: 40 }), fc.integer({ min: 1, max: 16 }), (raw, segmentEvents) => {
        const events = valid(raw);
        const list = new EventList(events);
        const batch = new EncodedBatch(encodeBatch(events));
        expect(batch.length).toBe(list.length);
        for (let i = 0; i < events.length; i++) {
          expect(batch.messageId(i)).toBe(list.messageId(i));
          expect(batch.messageIdKey(i)).toBe(list.messageIdKey(i));
          expect(batch.ids(i)).toEqual(list.ids(i));
          expect(batch.type(i)).toBe(list.type(i));
          expect(batch.timestamp(i)).toBe(list.timestamp(i));
          expect(mentionsOf(list, i)).toEqual(productMentions(events[i]!));
          expect(mentionsOf(batch, i)).toEqual(mentionsOf(list, i));
          expect(batch.event()).toBeUndefined();
        }
        // a whole encoded segment is handed over as it is; any other selection as the events
        for (let from = 0; from < events.length; from += MAX_SEGMENT_EVENTS) {
          const all = Array.from({ length: Math.min(MAX_SEGMENT_EVENTS, events.length - from) }, (_, k) => from + k);
          const whole = batch.segment(all);
          expect(whole).toBeInstanceOf(Encoded);
          expect(unpack((whole as Encoded).bytes)).toEqual(list.segment(all));
        }
        const picked = events.map((_, i) => i).filter((i) => i % segmentEvents !== 0);
        if (picked.length > 0) expect(batch.segment(picked)).toEqual(list.segment(picked));
      }),
      { numRuns: 300 },
    );
  });

  it('spans several segments: each decodes on its own', () => {
    const raw = Array.from({ length: MAX_SEGMENT_EVENTS * 2 + 7 }, (_, i) => ({ type: 'track', event: 'Product Viewed', userId: `u${i % 9}`, messageId: `big-${i}`, timestamp: new Date(T0 + i * 1000).toISOString(), properties: { product_id: `p${i % 50}` } }));
    const events = valid(raw);
    const batch = new EncodedBatch(encodeBatch(events));
    for (let k = 0; k < 3; k++) {
      const indices = events.map((_, i) => i).slice(k * MAX_SEGMENT_EVENTS, (k + 1) * MAX_SEGMENT_EVENTS);
      expect(unpack((batch.segment(indices) as Encoded).bytes)).toEqual(indices.map((i) => events[i]));
    }
    // the first event of the second block a repeat: the rest of that block is stored as events
    const without = events.map((_, i) => i).slice(MAX_SEGMENT_EVENTS + 1, 2 * MAX_SEGMENT_EVENTS);
    expect(batch.segment(without)).toEqual(without.map((i) => events[i]));
  });
});

describe('encodeBatches', () => {
  it('cuts a chunk whose input outgrows the budget into batches that together hold every event once', () => {
    const raw = Array.from({ length: 1300 }, (_, i) => ({ type: 'track', event: 'Product Viewed', userId: `u${i % 7}`, messageId: `cut-${i}`, timestamp: new Date(T0 + i * 1000).toISOString(), properties: { product_id: `p${i % 40}`, name: `Item ${i % 40}` } }));
    const events = valid(raw);
    const one = encodeBatches(events, 1000);
    expect(one).toHaveLength(1);
    const cut = encodeBatches(events, 1000, 300);
    expect(cut).toHaveLength(4);
    const batches = cut.map((d) => new EncodedBatch(d));
    expect(batches.flatMap((b) => Array.from({ length: b.length }, (_, i) => b.messageId(i)))).toEqual(events.map((e) => e.messageId));
    expect(batches.flatMap((b) => Array.from({ length: b.length }, (_, i) => mentionsOf(b, i)))).toEqual(events.map((e) => mentionsOf(new EventList([e]), 0)));
    // no event at all still makes one (empty) batch: the chunk's counts reach the main thread
    expect(encodeBatches([], 0)).toHaveLength(1);
  });
});

describe('storing encoded batches (bulk import) and storing events (HTTP) leave the same store', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach(removeDir));

  /**
   * stores the batches into a fresh data dir: encoded, into a ledger-only workspace (which enters
   * messageIds in its ledger as it takes them), or as objects into a serving one (which registers
   * them in flight until committed), as HTTP requests are; what each call answered and what the
   * store holds
   */
  async function load(batches: unknown[][], encoded: boolean): Promise<{ results: IngestResult[]; events: Array<[string, StoredEvent[]]>; items: Array<[string, unknown]> }> {
    const dir = tempDir('kairos-batch-');
    dirs.push(dir);
    const config = loadConfig({ KAIROS_DATA_DIR: dir, KAIROS_WRITE_KEY: 'wk_batch', LOG_LEVEL: 'silent' });
    const opened = await openEngine(config, pino({ level: 'silent' }), [], encoded ? 'ledger' : true);
    const results: IngestResult[] = [];
    try {
      const { engine } = opened;
      const ws = engine.workspaces.get(DEFAULT_WORKSPACE)!;
      // two batches at a time, as the import commits them: a repeat of a batch still committing waits for it
      for (let b = 0; b < batches.length; b += 2) {
        const pair = batches.slice(b, b + 2).map((raw) => {
          const events = validateEvents({ events: raw, receivedAt: T0 + 86_400_000 }, (e) => engine.ingestor.minimise(e));
          return encoded ? engine.ingestor.ingestEncoded(ws, encodeBatch(events)) : engine.ingestor.ingestValid(ws, events);
        });
        results.push(...(await Promise.all(pair)));
      }
    } finally {
      await opened.close();
    }
    const store = new LmdbStore(join(dir, 'store'));
    try {
      const events: Array<[string, StoredEvent[]]> = [];
      for await (const entry of store.scan<StoredEvent[]>(DEFAULT_WORKSPACE, 'events')) events.push(entry);
      const items: Array<[string, unknown]> = [];
      for await (const entry of store.scan(DEFAULT_WORKSPACE, 'items')) items.push(entry);
      return { results, events, items };
    } finally {
      await store.close();
    }
  }

  it('whatever repeats the batches hold, within and across them', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(rawEvent, { maxLength: 30 }), { minLength: 1, maxLength: 5 }), async (batches) => {
        const asEvents = await load(batches, false);
        const asEncoded = await load(batches, true);
        expect(asEncoded.results).toEqual(asEvents.results);
        expect(asEncoded.events).toEqual(asEvents.events);
        expect(asEncoded.items).toEqual(asEvents.items);
        // the pool of messageIds is small: every run stores each of them at most once
        const ids = asEncoded.events.flatMap(([, seg]) => seg.map((e) => e.messageId));
        expect(new Set(ids).size).toBe(ids.length);
      }),
      { numRuns: 25 },
    );
  });
  it('with batches of several blocks and repeats in the first block only', async () => {
    const raw = Array.from({ length: 1100 }, (_, i) => ({ type: 'track', event: 'Product Viewed', userId: `u${i % 13}`, messageId: `blk-${i}`, timestamp: new Date(T0 + i * 1000).toISOString(), properties: { product_id: `p${i % 30}` } }));
    // the second batch repeats three events of the first block of the first, then brings new ones
    const batches = [raw.slice(0, 600), [raw[5], raw[7], raw[9], ...raw.slice(600)]];
    const asEvents = await load(batches, false);
    const asEncoded = await load(batches, true);
    expect(asEncoded.results).toEqual(asEvents.results);
    expect(asEncoded.results.map((r) => r.duplicates)).toEqual([0, 3]);
    expect(asEncoded.events).toEqual(asEvents.events);
    expect(asEncoded.items).toEqual(asEvents.items);
  });
});
