/**
 * Defects found by adversarial reviews through the real server (sixth session of 2026-12-07), each
 * pinned by a test that fails without its fix: id lengths judged alike everywhere (and store keys
 * that fit), overflowing numbers, experiments (people named by two ids, concurrent definitions,
 * always-valid p-values that depend on the data only), decisions (rewards from before the decision,
 * the request's channel in the context, the consistency window across restarts), feedback (opted-out
 * outcomes, arrival order) and impressions after an erasure. Seventh session: event times read
 * strictly (no free-form dates, no skew correction outside the dates a time can hold) and order
 * values (unpriced products, overflowing sums); recommendation rules (purchases left out of
 * non-personalized variants, consent withheld by an inline event, the category cap past the scan
 * limit and across spellings, item id lengths); an API catalog write racing events that name
 * the item; revenue beyond a trillion.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { api, send, testResources, ADMIN_KEY, WRITE_KEY, type TestServer } from './helpers/server.ts';
import { ingest } from './helpers/privacy.ts';

const resources = testResources();
const boot = (dataDir?: string, env: Record<string, string> = {}): Promise<TestServer> => resources.server(dataDir, env);

const raw = (s: TestServer, method: string, path: string, body: string) => send(s.url, method, path, body, { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` });

const twoVariants = (placement: string, over: Record<string, unknown> = {}) => ({
  placement,
  variants: [
    { id: 'a', weight: 1, config: {} },
    { id: 'b', weight: 1, config: {} },
  ],
  holdoutPercent: 0,
  metrics: ['Signed Up'],
  status: 'running',
  ...over,
});

describe('ids', () => {
  it('are 1–512 UTF-16 units at every endpoint, and the longest in UTF-8 still fit every store key', async () => {
    const s = await boot();
    expect((await api(s.url, 'PUT', '/v1/actions/offer', { placements: ['home'], channel: 'web', content: {}, frequencyCaps: [{ count: 1, periodSeconds: 86_400, scope: 'action' }] })).status).toBe(200);
    expect((await api(s.url, 'PUT', `/v1/experiments/${'e'.repeat(128)}`, twoVariants('home'))).status).toBe(200);
    // 512 code points, 1,024 UTF-16 units: refused alike by ingestion, decide, recommendations and profiles
    const tooLong = '😀'.repeat(512);
    expect((await ingest(s.url, '/v1/track', { userId: tooLong, event: 'x' })).status).toBe(400);
    for (const [path, body] of [['/v1/decide', { userId: tooLong, placement: 'home' }], ['/v1/recommendations', { userId: tooLong, count: 3 }]] as const) {
      const r = await api(s.url, 'POST', path, body);
      expect(r.status, path).toBe(400);
      expect(r.json.error.code).toBe('KAIROS_ERR_VALIDATION');
    }
    expect((await api(s.url, 'GET', `/v1/profiles/${encodeURIComponent(tooLong)}`)).status).toBe(400);
    // the longest ids in UTF-8: 512 three-byte units, and 256 four-byte pairs
    for (const id of ['€'.repeat(512), '😀'.repeat(256)]) {
      expect((await ingest(s.url, '/v1/track', { userId: id, event: 'Product Viewed', properties: { product_id: 'p1' } })).status).toBe(200);
      const recs = await api(s.url, 'POST', '/v1/recommendations', { userId: id, context: { placement: 'home' }, count: 3 });
      expect(recs.status).toBe(200);
      expect(recs.json.experiment.id).toBe('e'.repeat(128));
      const decided = await api(s.url, 'POST', '/v1/decide', { userId: id, placement: 'home' });
      expect(decided.status).toBe(200);
      expect(decided.json.actions.map((a: { actionId: string }) => a.actionId)).toEqual(['offer']);
      const erased = await api(s.url, 'DELETE', `/v1/profiles/${encodeURIComponent(id)}`);
      expect(erased.status).toBe(200);
      expect((await api(s.url, 'GET', `/v1/profiles/${encodeURIComponent(id)}/export`)).status).toBe(404);
    }
  });
});

describe('numbers', () => {
  it('that overflow to Infinity are refused, not stored as null', async () => {
    const s = await boot();
    const action = await raw(s, 'PUT', '/v1/actions/inf', '{"placements":["p3"],"channel":"web","content":{},"value":1e999}');
    expect(action.status).toBe(400);
    const weight = await raw(s, 'PUT', '/v1/experiments/inf', '{"placement":"p3","variants":[{"id":"a","weight":1e999,"config":{}},{"id":"b","weight":1,"config":{}}],"metrics":["M"],"status":"running"}');
    expect(weight.status).toBe(400);
    // finite, but their sum would overflow: every share would be 0 and everyone go to the last variant
    const huge = await raw(s, 'PUT', '/v1/experiments/huge', '{"placement":"p4","variants":[{"id":"a","weight":1e308,"config":{}},{"id":"b","weight":1e308,"config":{}}],"metrics":["M"],"status":"running"}');
    expect(huge.status).toBe(400);
    expect((await api(s.url, 'GET', '/v1/actions')).json.actions ?? []).toEqual([]);
  });
});

describe('event times', () => {
  it('are ISO-8601 only, and a skew correction outside the dates a time can hold is refused: nothing stored, nothing broken', async () => {
    const s = await boot();
    for (const timestamp of ['July 4', 'foo 2026', '0', '2026-02-30T00:00:00Z', '2026-01-01T24:00:00Z']) {
      const r = await ingest(s.url, '/v1/track', { userId: 'clock', event: 'Product Viewed', properties: { product_id: 'p1' }, timestamp });
      expect(r.status, timestamp).toBe(400);
      expect(r.json.error.details[0].field).toBe('/timestamp');
    }
    // each time is a date on its own; the corrected one (receivedAt − (sentAt − originalTimestamp)) is not
    const skewed = await ingest(s.url, '/v1/track', { anonymousId: 'anon-skew', event: 'Product Viewed', properties: { product_id: 'z9' }, originalTimestamp: '-271821-04-20T00:00:00.000Z', sentAt: '+275760-09-13T00:00:00.000Z' });
    expect(skewed.status).toBe(400);
    expect(skewed.json.error).toMatchObject({ code: 'KAIROS_ERR_VALIDATION', details: [{ field: '/sentAt' }] });
    // so is a timestamp moved back by a sentAt that shows the clock far ahead
    const ahead = await ingest(s.url, '/v1/track', { anonymousId: 'anon-skew', event: 'Product Viewed', properties: { product_id: 'z9' }, timestamp: '-000001-01-01T00:00:00Z', sentAt: '+275760-09-13T00:00:00.000Z' });
    expect(ahead.status).toBe(400);
    expect(ahead.json.error).toMatchObject({ code: 'KAIROS_ERR_VALIDATION', details: [{ field: '/sentAt' }] });
    expect((await api(s.url, 'GET', '/v1/profiles/anon-skew')).status).toBe(404);
    expect((await api(s.url, 'GET', '/v1/items/z9')).status).toBe(404);
    expect((await ingest(s.url, '/v1/track', { userId: 'clock', event: 'Product Viewed', properties: { product_id: 'p1' }, timestamp: '2026-01-02 03:04:05+01:00' })).status).toBe(200);
    const profile = await api(s.url, 'GET', '/v1/profiles/clock');
    expect(profile.status).toBe(200);
    expect(profile.json.features.firstSeen).toBe('2026-01-02T02:04:05.000Z');
  });
});

describe('order values', () => {
  it('of unpriced products are the order revenue shared among them, and a sum that would overflow stays a number', async () => {
    const s = await boot();
    const order = (userId: string, messageId: string, properties: Record<string, unknown>) => ingest(s.url, '/v1/track', { userId, messageId, event: 'Order Completed', properties });
    expect((await order('o1', 'a', { order_id: 'A', revenue: 50, products: [{ product_id: 'q1' }, { product_id: 'q2' }] })).status).toBe(200);
    expect((await api(s.url, 'GET', '/v1/profiles/o1')).json.features.rfm).toMatchObject({ frequency: 1, monetary: 50 });
    // one priced product: the prices count, not the revenue
    expect((await order('o2', 'b', { order_id: 'B', revenue: 50, products: [{ product_id: 'q1', price: 10, quantity: 2 }, { product_id: 'q2' }] })).status).toBe(200);
    expect((await api(s.url, 'GET', '/v1/profiles/o2')).json.features.rfm.monetary).toBe(20);
    // a line whose value overflows counts nothing; the sum of finite lines never becomes Infinity
    expect((await order('o3', 'c', { order_id: 'C', products: [{ product_id: 'big', price: 1e308, quantity: 10 }] })).status).toBe(200);
    expect((await order('o3', 'd', { order_id: 'D', products: [{ product_id: 'big', price: 1e308 }] })).status).toBe(200);
    expect((await order('o3', 'e', { order_id: 'E', products: [{ product_id: 'big', price: 1e308 }] })).status).toBe(200);
    expect((await order('o3', 'f', { order_id: 'F', products: [{ product_id: 'q1', price: 5 }] })).status).toBe(200);
    const rfm = (await api(s.url, 'GET', '/v1/profiles/o3')).json.features.rfm;
    expect(rfm.frequency).toBe(4);
    expect(rfm.monetary).toBe(1e308 + 5);
  });
});

describe('recommendation rules', () => {
  const items = (list: Array<[string, Record<string, unknown>]>) => ({ items: list.map(([itemId, properties]) => ({ itemId, properties })) });
  const ids = (r: { json: { items: Array<{ itemId: string }> } }) => r.json.items.map((i) => i.itemId);

  it('leave out what a holdout or non-personalized variant bought; an inline event withholding consent makes the answer non-personal', async () => {
    const s = await boot();
    expect((await api(s.url, 'POST', '/v1/items', items([['p0', { name: 'P0' }], ['p1', { name: 'Trail Shoe', category: 'B' }], ['p2', { name: 'P2' }], ['p3', { name: 'P3' }], ['p4', { name: 'Trail Sock', category: 'B' }]]))).status).toBe(200);
    expect((await ingest(s.url, '/v1/track', { userId: 'buyer', event: 'Order Completed', properties: { products: [{ product_id: 'p3' }] } })).status).toBe(200);
    expect((await api(s.url, 'PUT', '/v1/experiments/np', { placement: 'exp', variants: [{ id: 'np', weight: 1, config: { personalized: false } }], status: 'running', metrics: ['Order Completed'] })).status).toBe(200);
    const variant = await api(s.url, 'POST', '/v1/recommendations', { userId: 'buyer', count: 4, context: { placement: 'exp' } });
    expect(variant.json.experiment).toMatchObject({ id: 'np', variant: 'np' });
    expect(ids(variant)).not.toContain('p3');
    expect(ids(variant)).toHaveLength(4);
    // an inline view that withholds consent: not used (no reminder of it, nothing similar to it)
    const view = { event: 'Product Viewed', properties: { product_id: 'p1' } };
    const consenting = await api(s.url, 'POST', '/v1/recommendations', { userId: 'c1', count: 3, events: [view] });
    expect(consenting.json.items.flatMap((i: { reasons: Array<{ itemId?: string }> }) => i.reasons).some((r: { itemId?: string }) => r.itemId === 'p1')).toBe(true);
    const withheld = await api(s.url, 'POST', '/v1/recommendations', { userId: 'c1', count: 3, events: [{ ...view, context: { consent: { categoryPreferences: { Personalization: false } } } }] });
    expect(withheld.status).toBe(200);
    expect(withheld.json.items.flatMap((i: { reasons: Array<{ itemId?: string }> }) => i.reasons).some((r: { itemId?: string }) => r.itemId === 'p1')).toBe(false);
    expect(withheld.json.strategy).not.toMatch(/in-session|content/);
  });

  it('cap a category beyond the first 2,000 candidates, and count its names as filters do', async () => {
    const s = await boot();
    const base = Date.parse('2024-01-01T00:00:00Z');
    const catalog: Array<[string, Record<string, unknown>]> = [];
    for (let i = 0; i < 5; i++) catalog.push([`bag${i}`, { category: 'Bags', createdAt: new Date(base + i * 1000).toISOString() }]);
    // 2,100 newer shoes: every candidate the scan reads before its limit is a shoe
    for (let i = 0; i < 2100; i++) catalog.push([`shoe${i}`, { category: 'Shoes', createdAt: new Date(base + 86_400_000 + i * 1000).toISOString() }]);
    expect((await api(s.url, 'POST', '/v1/items', items(catalog))).status).toBe(200);
    const list = ids(await api(s.url, 'POST', '/v1/recommendations', { count: 10 }));
    expect(list.filter((id) => id.startsWith('bag'))).toHaveLength(5);
    expect(list.filter((id) => id.startsWith('shoe'))).toHaveLength(5);

    const t = await boot();
    expect((await api(t.url, 'POST', '/v1/items', items([
      ['s0', { category: 'Shoes', createdAt: '2024-02-01T00:00:00Z' }], ['s1', { category: 'ＳＨＯＥＳ', createdAt: '2024-02-01T00:00:01Z' }],
      ['s2', { category: ' Ｓｈｏｅｓ', createdAt: '2024-02-01T00:00:02Z' }], ['s3', { category: 'Shoes', createdAt: '2024-02-01T00:00:03Z' }],
      ['b0', { category: 'Bags', createdAt: '2024-01-01T00:00:00Z' }], ['b1', { category: 'Bags', createdAt: '2024-01-01T00:00:01Z' }],
    ]))).status).toBe(200);
    expect(ids(await api(t.url, 'POST', '/v1/recommendations', { count: 10, filter: { category: 'shoes' } })).sort()).toEqual(['s0', 's1', 's2', 's3']);
    const capped = ids(await api(t.url, 'POST', '/v1/recommendations', { count: 4 }));
    expect(capped.filter((id) => id.startsWith('s'))).toHaveLength(2);
    expect(capped.filter((id) => id.startsWith('b'))).toHaveLength(2);
  });

  it('refuse item ids over 512 characters wherever a request names one', async () => {
    const s = await boot();
    const long = 'x'.repeat(600);
    const r = await api(s.url, 'POST', '/v1/recommendations', { context: { itemId: long }, filter: { exclude: ['ok', long] } });
    expect(r.status).toBe(400);
    expect(r.json.error.details.map((d: { field: string }) => d.field)).toEqual(['/context/itemId', '/filter/exclude/1']);
    for (const [method, path] of [['GET', `/v1/items/${long}/similar`], ['GET', `/v1/items/${long}`], ['DELETE', `/v1/items/${long}`]] as const) {
      expect((await api(s.url, method, path)).status, `${method} ${path.slice(0, 20)}`).toBe(400);
    }
    // 512 four-byte characters are still an id
    expect((await api(s.url, 'GET', `/v1/items/${encodeURIComponent('😀'.repeat(512))}`)).status).toBe(404);
  });
});

describe('experiments', () => {
  it('count a person named by two ids once, and erasing either id removes the exposure under both', async () => {
    const s = await boot();
    await api(s.url, 'PUT', '/v1/actions/o2', { placements: ['banner'], channel: 'web', content: {} });
    expect((await api(s.url, 'PUT', '/v1/experiments/y', twoVariants('banner'))).status).toBe(200);
    await ingest(s.url, '/v1/track', { anonymousId: 'anon-7', event: 'Product Viewed', properties: { product_id: 'p1' } });
    expect((await api(s.url, 'POST', '/v1/decide', { anonymousId: 'anon-7', userId: 'user-7', placement: 'banner' })).status).toBe(200);
    // a person never seen before, named by both ids
    expect((await api(s.url, 'POST', '/v1/decide', { anonymousId: 'anon-8', userId: 'user-8', placement: 'banner' })).status).toBe(200);
    await ingest(s.url, '/v1/track', { anonymousId: 'anon-7', event: 'Signed Up' });
    const results = (await api(s.url, 'GET', '/v1/experiments/y/results')).json;
    const exposures = results.variants.reduce((n: number, v: { exposures: number }) => n + v.exposures, 0);
    const conversions = results.variants.reduce((n: number, v: { metrics: Record<string, { conversions: number }> }) => n + v.metrics['Signed Up']!.conversions, 0);
    expect([exposures, conversions]).toEqual([2, 1]);
    expect((await api(s.url, 'DELETE', '/v1/profiles/anon-7')).status).toBe(200);
    const left = await api(s.url, 'GET', '/v1/profiles/user-7/export');
    expect(left.status === 404 || !left.text.includes('experiment_assignment')).toBe(true);
    const after = (await api(s.url, 'GET', '/v1/experiments/y/results')).json;
    expect(after.variants.reduce((n: number, v: { exposures: number }) => n + v.exposures, 0)).toBe(1);
    // and after a restart, from the store
    const again = await resources.restart(s);
    expect((await api(again.url, 'GET', '/v1/experiments/y/results')).json.variants.reduce((n: number, v: { exposures: number }) => n + v.exposures, 0)).toBe(1);
  });

  it('defined concurrently cannot both run on one placement', async () => {
    const s = await boot();
    const answers = await Promise.all([0, 1, 2, 3, 4].map((i) => api(s.url, 'PUT', `/v1/experiments/race-${i}`, twoVariants('race'))));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409, 409, 409]);
    const running = (await api(s.url, 'GET', '/v1/experiments')).json.experiments.filter((e: { placement: string; status: string }) => e.placement === 'race' && e.status === 'running');
    expect(running).toHaveLength(1);
  });

  it('count an absurd revenue as none, so every result stays a number', async () => {
    const s = await boot();
    await api(s.url, 'PUT', '/v1/actions/o', { placements: ['rv'], channel: 'web', content: {} });
    expect((await api(s.url, 'PUT', '/v1/experiments/rev', twoVariants('rv', { metrics: [{ event: 'Order Completed', revenueProperty: 'revenue' }] }))).status).toBe(200);
    const people = Array.from({ length: 20 }, (_, i) => `rv${i}`);
    for (const who of people) expect((await api(s.url, 'POST', '/v1/decide', { userId: who, placement: 'rv' })).status).toBe(200);
    const batch = people.map((who, i) => ({ type: 'track', userId: who, event: 'Order Completed', messageId: `rv-${i}`, properties: { revenue: i === 0 ? 1e200 : 10 + i } }));
    expect((await ingest(s.url, '/v1/batch', { batch })).status).toBe(200);
    const results = (await api(s.url, 'GET', '/v1/experiments/rev/results')).json;
    const json = JSON.stringify(results);
    expect(json).not.toContain('null');
    const total = results.variants.reduce((sum: number, v: { exposures: number; metrics: Record<string, { revenuePerPerson: number }> }) => sum + v.exposures * v.metrics['Order Completed']!.revenuePerPerson, 0);
    // the 1e200 order counts as no revenue: the other 19 orders sum to Σ(10 + i), i = 1..19
    expect(total).toBeCloseTo(19 * 10 + 190, 6);
  });

  it('give always-valid p-values that depend on the data only: not on when anyone looked, nor on restarts or edits', async () => {
    const looked = await boot();
    const unlooked = await boot();
    const pValues = async (s: TestServer) => (await api(s.url, 'GET', '/v1/experiments/z/results')).json.variants.map((v: { variant: string; metrics: Record<string, { pValue?: unknown }> }) => [v.variant, v.metrics['Signed Up']!.pValue]);
    for (const s of [looked, unlooked]) {
      await api(s.url, 'PUT', '/v1/actions/o', { placements: ['zp'], channel: 'web', content: {} });
      expect((await api(s.url, 'PUT', '/v1/experiments/z', twoVariants('zp', { seed: 'fixed' }))).status).toBe(200);
    }
    // 200 people exposed; then one arm converts strongly, then the other catches up
    const people = Array.from({ length: 200 }, (_, i) => `zu${i}`);
    const variantOf = new Map<string, string>();
    for (const s of [looked, unlooked]) for (const who of people) variantOf.set(who, (await api(s.url, 'POST', '/v1/decide', { userId: who, placement: 'zp' })).json.experiment.variant);
    // conversions after every exposure, and (no event is dated after its receipt) before they are sent
    const exposed = Date.now();
    await new Promise((r) => setTimeout(r, 1000));
    const signUps = (variant: string, from: number) =>
      people.filter((w) => variantOf.get(w) === variant).slice(0, 60).map((w, i) => ({ type: 'track', userId: w, event: 'Signed Up', messageId: `su-${w}`, timestamp: new Date(exposed + from + i * 5).toISOString() }));
    const first = signUps('b', 0);
    const second = signUps('a', 500);
    await ingest(looked.url, '/v1/batch', { batch: first });
    const early = await pValues(looked);
    await ingest(looked.url, '/v1/batch', { batch: second });
    await ingest(unlooked.url, '/v1/batch', { batch: [...second, ...first] });
    const final = await pValues(looked);
    expect(await pValues(unlooked)).toEqual(final);
    // the strong early evidence is not lost once the other arm catches up
    const pb = (rows: Array<[string, { conversionRate: number } | undefined]>) => rows.find(([v]) => v === 'b')![1]!.conversionRate;
    expect(pb(final)).toBe(pb(early));
    expect(pb(final)).toBeLessThan(0.05);
    const restarted = await resources.restart(looked);
    expect(await pValues(restarted)).toEqual(final);
    expect((await api(restarted.url, 'PUT', '/v1/experiments/z', twoVariants('zp', { seed: 'fixed', status: 'stopped' }))).status).toBe(200);
    expect(await pValues(restarted)).toEqual(final);
  });
});

describe('decisions', () => {
  it('credit no reward timestamped well before the decision, see the request channel, and keep the consistency window across a restart', async () => {
    let s = await boot();
    for (const [id, channel] of [['w1', 'web'], ['m1', 'email']] as const) expect((await api(s.url, 'PUT', `/v1/actions/${id}`, { placements: ['wp'], channel, content: {} })).status).toBe(200);
    await ingest(s.url, '/v1/track', { userId: 'wu', event: 'Product Viewed', properties: { product_id: 'p1' } });
    const d = (await api(s.url, 'POST', '/v1/decide', { userId: 'wu', placement: 'wp', channel: 'web' })).json;
    const click = (days: number, id: string) => ({ userId: 'wu', event: 'Promotion Clicked', messageId: id, timestamp: new Date(Date.now() - days * 86_400_000).toISOString(), properties: { decision_id: d.decisionId } });
    await ingest(s.url, '/v1/track', click(20, 'early-click'));
    const rewardsOf = async (server: TestServer) => ((await api(server.url, 'GET', '/v1/profiles/wu/export')).text).split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((r) => r.type === 'decision' && r.decisionId === d.decisionId)?.rewards;
    expect(await rewardsOf(s)).toBeUndefined();
    // a minute of clock disagreement is tolerated
    await ingest(s.url, '/v1/track', click(1 / 1440, 'skewed-click'));
    expect(await rewardsOf(s)).toEqual({ w1: 1 });
    // the channel the request names is in the context vector
    const xOf = async (channel: string) => {
      const id = (await api(s.url, 'POST', '/v1/decide', { userId: 'wu', placement: 'wp', channel, context: { page: channel } })).json.decisionId;
      return ((await api(s.url, 'GET', '/v1/profiles/wu/export')).text).split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((r) => r.decisionId === id)?.x;
    };
    expect(await xOf('web')).not.toEqual(await xOf('email'));
    // consistency: the same request within the window gets the same actions, also after a restart
    const ask = (server: TestServer, who: string) => api(server.url, 'POST', '/v1/decide', { userId: who, placement: 'wp', count: 1 });
    const people = Array.from({ length: 12 }, (_, i) => `cu${i}`);
    const shown = new Map<string, string>();
    for (const who of people) shown.set(who, (await ask(s, who)).json.actions[0].actionId);
    s = await resources.restart(s);
    for (const who of people) {
      const again = (await ask(s, who)).json.actions[0];
      expect([again.actionId, again.reasons[0].type], who).toEqual([shown.get(who), 'consistent']);
    }
  });
});

describe('feedback', () => {
  const setup = async (s: TestServer) => {
    const items = Array.from({ length: 8 }, (_, i) => ({ itemId: `f${i}`, properties: { name: `F ${i}`, category: 'C' } }));
    expect((await api(s.url, 'POST', '/v1/items', { items })).status).toBe(200);
    // skewed popularity and recency, so that shown items carry different generator signals
    const crowd = Array.from({ length: 8 }, (_, k) => Array.from({ length: 3 * (8 - k) }, (_, j) => ({ type: 'track', anonymousId: `bg${j % 10}`, event: 'Product Viewed', messageId: `bg-${k}-${j}`, timestamp: new Date(Date.now() - (k + 1) * 3_600_000 - j * 60_000).toISOString(), properties: { product_id: `f${k}` } }))).flat();
    expect((await ingest(s.url, '/v1/batch', { batch: crowd })).status).toBe(200);
  };
  const examples = async (s: TestServer, placement: string) => ((await api(s.url, 'GET', '/v1/models')).json.blends ?? []).find((b: { placement: string }) => b.placement === placement);

  it('never learns from an outcome sent while its sender had opted out', async () => {
    const s = await boot();
    await setup(s);
    await ingest(s.url, '/v1/track', { userId: 'FA', event: 'Product Viewed', properties: { product_id: 'f1' } });
    const r = (await api(s.url, 'POST', '/v1/recommendations', { userId: 'FA', count: 5, context: { placement: 'plA' } })).json;
    await ingest(s.url, '/v1/identify', { userId: 'FA', timestamp: new Date(Date.now() - 1000).toISOString(), context: { consent: { categoryPreferences: { Personalization: true } } } });
    const optedOut = { type: 'track', event: 'Product Clicked', userId: 'FA', timestamp: new Date(Date.now() - 300_000).toISOString(), context: { consent: { categoryPreferences: { Personalization: false } } }, properties: { product_id: r.items[0].itemId, recommendation_id: r.recommendationId } };
    expect((await ingest(s.url, '/v1/batch', { batch: [optedOut] })).status).toBe(200);
    expect((await examples(s, 'plA'))?.examples ?? 0).toBe(0);
    // the same click while opted in is learned from
    const optedIn = { ...optedOut, context: {}, timestamp: new Date().toISOString(), properties: { product_id: r.items[1].itemId, recommendation_id: r.recommendationId } };
    expect((await ingest(s.url, '/v1/batch', { batch: [optedIn] })).status).toBe(200);
    expect((await examples(s, 'plA'))?.examples).toBe(1);
  });

  it('learns the same weights whatever order the outcomes arrive in', async () => {
    const [one, two] = [await boot(), await boot()];
    const now = Date.now();
    for (const [n, s] of [one, two].entries()) {
      await setup(s);
      for (let u = 0; u < 55; u++) {
        const who = `gu${u}`;
        const r = (await api(s.url, 'POST', '/v1/recommendations', { userId: who, count: 5, context: { placement: 'ord' } })).json;
        const item = r.items[u % 3 === 0 ? 1 : 0].itemId;
        const view = { type: 'track', userId: who, event: 'Product Viewed', messageId: `v-${who}`, timestamp: new Date(now - 60_000).toISOString(), properties: { product_id: item, recommendation_id: r.recommendationId } };
        const add = { type: 'track', userId: who, event: 'Product Added', messageId: `a-${who}`, timestamp: new Date(now - 30_000).toISOString(), properties: { product_id: item, recommendation_id: r.recommendationId } };
        for (const e of n === 0 ? [view, add] : [add, view]) expect((await ingest(s.url, '/v1/batch', { batch: [e] })).status).toBe(200);
      }
    }
    const [a, b] = [await examples(one, "ord"), await examples(two, "ord")];
    expect(a.examples).toBe(55);
    expect(a.learning).toBe(true);
    expect(b.examples).toBe(55);
    // equal up to the drift of decayed signals between the two servers' requests (made seconds apart)
    for (const [g, w] of Object.entries(a.weights as Record<string, number>)) expect(b.weights[g], g).toBeCloseTo(w, 4);
  });
});

describe('impressions', () => {
  it('of an erased person are gone from every id the request named', async () => {
    const s = await boot();
    await ingest(s.url, '/v1/track', { anonymousId: 'victimA', event: 'Product Viewed', properties: { product_id: 'secret-item', name: 'Secret' } });
    await ingest(s.url, '/v1/track', { userId: 'otherU', event: 'Product Viewed', properties: { product_id: 'p1' } });
    expect((await api(s.url, 'POST', '/v1/recommendations', { userId: 'bystanderU', anonymousId: 'victimA', count: 3 })).status).toBe(200);
    expect((await api(s.url, 'DELETE', '/v1/profiles/victimA')).status).toBe(200);
    const left = await api(s.url, 'GET', '/v1/profiles/bystanderU/export');
    expect(left.status === 404 || !left.text.includes('victimA')).toBe(true);
  });
});

describe('catalog', () => {
  it('an item deleted through the API stays deleted when events still name it, also after a restart, until it is put again', async () => {
    let s = await boot();
    expect((await api(s.url, 'POST', '/v1/items', { items: [{ itemId: 'keep1', properties: { name: 'K1' } }, { itemId: 'gone', properties: { name: 'Discontinued' } }] })).status).toBe(200);
    expect((await api(s.url, 'DELETE', '/v1/items/gone')).status).toBe(200);
    const mentions = [
      { anonymousId: 'old-tab', event: 'Product Viewed', properties: { product_id: 'gone' } },
      { anonymousId: 'old-tab', event: 'Product Viewed', properties: { product_id: 'gone', name: 'Discontinued again', price: 3 } },
    ];
    for (const m of mentions) expect((await ingest(s.url, '/v1/track', m)).status).toBe(200);
    const listed = async (server: TestServer) => (await api(server.url, 'POST', '/v1/recommendations', { count: 5 })).json.items.map((i: { itemId: string }) => i.itemId);
    expect((await api(s.url, 'GET', '/v1/items/gone')).status).toBe(404);
    expect(await listed(s)).not.toContain('gone');
    s = await resources.restart(s);
    expect((await api(s.url, 'GET', '/v1/items/gone')).status).toBe(404);
    expect(await listed(s)).not.toContain('gone');
    // the shop brings it back
    expect((await api(s.url, 'PUT', '/v1/items/gone', { properties: { name: 'Back' } })).status).toBe(200);
    expect((await api(s.url, 'GET', '/v1/items/gone')).json.properties.name).toBe('Back');
    expect(await listed(s)).toContain('gone');
  });
});

describe('catalog writes racing events', () => {
  it('an API write stays the item, in memory and after a restart, when events name the item while it commits', async () => {
    const s = await boot();
    const n = 200;
    const writes: Array<Promise<{ status: number }>> = [];
    for (let i = 0; i < n; i++) {
      writes.push(api(s.url, 'PUT', `/v1/items/r${i}`, { properties: { name: 'from-api' } }));
      await new Promise((r) => setImmediate(r));
      writes.push(ingest(s.url, '/v1/track', { userId: `u${i}`, event: 'Product Viewed', properties: { product_id: `r${i}`, name: 'from-event' } }));
    }
    expect(new Set((await Promise.all(writes)).map((r) => r.status))).toEqual(new Set([200]));
    const names = async (t: TestServer) => {
      const out = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const name = (await api(t.url, 'GET', `/v1/items/r${i}`)).json.properties.name as string;
        out.set(name, (out.get(name) ?? 0) + 1);
      }
      return Object.fromEntries(out);
    };
    expect(await names(s)).toEqual({ 'from-api': n });
    expect(await names(await resources.restart(s))).toEqual({ 'from-api': n });
  });
});

describe('shutdown', () => {
  it('a request reaching a closing server on an open connection gets the coded 503, while the one under way finishes', async () => {
    const s = await boot();
    const { port } = new URL(s.url);
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (received += d));
    const body = JSON.stringify({ userId: 'slow', event: 'Product Viewed', properties: { product_id: 'p1' } });
    // the first request's body arrives in two parts: the server is asked to close in between
    socket.write(`POST /v1/track HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`);
    await new Promise((r) => setTimeout(r, 50));
    const closed = resources.stop(s);
    await new Promise((r) => setTimeout(r, 50));
    socket.write(`${body.slice(10)}GET /readyz HTTP/1.1\r\nhost: x\r\n\r\n`);
    await Promise.race([once(socket, 'close'), new Promise((r) => setTimeout(r, 5000))]);
    await closed;
    const answers = received.split(/(?=HTTP\/1\.1 )/);
    expect(answers[0]).toMatch(/^HTTP\/1\.1 200/);
    expect(answers[1]).toMatch(/^HTTP\/1\.1 503/);
    expect(answers[1]).toContain('"code":"KAIROS_ERR_NOT_READY"');
    socket.destroy();
  });
});

describe('metrics', () => {
  it('never show another workspace’s placement names on the keyless /metrics', async () => {
    const s = await boot();
    const created = await api(s.url, 'POST', '/v1/workspaces', { name: 'tenant b' });
    expect(created.status).toBe(201);
    expect((await api(s.url, 'POST', '/v1/recommendations', { anonymousId: 'x', context: { placement: 'secret-tenant-b-campaign' }, count: 1 }, created.json.adminKey)).status).toBe(200);
    expect((await api(s.url, 'POST', '/v1/recommendations', { anonymousId: 'x', context: { placement: 'home-shelf' }, count: 1 })).status).toBe(200);
    const text = (await send(s.url, 'GET', '/metrics', undefined, {})).text;
    expect(text).not.toContain('secret-tenant-b');
    expect(text).toContain('placement="home-shelf"');
    expect(text).toContain('placement="other"');
  });
});

describe('popular and trending', () => {
  it.each(['erasure', 'opt-out'])('forget a person at once after %s, not at the next recompute', async (how) => {
    const s = await boot();
    const created = '2026-01-01T00:00:00Z';
    expect((await api(s.url, 'POST', '/v1/items', { items: [{ itemId: 'i1', properties: { name: 'One', createdAt: created } }, { itemId: 'i2', properties: { name: 'Two', createdAt: created } }] })).status).toBe(200);
    const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
    const view = (who: string, id: string, item: string, minutesAgo: number) => ({ type: 'track', anonymousId: who, event: 'Product Viewed', messageId: id, timestamp: at(minutesAgo), properties: { product_id: item } });
    const batch = [...[0, 1, 2, 3, 4].map((i) => view('x', `x${i}`, 'i1', 50 - i)), view('y', 'y0', 'i2', 45), view('y', 'y1', 'i2', 44), view('y', 'y2', 'i1', 43)];
    expect((await ingest(s.url, '/v1/batch', { batch })).status).toBe(200);
    const ask = async () => (await api(s.url, 'POST', '/v1/recommendations', { anonymousId: 'nobody', context: { placement: 'home' }, count: 2 })).json.items.map((i: { itemId: string }) => i.itemId);
    expect(await ask()).toEqual(['i1', 'i2']);
    if (how === 'erasure') expect((await api(s.url, 'DELETE', '/v1/profiles/x')).status).toBe(200);
    else expect((await ingest(s.url, '/v1/track', { anonymousId: 'x', event: 'Consent Changed', context: { consent: { categoryPreferences: { Personalization: false } } } })).status).toBe(200);
    expect(await ask()).toEqual(['i2', 'i1']);
  });
});
