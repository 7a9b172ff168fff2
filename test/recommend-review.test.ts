/**
 * Findings of an adversarial review of recommendations, each through the real server: taking a
 * person back (opt-out, erasure) leaves everyone else's lists as a restart builds them, a category
 * filter that names no category keeps the category cap, a deleted anchor item is not named by its
 * id, and `available` must be a boolean. A second review: served impressions are bounded, an
 * opted-out person's answers keep and read nothing under their ids, reason texts stay short and
 * readable, an item-only answer speaks of the item, `available: true` filters, hex is no price.
 */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { LmdbStore } from '../src/store/lmdb/lmdb-store.ts';
import { api, testResources, type TestServer } from './helpers/server.ts';
import { ingest } from './helpers/privacy.ts';

const resources = testResources({ prefix: 'kairos-recs-review-' });
const iso = (t: number): string => new Date(t).toISOString();
const YEAR = 365 * 86_400_000;

type Listed = { itemId: string; reasons: Array<{ type: string; text: string }> };
const similarOf = async (s: TestServer, itemId: string): Promise<Array<[string, string[]]>> =>
  ((await api(s.url, 'GET', `/v1/items/${itemId}/similar?count=2`)).json.items as Listed[]).map((i) => [i.itemId, i.reasons.map((r) => r.type)]);

describe('taking a person back leaves the others\' lists as a restart builds them', () => {
  for (const takeBack of ['opt-out', 'erasure'] as const) {
    it(`after an ${takeBack} of someone whose events are years newer than everyone else's`, async () => {
      let s = await resources.server(resources.dataDir());
      await api(s.url, 'POST', '/v1/items', { items: ['A', 'B', 'C'].map((itemId) => ({ itemId, properties: { name: `Item ${itemId}` } })) });
      const old = Date.now() - 3 * YEAR;
      const view = (userId: string, itemId: string, t: number) => ({ type: 'track', userId, event: 'Product Viewed', properties: { product_id: itemId }, timestamp: iso(t) });
      // three years ago: p1 viewed A then B, p2 viewed A then C (the decay clock is anchored there)
      await ingest(s.url, '/v1/batch', { batch: [view('p1', 'A', old), view('p1', 'B', old + 60_000), view('p2', 'A', old + 1000), view('p2', 'C', old + 61_000)] });
      const before = await similarOf(s, 'A');
      expect(before.map(([id]) => id).sort()).toEqual(['B', 'C']);
      // now: p3 views A then B (pair weights are rebased by 2^-78 against these), then is taken back
      const now = Date.now();
      await ingest(s.url, '/v1/batch', { batch: [view('p3', 'A', now - 120_000), view('p3', 'B', now - 60_000)] });
      if (takeBack === 'opt-out') await ingest(s.url, '/v1/identify', { userId: 'p3', context: { consent: { categoryPreferences: { Personalization: false } } } });
      else expect((await api(s.url, 'DELETE', '/v1/profiles/p3')).status).toBe(200);
      const live = await similarOf(s, 'A');
      // p1's pair (A, B) survived the take-back: B is still viewed together with A, as before p3
      expect(live).toEqual(before);
      s = await resources.restart(s);
      expect(await similarOf(s, 'A')).toEqual(live);
    });
  }
});

