/**
 * Consent (CONTRACT §4, issue 7): events under `Personalization: false` are stored and counted but
 * never shape recommendations — neither anybody else's nor the person's own — and the preference
 * applies by event time in both directions: opting back in counts from that event on, while the
 * events sent while opted out stay unused.
 */
import { describe, expect, it } from 'vitest';
import { api, testResources, type TestServer } from './helpers/server.ts';
import { ingest, type RecItem } from './helpers/privacy.ts';

const resources = testResources({ release: 'all' });

/** fixed creation times, so that "new" rankings do not depend on when a server started */
const CREATED = Date.UTC(2024, 0, 1);
const ITEMS = Array.from({ length: 10 }, (_, i) => ({
  itemId: `c${i + 1}`,
  properties: { name: `Item ${i + 1}`, category: ['Shoes', 'Bags', 'Hats', 'Coats', 'Gloves'][i % 5], brand: `B${i}`, createdAt: CREATED + i * 3_600_000 },
}));
/** every event time is relative to this, identical on every server of the file */
const T0 = Date.now() - 3 * 3_600_000;
const at = (minutes: number): string => new Date(T0 + minutes * 60_000).toISOString();
const OUT = { consent: { categoryPreferences: { Personalization: false } } };
const IN = { consent: { categoryPreferences: { Personalization: true } } };
/** reasons only somebody's behaviour produces */
const BEHAVIOURAL = ['viewed_together', 'similar_session', 'bought_together'];

const view = (anonymousId: string, item: string, minute: number, context?: object): any => ({
  type: 'track', anonymousId, event: 'Product Viewed', properties: { product_id: item }, timestamp: at(minute), ...(context ? { context } : {}),
});

async function recommend(url: string, body: object): Promise<RecItem[]> {
  const r = await api(url, 'POST', '/v1/recommendations', body);
  expect(r.status).toBe(200);
  return r.json.items;
}

/** a list as two servers with the same usable events must agree on it (scores move with the clock by decay) */
function expectSameList(actual: RecItem[], expected: RecItem[]): void {
  expect(actual.map((i) => ({ itemId: i.itemId, reasons: i.reasons }))).toEqual(expected.map((i) => ({ itemId: i.itemId, reasons: i.reasons })));
  actual.forEach((item, k) => expect(item.score).toBeCloseTo(expected[k]!.score, 3));
}

