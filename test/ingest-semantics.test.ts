/**
 * What ingestion means (CONTRACT §4): messageId dedupe, clock-skew correction, gzip as RudderStack
 * sends it, consent, the E-commerce vocabulary feeding features, and catalog upserts from events.
 */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { timeless } from './helpers/profiles.ts';
import { api, fileServer, removeDir, startServer, tempDir, track, WRITE_KEY } from './helpers/server.ts';
import { messageIdCounts, storedEvents } from './helpers/stored-events.ts';

const server = fileServer();

const profile = async (id: string): Promise<any> => {
  const r = await api(server.url, 'GET', `/v1/profiles/${encodeURIComponent(id)}`);
  expect(r.status, `profile of ${id}: ${r.text}`).toBe(200);
  return r.json;
};
const ok = async (path: string, body: unknown): Promise<void> => {
  const r = await track(server.url, path, body);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  expect(r.json).toEqual({ success: true });
};
const MIN = 60_000;
const iso = (t: number): string => new Date(t).toISOString();

describe('messageId dedupe', () => {
  it('a repeat within one request is stored once', async () => {
    const e = { type: 'track', userId: 'dd-same-request', event: 'Product Viewed', properties: { product_id: 'dd-p1' }, messageId: 'dd-m1' };
    await ok('/v1/batch', { batch: [e, e, { ...e, properties: { product_id: 'dd-other' } }] });
    const p = await profile('dd-same-request');
    expect(p.eventCount).toBe(1);
    expect(p.features.counts.view).toBe(1);
    expect(p.features.recentlyViewed.map((r: any) => r.itemId)).toEqual(['dd-p1']);
  });

  it('a repeat in a later request is acknowledged and ignored, whatever it carries', async () => {
    const e = { userId: 'dd-later', event: 'Order Completed', properties: { products: [{ product_id: 'dd-p2', price: 10 }] }, messageId: 'dd-m2' };
    await ok('/v1/track', e);
    await ok('/v1/track', e);
    await ok('/v1/batch', { batch: [{ ...e, type: 'track', properties: { products: [{ product_id: 'dd-p3', price: 99 }] } }] });
    const p = await profile('dd-later');
    expect(p.eventCount).toBe(1);
    expect(p.features.rfm).toMatchObject({ frequency: 1, monetary: 10 });
  });

  it('concurrent duplicates are stored once, and every one of them is acknowledged', async () => {
    const e = { userId: 'dd-concurrent', event: 'Product Added', properties: { product_id: 'dd-p4', price: 5 }, messageId: 'dd-m3' };
    const batch = (i: number) => ({ batch: [{ ...e, type: 'track' }, { type: 'track', userId: 'dd-concurrent', event: 'Product Viewed', properties: { product_id: `dd-v${i % 3}` }, messageId: `dd-v-${i % 3}` }] });
    const answers = await Promise.all([
      ...Array.from({ length: 20 }, () => track(server.url, '/v1/track', e)),
      ...Array.from({ length: 20 }, (_, i) => track(server.url, '/v1/batch', batch(i))),
    ]);
    for (const a of answers) expect(a.status).toBe(200);
    const p = await profile('dd-concurrent');
    expect(p.eventCount).toBe(4);
    expect(p.features.counts).toMatchObject({ add: 1, view: 3 });
  });

  it('events without a messageId get one each: identical requests both count', async () => {
    const e = { userId: 'dd-no-id', event: 'Product Viewed', properties: { product_id: 'dd-p5' } };
    await ok('/v1/track', e);
    await ok('/v1/track', e);
    expect((await profile('dd-no-id')).eventCount).toBe(2);
  });

  it('a repeat after a restart on the same data dir is ignored, and nothing is stored twice', async () => {
    const dataDir = tempDir();
    try {
      let s = await startServer({ dataDir });
      const e = { type: 'track', userId: 'dd-restart', event: 'Product Viewed', properties: { product_id: 'dd-p6' }, messageId: 'dd-m-restart' };
      expect((await track(s.url, '/v1/batch', { batch: [e] })).status).toBe(200);
      await s.close();
      s = await startServer({ dataDir });
      expect((await track(s.url, '/v1/batch', { batch: [e, { ...e, messageId: 'dd-m-restart-2' }] })).status).toBe(200);
      expect((await track(s.url, '/v1/track', e)).status).toBe(200);
      expect((await api(s.url, 'GET', '/v1/profiles/dd-restart')).json.eventCount).toBe(2);
      await s.close();
      const counts = messageIdCounts(await storedEvents(dataDir));
      expect(Object.fromEntries(counts)).toEqual({ 'dd-m-restart': 1, 'dd-m-restart-2': 1 });
    } finally {
      removeDir(dataDir);
    }
  });
});

