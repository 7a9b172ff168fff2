/**
 * Experiments as they change over their life, through the real server (fixes from adversarial
 * reviews): a variant removed mid-test, a weight ramp, a stop with conversions still on their way,
 * consent withheld by an inline event, and experiments stored by an earlier version (which kept no
 * running periods or allocations) stopped, restarted and ramped.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LmdbStore } from '../src/store/lmdb/lmdb-store.ts';
import { api, testResources, type TestServer } from './helpers/server.ts';
import { ingest } from './helpers/privacy.ts';

const resources = testResources();

const experiment = (variants: Array<[string, number]>, over: Record<string, unknown> = {}) => ({
  placement: 'home',
  variants: variants.map(([id, weight]) => ({ id, weight, config: {} })),
  holdoutPercent: 0,
  metrics: ['Signed Up'],
  status: 'running',
  ...over,
});
const put = (s: TestServer, body: unknown) => api(s.url, 'PUT', '/v1/experiments/e', body);
const recommend = async (s: TestServer, who: Record<string, unknown>): Promise<string | undefined> => {
  const r = await api(s.url, 'POST', '/v1/recommendations', { ...who, context: { placement: 'home' }, count: 2 });
  expect(r.status).toBe(200);
  return r.json.experiment?.variant;
};
const results = async (s: TestServer) => {
  const r = await api(s.url, 'GET', '/v1/experiments/e/results');
  expect(r.status).toBe(200);
  return r.json as { variants: Array<{ variant: string; exposures: number; metrics: Record<string, { conversions: number }> }>; sampleRatio: { mismatch: boolean; pValue: number } };
};
const byVariant = (r: Awaited<ReturnType<typeof results>>) => Object.fromEntries(r.variants.map((v) => [v.variant, v]));

describe('experiments over their life', () => {
  it('people of a removed variant are assigned afresh once, and counted there with their conversions', async () => {
    const s = await resources.server();
    expect((await put(s, experiment([['A', 1], ['B', 1]]))).status).toBe(200);
    const first = new Map<number, string>();
    // first seen anonymous, then logged in: the first exposure is held under the anonymous id
    for (let i = 0; i < 30; i++) {
      first.set(i, (await recommend(s, { anonymousId: `r-a-${i}` }))!);
      expect((await ingest(s.url, '/v1/identify', { anonymousId: `r-a-${i}`, userId: `r-${i}` })).status).toBe(200);
    }
    const moved = [...first].filter(([, v]) => v === 'B').map(([i]) => i);
    expect(moved.length).toBeGreaterThan(5);
    expect((await put(s, experiment([['A', 1], ['C', 1]]))).status).toBe(200);
    const second = new Map<number, string>();
    for (let i = 0; i < 30; i++) second.set(i, (await recommend(s, { userId: `r-${i}` }))!);
    for (const [i, v] of first) if (v === 'A') expect(second.get(i)).toBe('A');
    for (const i of moved) expect(['A', 'C']).toContain(second.get(i));
    // sticky from then on: a third request changes nothing, and neither do the results
    for (let i = 0; i < 30; i++) expect(await recommend(s, { userId: `r-${i}` })).toBe(second.get(i));
    for (let i = 0; i < 30; i++) expect((await ingest(s.url, '/v1/track', { userId: `r-${i}`, event: 'Signed Up' })).status).toBe(200);
    const before = await results(s);
    for (const i of [0, 1, 2]) await recommend(s, { userId: `r-${i}` });
    expect(await results(s)).toEqual(before);
    const v = byVariant(before);
    const count = (x: string) => [...second.values()].filter((y) => y === x).length;
    expect(v.A!.exposures).toBe(count('A'));
    expect(v.C!.exposures).toBe(count('C'));
    expect(v.C!.exposures).toBeGreaterThan(0);
    expect(v.C!.metrics['Signed Up']!.conversions).toBe(count('C'));
    expect(v.A!.metrics['Signed Up']!.conversions).toBe(count('A'));
  });

  it('a weight ramp is no sample-ratio mismatch: each person is expected where the weights of their exposure put them', async () => {
    const s = await resources.server();
    expect((await put(s, experiment([['A', 50], ['B', 50]]))).status).toBe(200);
    for (let i = 0; i < 150; i++) await recommend(s, { userId: `ramp-a-${i}` });
    expect((await put(s, experiment([['A', 90], ['B', 10]]))).status).toBe(200);
    for (let i = 0; i < 150; i++) await recommend(s, { userId: `ramp-b-${i}` });
    const r = await results(s);
    expect(byVariant(r).A!.exposures).toBeGreaterThan(180);
    expect(r.sampleRatio.mismatch).toBe(false);
    expect(r.sampleRatio.pValue).toBeGreaterThan(0.001);
    // another change of weights: people already exposed keep their variant and their expectation
    expect((await put(s, experiment([['A', 1], ['B', 99]]))).status).toBe(200);
    for (let i = 0; i < 150; i++) await api(s.url, 'POST', '/v1/recommendations', { userId: `ramp-a-${i}`, context: { placement: 'home' } });
    expect((await results(s)).sampleRatio.mismatch).toBe(false);
    const edited = (await api(s.url, 'GET', '/v1/experiments/e')).json;
    expect(edited.allocations).toHaveLength(3);
  });

  it('a conversion sent while the experiment ran counts however late it arrives; one sent after the stop does not', async () => {
    const s = await resources.server();
    expect((await put(s, experiment([['A', 1], ['B', 1]]))).status).toBe(200);
    for (const id of ['l-a', 'l-b', 'l-c']) await recommend(s, { userId: id });
    const sent = new Date(Date.now() + 1000).toISOString();
    await ingest(s.url, '/v1/track', { userId: 'l-a', event: 'Signed Up', timestamp: sent, messageId: 'late-a' });
    await new Promise((r) => setTimeout(r, 1100));
    expect((await put(s, experiment([['A', 1], ['B', 1]], { status: 'stopped' }))).status).toBe(200);
    // stamped while it ran, arriving after the stop
    await ingest(s.url, '/v1/track', { userId: 'l-b', event: 'Signed Up', timestamp: sent, messageId: 'late-b' });
    // stamped after the stop
    await ingest(s.url, '/v1/track', { userId: 'l-c', event: 'Signed Up', messageId: 'late-c' });
    const total = (r: Awaited<ReturnType<typeof results>>) => r.variants.reduce((n, v) => n + v.metrics['Signed Up']!.conversions, 0);
    expect(total(await results(s))).toBe(2);
    const again = await resources.restart(s);
    expect(total(await results(again))).toBe(2);
  });

  it('a request whose inline event withholds consent is served without the experiment and not counted as exposed', async () => {
    const s = await resources.server();
    expect((await put(s, experiment([['A', 1], ['B', 1]]))).status).toBe(200);
    const withheld = { anonymousId: 'c1', events: [{ event: 'Product Viewed', properties: { product_id: 'i1' }, context: { consent: { categoryPreferences: { Personalization: false } } } }] };
    expect(await recommend(s, withheld)).toBeUndefined();
    expect((await results(s)).variants.reduce((n, v) => n + v.exposures, 0)).toBe(0);
    expect(await recommend(s, { anonymousId: 'c2' })).toBeDefined();
  });


  it('an experiment stored by an earlier version keeps its conversions when stopped and restarted, and a ramp of it is no mismatch', async () => {
    const dir = resources.dataDir();
    await resources.stop(await resources.server(dir));
    // what an earlier version stored: no runningPeriods, no allocations; a 90/10 split, stopped now
    const created = Date.now() - 3_600_000;
    const store = new LmdbStore(join(dir, 'store'));
    const writes: Array<{ table: 'experiments' | 'assignments'; key: string; value: unknown }> = [
      { table: 'experiments', key: 'e\u0000old', value: { ...experiment([['A', 90], ['B', 10]], { status: 'stopped' }), id: 'old', createdAt: new Date(created).toISOString(), updatedAt: new Date(created + 1_800_000).toISOString() } },
    ];
    for (let i = 0; i < 200; i++) {
      const variant = i % 10 === 0 ? 'B' : 'A';
      writes.push({ table: 'assignments', key: `old\u0000o-${i}`, value: { experimentId: 'old', variant, holdout: false, at: created + 60_000 + i, group: `o-${i}`, unit: `o-${i}` } });
      if (i % 4 === 0) writes.push({ table: 'experiments', key: `c\u0000old\u0000oc-${i}`, value: { messageId: `oc-${i}`, id: `o-${i}`, event: 'Signed Up', t: created + 120_000 + i } });
    }
    await store.commit('default', writes);
    await store.close();
    const s = await resources.server(dir);
    const read = async () => (await api(s.url, 'GET', '/v1/experiments/old/results')).json as Awaited<ReturnType<typeof results>>;
    const conversions = (r: Awaited<ReturnType<typeof results>>) => r.variants.reduce((n, v) => n + v.metrics['Signed Up']!.conversions, 0);
    expect(conversions(await read())).toBe(50);
    // restarted, then ramped to 50/50: the conversions stay, and the 90/10 people are expected at 90/10
    expect((await api(s.url, 'PUT', '/v1/experiments/old', experiment([['A', 90], ['B', 10]]))).status).toBe(200);
    expect((await api(s.url, 'PUT', '/v1/experiments/old', experiment([['A', 50], ['B', 50]]))).status).toBe(200);
    const after = await read();
    expect(conversions(after)).toBe(50);
    expect(after.sampleRatio.mismatch).toBe(false);
  });
});