describe('consent: Personalization=false', () => {
  /**
   * The same workspace three times: baseline traffic and a bystander; plus a crowd that co-views and
   * buys c6/c7 with c1 under an opt-out (some opted out on every event, some only by a last event
   * that withdraws their earlier ones); plus the same crowd consenting (the positive control).
   */
  async function workspace(crowd: 'none' | 'opted-out' | 'consenting'): Promise<TestServer> {
    const s = await resources.server();
    expect((await api(s.url, 'POST', '/v1/items', { items: ITEMS })).status).toBe(200);
    const baseline: any[] = [];
    for (let p = 0; p < 3; p++) for (let k = 0; k < 3; k++) baseline.push(view(`base-${p}`, 'c1', 10 * p + 2 * k), view(`base-${p}`, 'c2', 10 * p + 2 * k + 1));
    baseline.push(view('base-3', 'c3', 40), view('base-3', 'c4', 41), view('base-3', 'c8', 42));
    const bystander = [view('bystander', 'c1', 170), view('bystander', 'c5', 171)];
    expect((await ingest(s.url, '/v1/batch', { batch: [...baseline, ...bystander] })).status).toBe(200);
    if (crowd === 'none') return s;
    const events: any[] = [];
    for (let p = 0; p < 8; p++) {
      const who = `crowd-${p}`;
      const everyEvent = crowd === 'opted-out' && p % 2 === 0 ? OUT : undefined;
      for (let k = 0; k < 3; k++) {
        events.push(view(who, 'c1', 60 + 10 * p + 3 * k, everyEvent), view(who, 'c6', 61 + 10 * p + 3 * k, everyEvent));
      }
      events.push({ type: 'track', anonymousId: who, event: 'Order Completed', properties: { products: [{ product_id: 'c6', price: 10 }, { product_id: 'c7', price: 20 }] }, timestamp: at(70 + 10 * p), ...(everyEvent ? { context: everyEvent } : {}) });
      // the others opt out only with their last event, which withdraws everything before it
      if (crowd === 'opted-out' && p % 2 === 1) events.push({ type: 'page', anonymousId: who, name: 'Privacy settings', timestamp: at(71 + 10 * p), context: OUT });
      if (crowd === 'consenting' && p % 2 === 1) events.push({ type: 'page', anonymousId: who, name: 'Privacy settings', timestamp: at(71 + 10 * p), context: IN });
    }
    expect((await ingest(s.url, '/v1/batch', { batch: events })).status).toBe(200);
    return s;
  }

  it('never changes recommendations for anyone: a bystander\'s list and similar items are identical with and without the opted-out traffic', async () => {
    const [none, optedOut, consenting] = await Promise.all([workspace('none'), workspace('opted-out'), workspace('consenting')]);
    const ask = { anonymousId: 'bystander', count: 8 };
    const asHome = { anonymousId: 'bystander', count: 8, context: { placement: 'home' } };
    const onPage = { anonymousId: 'bystander', count: 8, context: { itemId: 'c1', placement: 'product_page' } };
    const cold = { anonymousId: 'somebody-new', count: 8 };
    for (const body of [ask, asHome, onPage, cold]) {
      const reference = await recommend(none.url, body);
      expectSameList(await recommend(optedOut.url, body), reference);
      // positive control: the same crowd, consenting, does change what the bystander is shown
      expect(await recommend(consenting.url, body)).not.toEqual(reference);
    }
    const similar = async (url: string) => (await api(url, 'GET', '/v1/items/c1/similar?count=6')).json.items as RecItem[];
    expectSameList(await similar(optedOut.url), await similar(none.url));
    expect((await similar(consenting.url)).map((i) => i.itemId)).toContain('c6');
    const withCrowd = await recommend(consenting.url, ask);
    expect(withCrowd.find((i) => i.itemId === 'c6')?.reasons).toContainEqual(expect.objectContaining({ type: 'viewed_together', itemId: 'c1' }));

    // the opted-out events are stored and counted, and nothing of them is in the features
    for (const p of [0, 1]) {
      const r = await api(optedOut.url, 'GET', `/v1/profiles/crowd-${p}`);
      expect(r.status).toBe(200);
      expect(r.json.eventCount).toBe(p === 0 ? 7 : 8);
      expect(r.json.consent).toEqual({ categoryPreferences: { Personalization: false } });
      expect(r.json.features.counts.view).toBe(0);
      expect(r.json.features.counts.purchase).toBe(0);
      expect(r.json.features.recentlyViewed).toEqual([]);
      expect(r.json.segments).not.toContain('buyer');
    }
  });

  it('an opted-out person gets non-personalized results: nothing names their own items, not even in-session events they send along', async () => {
    const s = await workspace('consenting');
    const mine = ['c1', 'c6', 'c7'];
    // crowd-2 co-viewed c1 and c6 and bought c6 and c7: personalized, their list leans on that
    const before = await recommend(s.url, { anonymousId: 'crowd-2', count: 8 });
    expect(before.flatMap((i) => i.reasons).some((r) => r.itemId !== undefined && mine.includes(r.itemId)), 'precondition: personalized').toBe(true);

    expect((await ingest(s.url, '/v1/page', { anonymousId: 'crowd-2', name: 'Privacy settings', context: OUT })).status).toBe(200);
    for (const body of [
      { anonymousId: 'crowd-2', count: 8 },
      { anonymousId: 'crowd-2', count: 8, context: { placement: 'home' } },
      { anonymousId: 'crowd-2', count: 8, events: [{ event: 'Product Viewed', properties: { product_id: 'c3' } }, { event: 'Product Viewed', properties: { product_id: 'c1' } }] },
    ]) {
      const items = await recommend(s.url, body);
      expect(items).toHaveLength(8);
      for (const item of items) {
        for (const r of item.reasons) {
          expect(BEHAVIOURAL.concat('similar_content'), `${item.itemId}: ${JSON.stringify(r)}`).not.toContain(r.type);
          expect(r.itemId === undefined || !['c1', 'c3', 'c6', 'c7'].includes(r.itemId), `${item.itemId}: ${JSON.stringify(r)}`).toBe(true);
        }
      }
    }
    const profile = (await api(s.url, 'GET', '/v1/profiles/crowd-2')).json;
    expect(profile.features.counts.view).toBe(0);
    expect(profile.features.recentlyViewed).toEqual([]);
    expect(profile.eventCount).toBe(8);
  });

  it('opting back in counts from that event on; events sent while opted out stay unused', async () => {
    const s = await resources.server();
    expect((await api(s.url, 'POST', '/v1/items', { items: ITEMS })).status).toBe(200);
    const r = 'returning';
    const events = [
      // consenting by default, long before
      view(r, 'c1', 0),
      view(r, 'c2', 1),
      // opted out: co-views and a purchase of c6/c7 nobody else makes
      ...[0, 1, 2].flatMap((k) => [view(r, 'c6', 100 + 2 * k, OUT), view(r, 'c7', 101 + 2 * k, OUT)]),
      { type: 'track', anonymousId: r, event: 'Order Completed', properties: { products: [{ product_id: 'c7', price: 20 }] }, timestamp: at(107), context: OUT },
      // back in, in the same session: this event counts, and so does everything after it
      view(r, 'c3', 110, IN),
      ...[0, 1, 2].flatMap((k) => [view(r, 'c4', 111 + 2 * k), view(r, 'c3', 112 + 2 * k)]),
    ];
    // sent newest first: the preference in force is decided by event time, not by arrival
    expect((await ingest(s.url, '/v1/batch', { batch: [...events].reverse() })).status).toBe(200);
    for (const [who, item] of [['sees-c6', 'c6'], ['sees-c3', 'c3'], ['sees-c1', 'c1']] as const) {
      expect((await ingest(s.url, '/v1/track', { anonymousId: who, event: 'Product Viewed', properties: { product_id: item } })).status).toBe(200);
    }

    const profile = (await api(s.url, 'GET', `/v1/profiles/${r}`)).json;
    expect(profile.consent).toEqual({ categoryPreferences: { Personalization: true } });
    expect(profile.eventCount).toBe(events.length);
    expect(profile.features.counts.view).toBe(2 + 7);
    expect(profile.features.counts.purchase).toBe(0);
    expect(profile.features.recentlyViewed.map((v: any) => v.itemId).sort()).toEqual(['c1', 'c2', 'c3', 'c4']);

    // what the opted-out phase did shapes nothing …
    const sees6 = await recommend(s.url, { anonymousId: 'sees-c6', count: 9 });
    for (const item of sees6) for (const reason of item.reasons) expect(BEHAVIOURAL, `${item.itemId}: ${JSON.stringify(reason)}`).not.toContain(reason.type);
    // … while the events from the opt-in on do, and so do those from before the opt-out
    const sees3 = await recommend(s.url, { anonymousId: 'sees-c3', count: 9 });
    expect(sees3.find((i) => i.itemId === 'c4')?.reasons).toContainEqual(expect.objectContaining({ type: 'viewed_together', itemId: 'c3' }));
    const sees1 = await recommend(s.url, { anonymousId: 'sees-c1', count: 9 });
    expect(sees1.find((i) => i.itemId === 'c2')?.reasons).toContainEqual(expect.objectContaining({ type: 'viewed_together', itemId: 'c1' }));
    // and the person's own list never leans on c6/c7
    const own = await recommend(s.url, { anonymousId: r, count: 9 });
    for (const item of own) for (const reason of item.reasons) expect(['c6', 'c7'], `${item.itemId}: ${JSON.stringify(reason)}`).not.toContain(reason.itemId);
  });
});