describe('event time and clock-skew correction', () => {
  /** sends one request and returns the window receivedAt must lie in */
  const timed = async (path: string, body: unknown): Promise<[number, number]> => {
    const before = Date.now();
    await ok(path, body);
    return [before, Date.now()];
  };
  const lastSeen = async (id: string): Promise<number> => Date.parse((await profile(id)).features.lastSeen);
  const T0 = Date.parse('2021-03-04T05:06:07.000Z');

  it('sentAt and originalTimestamp on the event: the client clock does not matter, only the delay', async () => {
    // the device clock is three years behind; the event happened 5 minutes before it was sent
    const [lo, hi] = await timed('/v1/track', { userId: 'skew-event-level', event: 'Product Viewed', originalTimestamp: iso(T0), sentAt: iso(T0 + 5 * MIN) });
    const t = await lastSeen('skew-event-level');
    expect(t).toBeGreaterThanOrEqual(lo - 5 * MIN);
    expect(t).toBeLessThanOrEqual(hi - 5 * MIN);
  });

  it('sentAt at batch level applies to every event of the batch', async () => {
    const [lo, hi] = await timed('/v1/batch', {
      sentAt: iso(T0 + 60 * MIN),
      batch: [
        { type: 'track', userId: 'skew-batch-a', event: 'Product Viewed', originalTimestamp: iso(T0 + 20 * MIN) },
        { type: 'page', userId: 'skew-batch-b', name: 'Home', originalTimestamp: iso(T0 + 50 * MIN) },
      ],
    });
    const a = await lastSeen('skew-batch-a');
    const b = await lastSeen('skew-batch-b');
    expect(a).toBeGreaterThanOrEqual(lo - 40 * MIN);
    expect(a).toBeLessThanOrEqual(hi - 40 * MIN);
    expect(b).toBeGreaterThanOrEqual(lo - 10 * MIN);
    expect(b).toBeLessThanOrEqual(hi - 10 * MIN);
    // both events got the same receivedAt: their distance is exactly the clients' one
    expect(b - a).toBe(30 * MIN);
  });

  it("an event's own sentAt wins over the batch's", async () => {
    const [lo, hi] = await timed('/v1/batch', {
      sentAt: iso(T0 + 60 * MIN),
      batch: [{ type: 'track', userId: 'skew-own', event: 'Product Viewed', originalTimestamp: iso(T0), sentAt: iso(T0 + 2 * MIN) }],
    });
    const t = await lastSeen('skew-own');
    expect(t).toBeGreaterThanOrEqual(lo - 2 * MIN);
    expect(t).toBeLessThanOrEqual(hi - 2 * MIN);
  });

  it('a timestamp is taken as given, even with sentAt and originalTimestamp', async () => {
    const when = T0 + 123_456;
    await ok('/v1/track', { userId: 'skew-given', event: 'Product Viewed', timestamp: iso(when), originalTimestamp: iso(T0), sentAt: iso(T0 + 5 * MIN) });
    expect(await lastSeen('skew-given')).toBe(when);
  });

  it('with no time at all the event happens at receivedAt', async () => {
    const [lo, hi] = await timed('/v1/identify', { userId: 'skew-none', traits: { plan: 'free' } });
    const t = await lastSeen('skew-none');
    expect(t).toBeGreaterThanOrEqual(lo);
    expect(t).toBeLessThanOrEqual(hi);
  });

  it('late events land in their place: firstSeen and recently viewed follow event time', async () => {
    const now = Date.now();
    await ok('/v1/track', { userId: 'late', event: 'Product Viewed', properties: { product_id: 'late-2' }, timestamp: iso(now - 2 * MIN) });
    await ok('/v1/track', { userId: 'late', event: 'Product Viewed', properties: { product_id: 'late-1' }, timestamp: iso(now - 90 * MIN) });
    const p = await profile('late');
    expect(p.features.firstSeen).toBe(iso(now - 90 * MIN));
    expect(p.features.lastSeen).toBe(iso(now - 2 * MIN));
    expect(p.features.recentlyViewed.map((r: any) => r.itemId)).toEqual(['late-2', 'late-1']);
    expect(p.features.sessions.count).toBe(2);
  });
});