describe('rules and reasons', () => {
  it('a category filter that names no category ("", " > ") keeps the category cap', async () => {
    const s = await resources.server(resources.dataDir());
    const items = [...['s0', 's1', 's2', 's3', 's4', 's5'].map((itemId) => ({ itemId, properties: { name: itemId, category: 'Shoes' } })), ...['h0', 'h1', 'h2', 'h3'].map((itemId) => ({ itemId, properties: { name: itemId, category: 'Hats' } }))];
    await api(s.url, 'POST', '/v1/items', { items });
    for (const category of [undefined, '', ' ', ' > ', '>']) {
      const r = await api(s.url, 'POST', '/v1/recommendations', { count: 4, ...(category !== undefined ? { filter: { category } } : {}) });
      expect(r.status).toBe(200);
      const ids = (r.json.items as Listed[]).map((i) => i.itemId);
      expect(ids, JSON.stringify(category)).toHaveLength(4);
      expect(ids.filter((id) => id.startsWith('h')).length, `at most half from Hats with filter ${JSON.stringify(category)}`).toBeLessThanOrEqual(2);
      expect(ids.filter((id) => id.startsWith('s')).length, `at most half from Shoes with filter ${JSON.stringify(category)}`).toBeLessThanOrEqual(2);
    }
  });

  it('a deleted anchor item is not named by its id in a reason', async () => {
    const s = await resources.server(resources.dataDir());
    await api(s.url, 'POST', '/v1/items', { items: [{ itemId: 'sku-123', properties: { name: 'Trail Shoe' } }, { itemId: 'sku-456', properties: { name: 'Sock' } }] });
    const batch: unknown[] = [];
    for (let p = 0; p < 5; p++) for (const item of ['sku-123', 'sku-456']) batch.push({ type: 'track', userId: `v${p}`, event: 'Product Viewed', properties: { product_id: item } });
    batch.push({ type: 'track', userId: 'me', event: 'Product Viewed', properties: { product_id: 'sku-123' } });
    await ingest(s.url, '/v1/batch', { batch });
    const ask = async () => ((await api(s.url, 'POST', '/v1/recommendations', { userId: 'me', count: 3, context: { placement: 'product_page' } })).json.items as Listed[]).find((i) => i.itemId === 'sku-456')!;
    expect((await ask()).reasons.map((r) => r.text)).toContain('Because you viewed Trail Shoe');
    expect((await api(s.url, 'DELETE', '/v1/items/sku-123')).status).toBe(200);
    const texts = (await ask()).reasons.map((r) => r.text);
    expect(texts.length).toBeGreaterThan(0);
    expect(texts.join(' ')).not.toContain('sku-123');
  });

  it('an item\'s `available` must be a boolean', async () => {
    const s = await resources.server(resources.dataDir());
    for (const available of ['false', 0, null, 'no']) {
      const r = await api(s.url, 'PUT', '/v1/items/x2', { properties: { name: 'X', available } });
      expect(r.status, JSON.stringify(available)).toBe(400);
      expect(r.json.error.details.map((d: { field: string }) => d.field)).toContain('/properties/available');
      const bulk = await api(s.url, 'POST', '/v1/items', { items: [{ itemId: 'x3', properties: { available } }] });
      expect(bulk.status).toBe(400);
    }
    expect((await api(s.url, 'PUT', '/v1/items/x2', { properties: { name: 'X', available: false } })).json.available).toBe(false);
  });
});

