/**
 * Online learning of a placement's blend from attributed outcomes, through the real server: clicks
 * carrying `properties.recommendation_id` move the weights toward the generators that scored the
 * clicked items, the learned weights serve the placement, survive a restart unchanged (replay), and an
 * erased person's clicks leave them.
 */
import { describe, expect, it } from 'vitest';
import { api, testResources } from './helpers/server.ts';
import { ingest } from './helpers/privacy.ts';
import { clickPopular, FEEDBACK_PLACEMENT, learnedBlend, seedFeedbackShop } from './helpers/feedback.ts';
import { DEFAULT_PLACEMENT_WEIGHTS } from '../src/recommend/rank/blend.ts';
import { join } from 'node:path';
import { LmdbStore } from '../src/store/lmdb/lmdb-store.ts';

const resources = testResources();

const PLACEMENT = FEEDBACK_PLACEMENT;
const learned = learnedBlend;
const seed = seedFeedbackShop;

describe('blend learning from attributed feedback (real server)', () => {
  it('clicks shift the placement\'s weights, the weights survive a restart exactly, and erasure takes a person\'s clicks back out', async () => {
    let s = await resources.server();
    await seed(s);
    expect(await learned(s)).toBeUndefined();
    let clicks = 0;
    for (let i = 0; i < 70; i++) if (await clickPopular(s, `clicker-${i}`)) clicks++;
    expect(clicks).toBeGreaterThanOrEqual(50);
    const after = (await learned(s))!;
    expect(after.examples).toBe(clicks);
    expect(after.learning).toBe(true);
    // what people clicked was ranked by popularity, not co-visitation: the blend moved that way
    const ratio = (w: Record<string, number>) => ((w.popular ?? 0) + (w.trending ?? 0)) / ((w.covisit ?? 0) + (w['session-knn'] ?? 0));
    // "feed" is not configured, so it starts from the default placement's weights
    expect(ratio(after.weights)).toBeGreaterThan(ratio(DEFAULT_PLACEMENT_WEIGHTS.default!));

    // a duplicate or second outcome for the same shown item teaches nothing more
    const again = await api(s.url, 'POST', '/v1/recommendations', { anonymousId: 'clicker-0', context: { placement: PLACEMENT }, count: 6 });
    expect(again.status).toBe(200);
    expect((await learned(s))!.examples).toBe(clicks);

    s = await resources.restart(s);
    expect(await learned(s)).toEqual(after);

    // erasing every clicker removes their examples: nothing is left to learn from
    for (let i = 0; i < 70; i++) await api(s.url, 'DELETE', `/v1/profiles/clicker-${i}`);
    expect(await learned(s)).toBeUndefined();
  });

  it('a click from someone else, or on an item that was not shown, is not feedback', async () => {
    const s = await resources.server();
    await seed(s);
    await ingest(s.url, '/v1/track', { anonymousId: 'viewer', event: 'Product Viewed', properties: { product_id: 'a' } });
    const r = await api(s.url, 'POST', '/v1/recommendations', { anonymousId: 'viewer', context: { placement: PLACEMENT }, count: 3 });
    const shown = (r.json.items as Array<{ itemId: string }>).map((i) => i.itemId);
    await ingest(s.url, '/v1/track', { anonymousId: 'stranger', event: 'Product Clicked', properties: { product_id: shown[0], recommendation_id: r.json.recommendationId } });
    const unshown = ['c1', 'c2', 'c3', 'c4', 'p1', 'p2', 'p3', 'p4'].find((x) => !shown.includes(x))!;
    await ingest(s.url, '/v1/track', { anonymousId: 'viewer', event: 'Product Clicked', properties: { product_id: unshown, recommendation_id: r.json.recommendationId } });
    expect(await learned(s)).toBeUndefined();
    await ingest(s.url, '/v1/track', { anonymousId: 'viewer', event: 'Product Clicked', properties: { product_id: shown[0], recommendation_id: r.json.recommendationId } });
    expect((await learned(s))!.examples).toBe(1);
  });

  it('outcome records of the earliest versions, which name no sender, still teach after an upgrade', async () => {
    const s = await resources.server(resources.dataDir());
    await resources.stop(s);
    // as the earliest versions stored an outcome: kept only once credited, keyed without a messageId
    // hash, and naming no sender
    const store = new LmdbStore(join(s.dataDir, 'store'));
    const legacy = { recommendationId: 'rec_legacy', placement: PLACEMENT, ids: ['legacy-person'], itemId: 'i1', t: Date.now() - 3_600_000, messageId: 'legacy-m1', example: { chosen: { popular: 1 }, others: [{ covisit: 1 }], weight: 1 } };
    await store.commit('default', [{ table: 'impressions', key: 'fb\u0000rec_legacy\u0000i1', value: legacy }]);
    await store.close();
    const restarted = await resources.server(s.dataDir);
    expect(await learned(restarted)).toMatchObject({ placement: PLACEMENT, examples: 1 });
  });
});
