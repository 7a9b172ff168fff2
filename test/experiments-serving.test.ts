/**
 * Experiments through the real server: validation, sticky assignment across identity merges and
 * restarts, the global holdout's non-personalized answers, results from real conversion events, and
 * the `experiment` field of both /v1/recommendations and /v1/decide.
 */
import { describe, expect, it } from 'vitest';
import { api, testResources, type TestServer } from './helpers/server.ts';
import { ingest, kairosCli, scanRecords, token } from './helpers/privacy.ts';
import { isHeldOut } from '../src/experiments/assign.ts';

const resources = testResources();
const boot = (): Promise<TestServer> => resources.server();

const experiment = (over: Record<string, unknown> = {}) => ({
  placement: 'home',
  variants: [
    { id: 'control', weight: 50, config: {} },
    { id: 'treatment', weight: 50, config: { placement: 'home_v2' } },
  ],
  holdoutPercent: 10,
  metrics: ['Signed Up', { event: 'Order Completed', revenueProperty: 'revenue' }],
  status: 'running',
  ...over,
});

const recommend = (s: TestServer, who: Record<string, string>, placement = 'home') => api(s.url, 'POST', '/v1/recommendations', { ...who, context: { placement }, count: 3 });

describe('experiments', () => {
  it('are validated, listed, and only one may run per placement', async () => {
    const s = await boot();
    const bad = await api(s.url, 'PUT', '/v1/experiments/x', { placement: 'home', variants: [{ id: 'holdout', weight: 1, config: {} }, { id: 'b', weight: -1, config: {} }], metrics: [], status: 'live' });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('KAIROS_ERR_VALIDATION');
    expect(bad.json.error.details.length).toBeGreaterThan(0);
    const dup = await api(s.url, 'PUT', '/v1/experiments/x', experiment({ variants: [{ id: 'holdout', weight: 1, config: {} }] }));
    expect(dup.json.error.details[0]).toMatchObject({ field: '/variants/0/id' });
    expect((await api(s.url, 'PUT', '/v1/experiments/one', experiment())).status).toBe(200);
    const rival = await api(s.url, 'PUT', '/v1/experiments/two', experiment());
    expect(rival.status).toBe(409);
    expect(rival.json.error.code).toBe('KAIROS_ERR_CONFLICT');
    expect((await api(s.url, 'PUT', '/v1/experiments/two', experiment({ status: 'draft' }))).status).toBe(200);
    expect((await api(s.url, 'GET', '/v1/experiments')).json.experiments.map((e: { id: string }) => e.id)).toEqual(['one', 'two']);
    expect((await api(s.url, 'GET', '/v1/experiments/one')).json).toMatchObject({ id: 'one', status: 'running', holdoutPercent: 10 });
    expect((await api(s.url, 'GET', '/v1/experiments/nope/results')).status).toBe(404);
  });

  it('assignment is sticky across identify and restart, the holdout gets no personalization, and results count real conversions', async () => {
    let s = await boot();
    await api(s.url, 'POST', '/v1/items', { items: ['i1', 'i2', 'i3', 'i4'].map((itemId) => ({ itemId, properties: { name: itemId, category: 'Shoes' } })) });
    expect((await api(s.url, 'PUT', '/v1/experiments/exp', experiment())).status).toBe(200);
    const variants = new Map<number, string>();
    for (let i = 0; i < 60; i++) {
      const first = await recommend(s, { anonymousId: `anon-${i}` });
      expect(first.status).toBe(200);
      expect(first.json.experiment.id).toBe('exp');
      variants.set(i, first.json.experiment.variant);
      expect(first.json.experiment.variant === 'holdout').toBe(isHeldOut(`anon-${i}`, 10));
      expect((await ingest(s.url, '/v1/identify', { anonymousId: `anon-${i}`, userId: `user-${i}` })).status).toBe(200);
      // the person logs in: the merged identity keeps the variant it was first shown
      expect((await recommend(s, { userId: `user-${i}` })).json.experiment.variant).toBe(variants.get(i));
    }
    expect(new Set(variants.values())).toEqual(new Set(['control', 'treatment', 'holdout']));
    // the other placement is not in the experiment
    expect((await recommend(s, { userId: 'user-0' }, 'cart')).json.experiment).toBeUndefined();

    // conversions: every treatment person signs up and buys for 10; control people do not
    for (let i = 0; i < 60; i++) {
      if (variants.get(i) !== 'treatment') continue;
      await ingest(s.url, '/v1/track', { userId: `user-${i}`, event: 'Signed Up', messageId: `su-${i}` });
      await ingest(s.url, '/v1/track', { userId: `user-${i}`, event: 'Order Completed', properties: { revenue: 10 }, messageId: `oc-${i}` });
      // a duplicate delivery counts once
      await ingest(s.url, '/v1/track', { userId: `user-${i}`, event: 'Order Completed', properties: { revenue: 10 }, messageId: `oc-${i}` });
    }
    // an event from before the exposure does not count
    await ingest(s.url, '/v1/track', { userId: 'user-0', event: 'Signed Up', timestamp: '2020-01-01T00:00:00Z', messageId: 'su-old' });

    s = await resources.restart(s);
    for (let i = 0; i < 5; i++) expect((await recommend(s, { anonymousId: `anon-${i}` })).json.experiment.variant).toBe(variants.get(i));
    const results = await api(s.url, 'GET', '/v1/experiments/exp/results');
    expect(results.status).toBe(200);
    const byVariant = Object.fromEntries(results.json.variants.map((v: { variant: string }) => [v.variant, v]));
    const count = (v: string) => [...variants.values()].filter((x) => x === v).length;
    expect(results.json.control).toBe('control');
    for (const v of ['control', 'treatment', 'holdout']) expect(byVariant[v].exposures).toBe(count(v));
    expect(byVariant.treatment.metrics['Signed Up']).toMatchObject({ conversions: count('treatment'), conversionRate: 1 });
    expect(byVariant.treatment.metrics['Order Completed']).toMatchObject({ conversions: count('treatment'), revenuePerPerson: 10 });
    expect(byVariant.control.metrics['Signed Up']).toMatchObject({ conversions: 0, conversionRate: 0 });
    // 100% against 0%: evidence, though the always-valid test is deliberately slow to be sure at n ≈ 25
    expect(byVariant.treatment.metrics['Signed Up'].pValue.conversionRate).toBeLessThan(1);
    expect(results.json.sampleRatio).toHaveProperty('pValue');
  });

  it('the holdout is served non-personalized recommendations and no decision; /v1/decide reports the experiment', async () => {
    const s = await boot();
    await api(s.url, 'POST', '/v1/items', { items: ['a', 'b', 'c', 'd', 'e'].map((itemId) => ({ itemId, properties: { name: itemId } })) });
    await api(s.url, 'PUT', '/v1/actions/offer', { placements: ['banner'], channel: 'web', content: { title: 'Offer' } });
    expect((await api(s.url, 'PUT', '/v1/experiments/nba', experiment({ placement: 'banner', holdoutPercent: 50 }))).status).toBe(200);
    let held = 0;
    let treated = 0;
    for (let i = 0; i < 40; i++) {
      const who = `visitor-${i}`;
      // a viewed item would be recommended "because you viewed" to anyone personalized
      await ingest(s.url, '/v1/track', { anonymousId: who, event: 'Product Viewed', properties: { product_id: 'a' } });
      const d = await api(s.url, 'POST', '/v1/decide', { anonymousId: who, placement: 'banner' });
      const r = await recommend(s, { anonymousId: who }, 'banner');
      expect(d.json.experiment).toEqual(r.json.experiment);
      if (d.json.holdout) {
        held++;
        expect(d.json.experiment.variant).toBe('holdout');
        expect(d.json.actions).toEqual([]);
        const reasons = r.json.items.flatMap((it: { reasons: Array<{ type: string }> }) => it.reasons.map((x) => x.type));
        expect(reasons.every((t: string) => ['trending', 'popular', 'new', 'exploration', 'similar_items'].includes(t) || !t.includes('viewed')), JSON.stringify(reasons)).toBe(true);
      } else {
        treated++;
        expect(d.json.actions.map((a: { actionId: string }) => a.actionId)).toEqual(['offer']);
      }
    }
    expect(held).toBeGreaterThan(5);
    expect(treated).toBeGreaterThan(5);
  });

  it('erasure removes a person\'s assignments and conversions', async () => {
    const s = await boot();
    await api(s.url, 'PUT', '/v1/experiments/exp', experiment({ holdoutPercent: 0 }));
    const who = `gone-${token()}`;
    await recommend(s, { userId: who });
    await ingest(s.url, '/v1/track', { userId: who, event: 'Signed Up' });
    const before = (await api(s.url, 'GET', '/v1/experiments/exp/results')).json.variants.reduce((n: number, v: { exposures: number }) => n + v.exposures, 0);
    expect(before).toBe(1);
    expect((await api(s.url, 'DELETE', `/v1/profiles/${who}`)).status).toBe(200);
    const after = (await api(s.url, 'GET', '/v1/experiments/exp/results')).json.variants.reduce((n: number, v: { exposures: number }) => n + v.exposures, 0);
    expect(after).toBe(0);
    await resources.stop(s);
    await kairosCli(['compact'], s.dataDir);
    expect(await scanRecords(s.dataDir, [who])).toEqual([]);
  });
});