describe('second review: memory, consent, texts, filters', () => {
  it('holds at most KAIROS_IMPRESSION_ITEMS shown items of impressions, in memory and in the store, the newest kept', async () => {
    const dataDir = resources.dataDir();
    const s = await resources.server(dataDir, { KAIROS_IMPRESSION_ITEMS: '1000' });
    await api(s.url, 'POST', '/v1/items', { items: Array.from({ length: 30 }, (_, i) => ({ itemId: `m${i}`, properties: { name: `Movie ${i}`, category: i % 2 ? 'Drama' : 'Comedy' } })) });
    const served: string[] = [];
    for (let i = 0; i < 150; i++) {
      const r = await api(s.url, 'POST', '/v1/recommendations', { count: 10, ...(i % 3 ? { anonymousId: `visitor-${i}` } : {}) });
      expect(r.json.items).toHaveLength(10);
      served.push(r.json.recommendationId);
    }
    await resources.stop(s);
    const store = new LmdbStore(join(dataDir, 'store'));
    const held: string[] = [];
    try {
      for await (const [key] of store.scan('default', 'impressions')) held.push(key);
    } finally {
      await store.close();
    }
    expect(held.sort()).toEqual(served.slice(-100).sort());
  });

  it('an opted-out person\'s answers do not depend on what was shown to them before, and keep nothing under their ids', async () => {
    const s = await resources.server(resources.dataDir());
    await api(s.url, 'POST', '/v1/items', { items: Array.from({ length: 40 }, (_, i) => ({ itemId: `o${i}`, properties: { name: `Item ${i}`, category: `C${i % 4}` } })) });
    const optOut = { context: { consent: { categoryPreferences: { Personalization: false } } } };
    await ingest(s.url, '/v1/identify', { userId: 'quiet', ...optOut });
    const lists: string[][] = [];
    for (let i = 0; i < 3; i++) lists.push(((await api(s.url, 'POST', '/v1/recommendations', { userId: 'quiet', count: 5 })).json.items as Listed[]).map((x) => x.itemId));
    expect(lists[1]).toEqual(lists[0]);
    expect(lists[2]).toEqual(lists[0]);
    // the same for a consenting person whose request withholds consent inline
    await ingest(s.url, '/v1/identify', { userId: 'inline' });
    const inline = { userId: 'inline', count: 5, events: [{ event: 'Consent Updated', ...optOut }] };
    const first = ((await api(s.url, 'POST', '/v1/recommendations', inline)).json.items as Listed[]).map((x) => x.itemId);
    expect(((await api(s.url, 'POST', '/v1/recommendations', inline)).json.items as Listed[]).map((x) => x.itemId)).toEqual(first);
    for (const id of ['quiet', 'inline']) {
      const exported = (await api(s.url, 'GET', `/v1/profiles/${id}/export`)).json;
      expect(JSON.stringify(exported)).not.toContain('"impression"');
    }
  });

  it('reason texts quote names short and readable; an answer about an item alone speaks of the item', async () => {
    const s = await resources.server(resources.dataDir());
    const long = `Deluxe ${'very '.repeat(20_000)}long name`;
    await api(s.url, 'POST', '/v1/items', { items: [
      { itemId: 'big', properties: { name: long, category: 'Big' } },
      { itemId: 'blank', properties: { name: '   ', category: 'Big' } },
      { itemId: 'plain', properties: { name: 'Plain\n\tThing', category: 'Big' } },
    ] });
    const batch: unknown[] = [];
    for (let p = 0; p < 4; p++) for (const item of ['big', 'blank', 'plain']) batch.push({ type: 'track', userId: `w${p}`, event: 'Product Viewed', properties: { product_id: item } });
    await ingest(s.url, '/v1/batch', { batch });
    const similar = await api(s.url, 'GET', '/v1/items/big/similar?count=2');
    expect(similar.text.length).toBeLessThan(2000);
    const texts = (similar.json.items as Listed[]).flatMap((i) => i.reasons.map((r) => r.text));
    expect(texts).toContain('Often viewed with Deluxe very very very very very very very very very very very very very very…');
    expect(texts.every((t) => !/you/i.test(t)), texts.join(' | ')).toBe(true);
    const fromBlank = ((await api(s.url, 'GET', '/v1/items/blank/similar?count=2')).json.items as Listed[]).flatMap((i) => i.reasons.map((r) => r.text));
    expect(fromBlank).toContain('Often viewed with blank');
    // a person's own session still speaks to them
    await ingest(s.url, '/v1/track', { userId: 'me', event: 'Product Viewed', properties: { product_id: 'plain' } });
    const mine = ((await api(s.url, 'POST', '/v1/recommendations', { userId: 'me', count: 2, context: { placement: 'product_page' } })).json.items as Listed[]).flatMap((i) => i.reasons.map((r) => r.text));
    expect(mine).toContain('Because you viewed Plain Thing');
  });

  it('`filter.properties.available: true` keeps available items; a price is a decimal number, not hex', async () => {
    const s = await resources.server(resources.dataDir());
    await api(s.url, 'POST', '/v1/items', { items: [
      { itemId: 'on', properties: { name: 'On', price: '10' } },
      { itemId: 'off', properties: { name: 'Off', available: false, price: 10 } },
      { itemId: 'hex', properties: { name: 'Hex', price: '0x0A' } },
    ] });
    const ask = async (filter: unknown) => ((await api(s.url, 'POST', '/v1/recommendations', { count: 3, filter })).json.items as Listed[]).map((i) => i.itemId).sort();
    expect(await ask({ properties: { available: true } })).toEqual(['hex', 'on']);
    expect(await ask({ price: { min: 10, max: 10 } })).toEqual(['on']);
    expect((await api(s.url, 'GET', '/v1/items/hex')).json.price).toBeUndefined();
  });
  it('inline events are checked as ingestion checks them, with pointers into the request', async () => {
    const s = await resources.server(resources.dataDir());
    await api(s.url, 'POST', '/v1/items', { items: [{ itemId: 'in1', properties: { name: 'In 1' } }, { itemId: 'in2', properties: { name: 'In 2' } }] });
    const ask = (e: Record<string, unknown>) => api(s.url, 'POST', '/v1/recommendations', { anonymousId: 'inline', count: 1, events: [{ event: 'Product Viewed', properties: { product_id: 'in1' } }, { event: 'Product Viewed', ...e }] });
    const refused: Array<[Record<string, unknown>, number, string]> = [
      [{ properties: { product_id: 'in1' }, timestamp: 'garbage' }, 400, '/events/1/timestamp'],
      [{ properties: { product_id: 'in1' }, timestamp: '2020-02-30T00:00:00Z' }, 400, '/events/1/timestamp'],
      [{ properties: { product_id: 'x'.repeat(600) } }, 400, '/events/1/properties/product_id'],
      [{ properties: { product_id: '\ud800' } }, 400, '/events/1/properties/product_id'],
      [{ properties: { product_id: 'in1', blob: 'x'.repeat(40_000) } }, 413, '/events/1'],
    ];
    for (const [e, status, field] of refused) {
      const r = await ask(e);
      expect(r.status, JSON.stringify(e).slice(0, 80)).toBe(status);
      expect(r.json.error.details.map((d: { field: string }) => d.field)).toContain(field);
    }
    expect((await ask({ properties: { product_id: 'in2' }, timestamp: new Date().toISOString() })).status).toBe(200);
  });
});
