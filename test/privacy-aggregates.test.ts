/**
 * Differentially private aggregates through the real server: who may ask, what the rows are (the
 * public partitions only, with each person's contribution bounded), what never counts (opted-out
 * and erased people), and the privacy budget, which holds across a restart.
 */
import { describe, expect, it } from 'vitest';
import { ADMIN_KEY, api, testResources, type TestServer } from './helpers/server.ts';
import { ingest } from './helpers/privacy.ts';

const resources = testResources({ prefix: 'kairos-dp-' });

const DAY = 86_400_000;
// three whole days, ending before now (no event is dated after its receipt)
const START = Math.floor(Date.now() / DAY) * DAY - 4 * DAY;
const iso = (t: number): string => new Date(t).toISOString();
const range = { from: iso(START), to: iso(START + 3 * DAY) };
/** with ε this large (e^(−ε/Δ) below 1e-28 for Δ ≤ 15) the noise is 0: the rows are the bounded counts */
const EXACT = 1000;

const aggregate = (s: TestServer, body: Record<string, unknown>, key = ADMIN_KEY) => api(s.url, 'POST', '/v1/aggregates', { ...range, ...body }, key);
const rowsOf = (r: { json: { rows: Array<{ key: string; value: number }> } }): Record<string, number> => Object.fromEntries(r.json.rows.map((row) => [row.key, row.value]));

const purchase = (userId: string, itemId: string, t: number) => ({ type: 'track', userId, event: 'Order Completed', properties: { order_id: `o-${userId}-${t}`, products: [{ product_id: itemId, price: 10, quantity: 1 }] }, timestamp: iso(t) });
const view = (userId: string, itemId: string, t: number) => ({ type: 'track', userId, event: 'Product Viewed', properties: { product_id: itemId }, timestamp: iso(t) });

/** a shop: items a–f in two categories (through the API), and people buying on three days */
async function shop(config: unknown = { privacy: { aggregates: { epsilonPerDay: 100_000 } } }): Promise<TestServer> {
  const s = await resources.server(resources.dataDir(config));
  const items = ['a', 'b', 'c', 'd', 'e', 'f'].map((itemId) => ({ itemId, properties: { name: `Item ${itemId}`, category: itemId < 'd' ? 'Shoes > Trail' : 'Bags' } }));
  expect((await api(s.url, 'POST', '/v1/items', { items })).status).toBe(200);
  const batch: unknown[] = [];
  // day 0: ten people buy a; day 1: five people buy b; day 2: nobody
  for (let p = 0; p < 10; p++) batch.push(purchase(`p${p}`, 'a', START + 3_600_000 + p));
  for (let p = 0; p < 5; p++) batch.push(purchase(`p${p}`, 'b', START + DAY + 3_600_000 + p));
  // a heavy buyer: fifty purchases of c on day 1 count 3 (maxPerPartition)
  for (let k = 0; k < 50; k++) batch.push(purchase('heavy', 'c', START + DAY + 7_200_000 + k));
  // a wide viewer: views of all six items count in 5 partitions (maxPartitionsPerPerson) only
  for (const [k, item] of ['a', 'b', 'c', 'd', 'e', 'f'].entries()) batch.push(view('wide', item, START + 2 * DAY + 3_600_000 + k));
  // an item only events name: it exists because someone sent it, so it is never a partition
  batch.push(purchase('p0', 'secret-item', START + 3_600_000 + 99));
  expect((await ingest(s.url, '/v1/batch', { batch })).status).toBe(200);
  return s;
}

