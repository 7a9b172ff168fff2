/**
 * Online learning of a placement's blend from attributed outcomes, through the real server: clicks
 * carrying `properties.recommendation_id` move the weights toward the generators that scored the
 * clicked items, the learned weights serve the placement, survive a restart unchanged (replay), and an
 * erased person's clicks leave them.
 */
import { describe, expect, it } from 'vitest';
import { api, testResources, type TestServer } from './helpers/server.ts';
import { ingest } from './helpers/privacy.ts';
import { DEFAULT_PLACEMENT_WEIGHTS } from '../src/recommend/rank/blend.ts';

const resources = testResources();

const PLACEMENT = 'feed';
type Item = { itemId: string; reasons: Array<{ type: string }> };
const learned = async (s: TestServer) => ((await api(s.url, 'GET', '/v1/models')).json.blends as Array<{ placement: string; examples: number; learning: boolean; weights: Record<string, number> }>).find((b) => b.placement === PLACEMENT);

async function seed(s: TestServer): Promise<void> {
  const items = ['a', 'c1', 'c2', 'c3', 'c4', 'p1', 'p2', 'p3', 'p4'].map((itemId) => ({ itemId, properties: { name: `Item ${itemId}`, category: itemId.startsWith('p') ? 'Popular' : 'Coviewed' } }));
  expect((await api(s.url, 'POST', '/v1/items', { items })).status).toBe(200);
  const batch: unknown[] = [];
  // c-items are viewed together with a; p-items are popular on their own
  for (let i = 0; i < 6; i++) for (const item of ['a', `c${(i % 4) + 1}`]) batch.push({ type: 'track', anonymousId: `co-${i}`, event: 'Product Viewed', properties: { product_id: item } });
  for (let i = 0; i < 40; i++) batch.push({ type: 'track', anonymousId: `pop-${i}`, event: 'Product Viewed', properties: { product_id: `p${(i % 4) + 1}` } });
  expect((await ingest(s.url, '/v1/batch', { batch })).status).toBe(200);
}

/** a person views a, is shown a list, and clicks the first item a popularity generator put there */
async function clickPopular(s: TestServer, who: string): Promise<boolean> {
  await ingest(s.url, '/v1/track', { anonymousId: who, event: 'Product Viewed', properties: { product_id: 'a' } });
  const r = await api(s.url, 'POST', '/v1/recommendations', { anonymousId: who, context: { placement: PLACEMENT }, count: 6 });
  const pick = (r.json.items as Item[]).find((i) => i.reasons.some((x) => x.type === 'popular' || x.type === 'trending') && !i.reasons.some((x) => x.type === 'viewed_together' || x.type === 'similar_session'));
  if (!pick) return false;
  const click = await ingest(s.url, '/v1/track', { anonymousId: who, event: 'Product Clicked', properties: { product_id: pick.itemId, recommendation_id: r.json.recommendationId } });
  expect(click.status).toBe(200);
  return true;
}

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
    const shown = (r.json.items as Item[]).map((i) => i.itemId);
    await ingest(s.url, '/v1/track', { anonymousId: 'stranger', event: 'Product Clicked', properties: { product_id: shown[0], recommendation_id: r.json.recommendationId } });
    const unshown = ['c1', 'c2', 'c3', 'c4', 'p1', 'p2', 'p3', 'p4'].find((x) => !shown.includes(x))!;
    await ingest(s.url, '/v1/track', { anonymousId: 'viewer', event: 'Product Clicked', properties: { product_id: unshown, recommendation_id: r.json.recommendationId } });
    expect(await learned(s)).toBeUndefined();
    await ingest(s.url, '/v1/track', { anonymousId: 'viewer', event: 'Product Clicked', properties: { product_id: shown[0], recommendation_id: r.json.recommendationId } });
    expect((await learned(s))!.examples).toBe(1);
  });
});