describe('gzip as RudderStack sends it', () => {
  const basic = 'Basic ' + Buffer.from(`${WRITE_KEY}:`).toString('base64');
  const post = (body: Uint8Array, headers: Record<string, string>) => fetch(`${server.url}/v1/batch`, { method: 'POST', headers, body });

  it('a gzip batch labelled x-www-form-urlencoded, without Content-Encoding, with the write key in the body', async () => {
    const body = gzipSync(JSON.stringify({ writeKey: WRITE_KEY, batch: [
      { type: 'track', anonymousId: 'gz-anon', event: 'Product Viewed', properties: { product_id: 'gz-p1' } },
      { type: 'identify', anonymousId: 'gz-anon', userId: 'gz-user', traits: { plan: 'gold' } },
    ] }));
    const r = await post(body, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(r.status, await r.clone().text()).toBe(200);
    expect(await r.json()).toEqual({ success: true });
    const p = await profile('gz-user');
    expect(p.eventCount).toBe(2);
    expect(p.traits).toEqual({ plan: 'gold' });
    expect(timeless(await profile('gz-anon'))).toEqual(timeless(p));
  });

  it('the same with Content-Encoding: gzip and Basic auth, as the SDK really sends it', async () => {
    const body = gzipSync(JSON.stringify({ batch: [{ type: 'track', userId: 'gz-user-2', event: 'Product Viewed', properties: { product_id: 'gz-p2' } }] }));
    const r = await post(body, { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': 'gzip', authorization: basic });
    expect(r.status).toBe(200);
    expect((await profile('gz-user-2')).eventCount).toBe(1);
  });

  it('single-event endpoints accept gzip too', async () => {
    const body = gzipSync(JSON.stringify({ userId: 'gz-user-3', event: 'Product Viewed', writeKey: WRITE_KEY }));
    const r = await fetch(`${server.url}/v1/track`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body });
    expect(r.status).toBe(200);
    expect((await profile('gz-user-3')).eventCount).toBe(1);
  });
});

describe('consent', () => {
  const consent = (personalization: boolean) => ({ consent: { categoryPreferences: { Personalization: personalization, Advertising: false } } });
  const view = (id: string, item: string, t: number, context?: unknown) => ({ userId: id, event: 'Product Viewed', properties: { product_id: item }, timestamp: iso(t), ...(context ? { context } : {}) });

  it('an opted-out event is acknowledged and counted, but never used for personalization', async () => {
    const t = Date.now() - 60 * MIN;
    await ok('/v1/track', view('consent-1', 'c-p1', t));
    await ok('/v1/track', view('consent-1', 'c-p2', t + MIN, consent(false)));
    await ok('/v1/track', view('consent-1', 'c-p3', t + 2 * MIN));
    const p = await profile('consent-1');
    expect(p.eventCount).toBe(3);
    expect(p.consent).toEqual({ categoryPreferences: { Personalization: false, Advertising: false } });
    // the preference applies to the person at once: nothing of them is used while it stands
    expect(p.features.counts.view).toBe(0);
    expect(p.features.recentlyViewed).toEqual([]);
    expect(p.features.firstSeen).toBeUndefined();
  });

  it('opting back in uses events from before the opt-out and after the opt-in, never those in between', async () => {
    const t = Date.now() - 60 * MIN;
    await ok('/v1/batch', {
      batch: [
        { type: 'track', ...view('consent-2', 'c-before', t) },
        { type: 'track', ...view('consent-2', 'c-optout', t + MIN, consent(false)) },
        { type: 'track', ...view('consent-2', 'c-while-out', t + 2 * MIN) },
      ],
    });
    expect((await profile('consent-2')).features.counts.view).toBe(0);
    await ok('/v1/identify', { userId: 'consent-2', traits: { plan: 'pro' }, timestamp: iso(t + 3 * MIN), context: consent(true) });
    await ok('/v1/track', view('consent-2', 'c-after', t + 4 * MIN));
    const p = await profile('consent-2');
    expect(p.eventCount).toBe(5);
    expect(p.consent.categoryPreferences.Personalization).toBe(true);
    expect(p.features.counts.view).toBe(2);
    expect(p.features.recentlyViewed.map((r: any) => r.itemId)).toEqual(['c-after', 'c-before']);
  });

  it('a late opt-out (earlier event time) still applies to the person, because it is their latest preference', async () => {
    const t = Date.now() - 60 * MIN;
    await ok('/v1/track', view('consent-3', 'c-p1', t + 5 * MIN));
    await ok('/v1/track', { ...view('consent-3', 'c-p0', t), context: consent(false) });
    const p = await profile('consent-3');
    expect(p.eventCount).toBe(2);
    expect(p.features.counts.view).toBe(0);
  });
});

describe('E-commerce vocabulary → features', () => {
  it('orders with products[] count each product, fill recentlyBought and the RFM figures', async () => {
    const t = Date.now() - 30 * MIN;
    await ok('/v1/batch', {
      batch: [
        { type: 'track', userId: 'ec-1', event: 'Product Viewed', properties: { product_id: 'ec-shoe', name: 'Trail Shoe', category: 'Shoes > Running', price: 89 }, timestamp: iso(t) },
        { type: 'track', userId: 'ec-1', event: 'Product Clicked', properties: { product_id: 'ec-sock', name: 'Wool Sock', category: 'Apparel' }, timestamp: iso(t + 1000) },
        { type: 'track', userId: 'ec-1', event: 'Products Searched', properties: { query: 'socks' }, timestamp: iso(t + 2000) },
        { type: 'track', userId: 'ec-1', event: 'Product List Viewed', properties: { list_id: 'l1', products: [{ product_id: 'ec-sock' }, { product_id: 'ec-cap' }] }, timestamp: iso(t + 3000) },
        { type: 'track', userId: 'ec-1', event: 'Product Added', properties: { product_id: 'ec-shoe', price: 89, quantity: 1 }, timestamp: iso(t + 4000) },
        { type: 'track', userId: 'ec-1', event: 'Product Added to Wishlist', properties: { product_id: 'ec-cap' }, timestamp: iso(t + 5000) },
        { type: 'track', userId: 'ec-1', event: 'Product Removed', properties: { product_id: 'ec-cap' }, timestamp: iso(t + 6000) },
        { type: 'track', userId: 'ec-1', event: 'Promotion Viewed', properties: { promotion_id: 'promo-1' }, timestamp: iso(t + 7000) },
        { type: 'track', userId: 'ec-1', event: 'Promotion Clicked', properties: { promotion_id: 'promo-1' }, timestamp: iso(t + 8000) },
        {
          type: 'track', userId: 'ec-1', event: 'Order Completed', timestamp: iso(t + 9000),
          properties: { order_id: 'o-1', revenue: 1000, products: [
            { product_id: 'ec-shoe', name: 'Trail Shoe', category: 'Shoes > Running', price: 89, quantity: 1 },
            { product_id: 'ec-sock', name: 'Wool Sock', category: 'Apparel', price: 9.5, quantity: 2 },
          ] },
        },
        { type: 'track', userId: 'ec-1', event: 'Signed Up', properties: { product_id: 'ec-ignored' }, timestamp: iso(t + 10_000) },
        { type: 'page', userId: 'ec-1', name: 'Thanks', timestamp: iso(t + 11_000) },
      ],
    });
    const p = await profile('ec-1');
    expect(p.eventCount).toBe(12);
    expect(p.features.counts).toEqual({ view: 1, click: 1, add: 1, remove: 1, wishlist: 1, purchase: 2, search: 1, list_view: 2, promo_view: 1, promo_click: 1 });
    // last first, one entry per item
    expect(p.features.recentlyBought.map((r: any) => r.itemId)).toEqual(['ec-sock', 'ec-shoe']);
    expect(p.features.recentlyBought[0].at).toBe(iso(t + 9000));
    expect(p.features.recentlyViewed.map((r: any) => r.itemId)).toEqual(['ec-sock', 'ec-shoe']);
    expect(p.features.recentlyAdded.map((r: any) => r.itemId)).toEqual(['ec-shoe']);
    // monetary: Σ price × quantity of the products (the order's revenue is used only without products)
    expect(p.features.rfm.frequency).toBe(1);
    expect(p.features.rfm.monetary).toBe(108);
    expect(p.features.rfm.recencyDays).toBeGreaterThan(0);
    expect(p.features.rfm.recencyDays).toBeLessThan(1);
    expect(Object.keys(p.features.categoryAffinity)).toEqual(expect.arrayContaining(['Shoes', 'Apparel']));
    expect(p.features.categoryAffinity.Shoes).toBeGreaterThan(p.features.categoryAffinity.Apparel);
    expect(p.segments).toContain('buyer');
    expect(p.segments).not.toContain('repeat_buyer');
    expect(p.segments).not.toContain('cart_abandoner');
    expect(p.features.sessions.count).toBe(1);
  });

  it('an order without products counts once with its revenue; a second order makes a repeat buyer', async () => {
    const t = Date.now() - 10 * MIN;
    await ok('/v1/track', { userId: 'ec-2', event: 'Order Completed', properties: { order_id: 'o-2', revenue: 42.5 }, timestamp: iso(t) });
    let p = await profile('ec-2');
    expect(p.features.counts.purchase).toBe(1);
    expect(p.features.rfm).toMatchObject({ frequency: 1, monetary: 42.5 });
    await ok('/v1/track', { userId: 'ec-2', event: 'Order Completed', properties: { order_id: 'o-3', total: '7.5' }, timestamp: iso(t + MIN) });
    p = await profile('ec-2');
    expect(p.features.rfm).toMatchObject({ frequency: 2, monetary: 50 });
    expect(p.segments).toEqual(expect.arrayContaining(['buyer', 'repeat_buyer']));
  });

  it('adds without an order make a cart abandoner', async () => {
    await ok('/v1/track', { userId: 'ec-3', event: 'Product Added', properties: { product_id: 'ec-shoe', price: 89 } });
    const p = await profile('ec-3');
    expect(p.segments).toContain('cart_abandoner');
    expect(p.features.recentlyAdded.map((r: any) => r.itemId)).toEqual(['ec-shoe']);
  });
});

describe('catalog upserts from product properties', () => {
  const item = async (id: string) => api(server.url, 'GET', `/v1/items/${encodeURIComponent(id)}`);

  it('an unknown product named by an event becomes a catalog item with its product properties', async () => {
    await ok('/v1/track', {
      userId: 'cat-1', event: 'Product Viewed',
      properties: { product_id: 'cat-new', name: 'Summit Pack', category: 'Bags > Hiking', brand: 'Acme', price: 129, url: 'https://shop.example/p/cat-new', image_url: 'https://img.example/cat-new.jpg', color: 'red' },
    });
    const r = await item('cat-new');
    expect(r.status).toBe(200);
    expect(r.json.properties).toMatchObject({ name: 'Summit Pack', category: 'Bags > Hiking', brand: 'Acme', price: 129, url: 'https://shop.example/p/cat-new', image_url: 'https://img.example/cat-new.jpg' });
    expect(r.json.available).toBe(true);
  });

  it('an item made by events dates from its earliest mention, whatever order the mentions arrive in', async () => {
    const t = Date.now() - 60 * MIN;
    const mention = (id: string, at: number) => ({ type: 'track', userId: 'cat-late', event: 'Product Viewed', timestamp: iso(at), properties: { product_id: id } });
    // in order, and the same mentions with the earlier one arriving late
    await ok('/v1/batch', { batch: [mention('cat-in-order', t), mention('cat-in-order', t + 30 * MIN)] });
    await ok('/v1/batch', { batch: [mention('cat-late-first', t + 30 * MIN)] });
    await ok('/v1/batch', { batch: [mention('cat-late-first', t)] });
    for (const id of ['cat-in-order', 'cat-late-first']) expect((await item(id)).json.createdAt).toBe(iso(t));
  });

  it('products of an order become catalog items too', async () => {
    await ok('/v1/track', { userId: 'cat-2', event: 'Order Completed', properties: { products: [{ product_id: 'cat-o1', name: 'Tent', category: 'Camping' }, { sku: 'cat-o2', name: 'Stove' }] } });
    expect((await item('cat-o1')).json.properties).toMatchObject({ name: 'Tent', category: 'Camping' });
    expect((await item('cat-o2')).json.properties).toMatchObject({ name: 'Stove' });
  });

  it('an item already in the catalog is not overwritten by event properties', async () => {
    const put = await api(server.url, 'PUT', '/v1/items/cat-existing', { properties: { name: 'Catalog Name', category: 'Catalog > Category', price: 10 } });
    expect(put.status).toBe(200);
    await ok('/v1/track', { userId: 'cat-3', event: 'Product Viewed', properties: { product_id: 'cat-existing', name: 'Event Name', category: 'Event Category', price: 1 } });
    const r = await item('cat-existing');
    expect(r.json.properties).toEqual({ name: 'Catalog Name', category: 'Catalog > Category', price: 10 });
  });

  it('an event-made item takes each property from the latest event by event time, whatever the arrival order', async () => {
    const at = (min: number) => new Date(Date.UTC(2026, 0, 1, 12, min)).toISOString();
    // the later event (by time) arrives first; the earlier one carries a field the later lacks
    await ok('/v1/track', { userId: 'cat-4', event: 'Product Viewed', timestamp: at(10), properties: { product_id: 'cat-first', name: 'Second Name', category: 'Second' } });
    await ok('/v1/track', { userId: 'cat-4', event: 'Product Added', timestamp: at(5), properties: { product_id: 'cat-first', name: 'First Name', category: 'First', price: 12 } });
    expect((await item('cat-first')).json.properties).toEqual({ name: 'Second Name', category: 'Second', price: 12 });
    expect((await item('cat-first')).json.createdAt).toBe(at(5));
  });

  it('events never change an item the catalog API wrote', async () => {
    expect((await api(server.url, 'PUT', '/v1/items/cat-api', { properties: { name: 'From API' } })).status).toBe(200);
    await ok('/v1/track', { userId: 'cat-4', event: 'Product Viewed', properties: { product_id: 'cat-api', name: 'From Event', brand: 'X' } });
    expect((await item('cat-api')).json.properties).toEqual({ name: 'From API' });
  });

  it('concurrent events naming the same new item create it once, and it survives a restart', async () => {
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) =>
      track(server.url, '/v1/track', { userId: `cat-5-${i}`, event: 'Product Viewed', properties: { product_id: 'cat-race', name: `Name ${i}` } })));
    for (const a of answers) expect(a.status).toBe(200);
    const before = (await item('cat-race')).json;
    expect(before.properties.name).toMatch(/^Name \d$/);
    await server.restart();
    expect((await item('cat-race')).json).toEqual(before);
    expect((await item('cat-new')).json.properties.name).toBe('Summit Pack');
  });
});
