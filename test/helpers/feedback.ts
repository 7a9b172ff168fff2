/**
 * A placement whose blend learns from clicks, through a real server: a shop where some items are
 * viewed together with `a` and others are merely popular, and people who view `a`, are shown a
 * list, and click an item a popularity generator put there.
 */
import { expect } from 'vitest';
import { ingest } from './privacy.ts';
import { api } from './server.ts';

export const FEEDBACK_PLACEMENT = 'feed';

export interface LearnedBlend {
  placement: string;
  examples: number;
  learning: boolean;
  weights: Record<string, number>;
}

type Item = { itemId: string; reasons: Array<{ type: string }> };

/** the learned blend of FEEDBACK_PLACEMENT, undefined before its first example */
export async function learnedBlend(s: { url: string }): Promise<LearnedBlend | undefined> {
  return ((await api(s.url, 'GET', '/v1/models')).json.blends as LearnedBlend[]).find((b) => b.placement === FEEDBACK_PLACEMENT);
}

export async function seedFeedbackShop(s: { url: string }): Promise<void> {
  const items = ['a', 'c1', 'c2', 'c3', 'c4', 'p1', 'p2', 'p3', 'p4'].map((itemId) => ({ itemId, properties: { name: `Item ${itemId}`, category: itemId.startsWith('p') ? 'Popular' : 'Coviewed' } }));
  expect((await api(s.url, 'POST', '/v1/items', { items })).status).toBe(200);
  const batch: unknown[] = [];
  // c-items are viewed together with a; p-items are popular on their own
  for (let i = 0; i < 6; i++) for (const item of ['a', `c${(i % 4) + 1}`]) batch.push({ type: 'track', anonymousId: `co-${i}`, event: 'Product Viewed', properties: { product_id: item } });
  for (let i = 0; i < 40; i++) batch.push({ type: 'track', anonymousId: `pop-${i}`, event: 'Product Viewed', properties: { product_id: `p${(i % 4) + 1}` } });
  expect((await ingest(s.url, '/v1/batch', { batch })).status).toBe(200);
}

/** a person views a, is shown a list, and clicks the first item a popularity generator put there; false when none did */
export async function clickPopular(s: { url: string }, who: string): Promise<boolean> {
  await ingest(s.url, '/v1/track', { anonymousId: who, event: 'Product Viewed', properties: { product_id: 'a' } });
  const r = await api(s.url, 'POST', '/v1/recommendations', { anonymousId: who, context: { placement: FEEDBACK_PLACEMENT }, count: 6 });
  const pick = (r.json.items as Item[]).find((i) => i.reasons.some((x) => x.type === 'popular' || x.type === 'trending') && !i.reasons.some((x) => x.type === 'viewed_together' || x.type === 'similar_session'));
  if (!pick) return false;
  const click = await ingest(s.url, '/v1/track', { anonymousId: who, event: 'Product Clicked', properties: { product_id: pick.itemId, recommendation_id: r.json.recommendationId } });
  expect(click.status).toBe(200);
  return true;
}