describe('POST /v1/aggregates', () => {
  it('releases the bounded counts of the public partitions, with the noise it used and the budget left', async () => {
    const s = await shop();
    const days = await aggregate(s, { metric: 'people', groupBy: 'day', epsilon: EXACT });
    expect(days.status, days.text).toBe(200);
    expect(days.json).toMatchObject({ metric: 'people', groupBy: 'day', epsilon: EXACT, mechanism: 'discrete_laplace', sensitivity: 3, partitions: 3, interval95: 0 });
    // p0–p9 on day 0, p0–p4 and heavy on day 1, wide on day 2
    expect(days.json.rows).toEqual([
      { key: iso(START).slice(0, 10), value: 10 },
      { key: iso(START + DAY).slice(0, 10), value: 6 },
      { key: iso(START + 2 * DAY).slice(0, 10), value: 1 },
    ]);
    expect(days.json.budget).toEqual({ epsilonPerDay: 100_000, spent: EXACT, remaining: 100_000 - EXACT });

    const purchases = await aggregate(s, { metric: 'interactions', kind: 'purchase', groupBy: 'item', epsilon: EXACT });
    expect(purchases.status, purchases.text).toBe(200);
    // heavy's fifty purchases of c count maxPerPartition = 3; the event-made item is no partition
    expect(rowsOf(purchases)).toEqual({ a: 10, b: 5, c: 3, d: 0, e: 0, f: 0 });
    expect(purchases.json.sensitivity).toBe(5 * 3);
    expect(purchases.text).not.toContain('secret-item');

    // wide viewed six items: counted in five of them (ties by key: a–e)
    const views = await aggregate(s, { metric: 'interactions', kind: 'view', groupBy: 'item', epsilon: EXACT, limit: 6 });
    expect(rowsOf(views)).toEqual({ a: 1, b: 1, c: 1, d: 1, e: 1, f: 0 });
    const narrower = await aggregate(s, { metric: 'interactions', kind: 'view', groupBy: 'item', epsilon: EXACT, maxPartitionsPerPerson: 2, limit: 2 });
    expect(narrower.json.rows).toEqual([{ key: 'a', value: 1 }, { key: 'b', value: 1 }]);
    expect(narrower.json.sensitivity).toBe(2 * 3);

    const categories = await aggregate(s, { metric: 'people', groupBy: 'category', epsilon: EXACT });
    // p0–p9 and heavy bought shoes; wide viewed both categories
    expect(rowsOf(categories)).toEqual({ Shoes: 12, Bags: 1 });
    const total = await aggregate(s, { metric: 'people', groupBy: 'none', epsilon: EXACT });
    expect(total.json).toMatchObject({ rows: [{ key: 'all', value: 12 }], sensitivity: 1 });
  });

  it('never counts people who opted out, nor events sent while opted out, nor erased people', async () => {
    const s = await shop();
    const total = async () => (await aggregate(s, { metric: 'people', groupBy: 'none', epsilon: EXACT })).json.rows[0].value as number;
    expect(await total()).toBe(12);
    // opted out, bought d, opted back in after the range: the purchase was sent while opted out
    const consent = (personalization: boolean, t: number) => ({ type: 'identify', userId: 'sandwich', context: { consent: { categoryPreferences: { Personalization: personalization } } }, timestamp: iso(t) });
    const sandwich = [consent(false, START + 2 * DAY), purchase('sandwich', 'd', START + 2 * DAY + 3_600_000), consent(true, START + 3 * DAY + 3_600_000)];
    expect((await ingest(s.url, '/v1/batch', { batch: sandwich })).status).toBe(200);
    expect(await total()).toBe(12);
    expect(rowsOf(await aggregate(s, { metric: 'interactions', kind: 'purchase', groupBy: 'item', epsilon: EXACT }))).toMatchObject({ d: 0 });
    await ingest(s.url, '/v1/identify', { userId: 'p9', context: { consent: { categoryPreferences: { Personalization: false } } } });
    expect(await total()).toBe(11);
    expect((await api(s.url, 'DELETE', '/v1/profiles/heavy')).status).toBe(200);
    expect(await total()).toBe(10);
    const purchases = await aggregate(s, { metric: 'interactions', kind: 'purchase', groupBy: 'item', epsilon: EXACT });
    expect(rowsOf(purchases)).toMatchObject({ a: 9, c: 0 });
  });

  it('one person cannot move everyone\'s interactions with an item made from events to another category', async () => {
    const s = await shop();
    const batch = Array.from({ length: 8 }, (_, k) => ({ type: 'track', userId: `hat-${k}`, event: 'Product Viewed', properties: { product_id: 'evt-1', category: 'Bags' }, timestamp: iso(START + 3_600_000 + k) }));
    expect((await ingest(s.url, '/v1/batch', { batch })).status).toBe(200);
    const categories = async () => rowsOf(await aggregate(s, { metric: 'people', groupBy: 'category', epsilon: EXACT }));
    const before = await categories();
    // a later event re-labels the item: the shop never wrote it, so it never counted anywhere
    await ingest(s.url, '/v1/track', { userId: 'relabeller', event: 'Product Viewed', properties: { product_id: 'evt-1', category: 'Shoes' }, timestamp: iso(START + 7_200_000) });
    expect(await categories()).toEqual(before);
    expect(before).toEqual({ Shoes: 12, Bags: 1 });
  });

  it('a key with only the aggregates scope may ask for aggregates and for nothing else', async () => {
    const s = await shop();
    const key = await api(s.url, 'POST', '/v1/keys', { scopes: ['aggregates'], name: 'analyst' });
    expect(key.status).toBe(201);
    expect(key.json.scopes).toEqual(['aggregates']);
    expect((await aggregate(s, { metric: 'people', groupBy: 'day', epsilon: 1 }, key.json.key)).status).toBe(200);
    expect((await api(s.url, 'GET', '/v1/profiles/p0', undefined, key.json.key)).json.error.code).toBe('KAIROS_ERR_FORBIDDEN');
    expect((await api(s.url, 'POST', '/v1/recommendations', { userId: 'p0' }, key.json.key)).status).toBe(403);
    const read = await api(s.url, 'POST', '/v1/keys', { scopes: ['read'] });
    expect((await aggregate(s, { metric: 'people', groupBy: 'day', epsilon: 1 }, read.json.key)).status).toBe(200);
    const write = await api(s.url, 'POST', '/v1/keys', { scopes: ['write'] });
    expect((await aggregate(s, { metric: 'people', groupBy: 'day', epsilon: 1 }, write.json.key)).status).toBe(403);
  });

  it('spends a budget per 24 hours that a restart does not give back, and says when enough of it returns', async () => {
    let s = await shop({ privacy: { aggregates: { epsilonPerDay: 1 } } });
    for (let i = 0; i < 2; i++) expect((await aggregate(s, { metric: 'people', groupBy: 'day', epsilon: 0.4 })).json.budget).toMatchObject({ spent: 0.4 * (i + 1) });
    const refused = await fetch(`${s.url}/v1/aggregates`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ ...range, metric: 'people', groupBy: 'day', epsilon: 0.4 }) });
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('KAIROS_ERR_PRIVACY_BUDGET');
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(23 * 3600);
    // spends are kept per minute and leave the window at the end of their minute
    expect(retryAfter).toBeLessThanOrEqual(24 * 3600 + 60);
    // what is left still buys a smaller release
    expect((await aggregate(s, { metric: 'people', groupBy: 'none', epsilon: 0.2 })).status).toBe(200);
    s = await resources.restart(s);
    expect((await aggregate(s, { metric: 'people', groupBy: 'none', epsilon: 0.1 })).json.error.code).toBe('KAIROS_ERR_PRIVACY_BUDGET');
  });

  it('answers a bad request with a 400 naming each field, and spends nothing on it', async () => {
    const s = await shop({ privacy: { aggregates: { epsilonPerDay: 1 } } });
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ metric: 'people', groupBy: 'day', epsilon: 2 }, '/epsilon'],
      [{ metric: 'people', groupBy: 'day', epsilon: 0 }, '/epsilon'],
      [{ metric: 'people', groupBy: 'day', epsilon: 1e-17 }, '/epsilon'],
      [{ metric: 'people', groupBy: 'none', epsilon: 0.3, to: '-271821-04-20T00:00:00Z' }, '/to'],
      [{ metric: 'people', groupBy: 'day', epsilon: 0.3, from: '+275760-09-13T00:00:00Z', to: '+275760-09-13T00:00:00Z' }, '/from'],
      [{ metric: 'people', groupBy: 'day' }, '/epsilon'],
      [{ metric: 'people', groupBy: 'day', epsilon: 0.1, from: 'yesterday' }, '/from'],
      [{ metric: 'people', groupBy: 'day', epsilon: 0.1, from: range.to, to: range.from }, '/to'],
      [{ metric: 'people', groupBy: 'day', epsilon: 0.1, from: '2020-01-01T00:00:00Z', to: '2022-01-01T00:00:00Z' }, '/to'],
      [{ metric: 'people', groupBy: 'day', epsilon: 0.1, limit: 5 }, '/limit'],
      [{ metric: 'people', groupBy: 'item', epsilon: 0.1, maxPerPartition: 3 }, '/maxPerPartition'],
      [{ metric: 'revenue', groupBy: 'day', epsilon: 0.1 }, '/metric'],
      [{ metric: 'people', groupBy: 'person', epsilon: 0.1 }, '/groupBy'],
      [{ metric: 'interactions', kind: 'stare', groupBy: 'day', epsilon: 0.1 }, '/kind'],
      [{ metric: 'people', groupBy: 'day', epsilon: 0.1, userId: 'p0' }, ''],
    ];
    for (const [body, field] of cases) {
      const r = await aggregate(s, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error.code).toBe('KAIROS_ERR_VALIDATION');
      if (field) expect(r.json.error.details.map((d: { field: string }) => d.field), JSON.stringify(body)).toContain(field);
    }
    expect((await aggregate(s, { metric: 'people', groupBy: 'none', epsilon: 1 })).json.budget).toEqual({ epsilonPerDay: 1, spent: 1, remaining: 0 });
  });
});
