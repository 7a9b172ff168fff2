/**
 * Findings of an adversarial review of recommendations, each through the real server: taking a
 * person back (opt-out, erasure) leaves everyone else's lists as a restart builds them, a category
 * filter that names no category keeps the category cap, a deleted anchor item is not named by its
 * id, and `available` must be a boolean.
 */
import { describe, expect, it } from 'vitest';
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
