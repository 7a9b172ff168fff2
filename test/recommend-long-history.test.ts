/**
 * A person with a long history (a heavy shopper, a bot): a request reads only the most recent
 * HISTORY_LIMIT item interactions, so it costs the same as anyone's, yet an item bought before that
 * window is still never recommended back to them. Through the real server.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_TUNING } from '../src/config.ts';
import { HISTORY_MEMO_MIN, PROFILE_MEMO_MS, personOf, Workspace } from '../src/engine/workspace.ts';
import type { StoredEvent } from '../src/ingest/event.ts';
import { buildQuery, HISTORY_LIMIT } from '../src/recommend/serving/serve.ts';
import { api, testResources } from './helpers/server.ts';
import { ingest } from './helpers/privacy.ts';

const resources = testResources();

describe('a long history', () => {
  it('excludes what was bought before the window the request reads', async () => {
    const s = await resources.server();
    const items = [{ itemId: 'star', properties: { name: 'Star Lamp', category: 'Home' } }, ...Array.from({ length: 60 }, (_, i) => ({ itemId: `v${i}`, properties: { name: `Vase ${i}`, category: 'Home' } }))];
    expect((await api(s.url, 'POST', '/v1/items', { items })).status).toBe(200);
    // the shop's most viewed item, and viewed right after each vase: every generator offers it
    const crowd = Array.from({ length: 120 }, (_, i) => [`v${i % 60}`, 'star'].map((product_id) => ({ type: 'track', anonymousId: `c${i}`, event: 'Product Viewed', properties: { product_id } }))).flat();
    expect((await ingest(s.url, '/v1/batch', { batch: crowd })).status).toBe(200);
    const start = Date.now() - 3 * 86_400_000;
    // the heavy shopper bought it first, then viewed other items more than HISTORY_LIMIT times
    const first = { type: 'track', userId: 'heavy', event: 'Order Completed', timestamp: new Date(start).toISOString(), properties: { order_id: 'o1', products: [{ product_id: 'star', price: 10 }] } };
    const views = Array.from({ length: HISTORY_LIMIT + 100 }, (_, i) => ({ type: 'track', userId: 'heavy', event: 'Product Viewed', timestamp: new Date(start + (i + 1) * 60_000).toISOString(), properties: { product_id: `v${i % 60}` } }));
    const all = [first, ...views];
    for (let i = 0; i < all.length; i += 100) expect((await ingest(s.url, '/v1/batch', { batch: all.slice(i, i + 100) })).status).toBe(200);
    expect((await api(s.url, 'GET', '/v1/profiles/heavy')).json.eventCount).toBe(HISTORY_LIMIT + 101);

    const heavy = await api(s.url, 'POST', '/v1/recommendations', { userId: 'heavy', count: 10, context: { itemId: 'v5' } });
    expect(heavy.status).toBe(200);
    expect((heavy.json.items as Array<{ itemId: string }>).length).toBe(10);
    expect((heavy.json.items as Array<{ itemId: string }>).map((i) => i.itemId)).not.toContain('star');
    // someone who never bought it is offered it
    const other = await api(s.url, 'POST', '/v1/recommendations', { userId: 'new-visitor', count: 10, context: { itemId: 'v5' } });
    expect((other.json.items as Array<{ itemId: string }>).map((i) => i.itemId)).toContain('star');
  });

  it('historyOf keeps the events holding the last `limit` item interactions; purchasesOf reads them all', () => {
    const ws = new Workspace('w', DEFAULT_TUNING);
    const event = (i: number, e: Partial<StoredEvent>): StoredEvent => ({ messageId: `m${String(i).padStart(3, '0')}`, type: 'track', timestamp: 1_000_000 + i * 60_000, receivedAt: 0, userId: 'u', ...e });
    ws.apply(event(0, { event: 'Order Completed', properties: { products: [{ product_id: 'old-1' }, { product_id: 'old-2' }] } }), 's');
    for (let i = 1; i <= 20; i++) ws.apply(event(i, { event: 'Product Viewed', properties: { product_id: `p${i}` } }), 's');
    ws.apply(event(21, { type: 'page', name: 'Home' }), 's');
    const view = ws.viewOf(ws.rootOf('u')!)!;
    expect(ws.historyOf(view).map((i) => i.itemId)).toEqual(['old-1', 'old-2', ...Array.from({ length: 20 }, (_, i) => `p${i + 1}`)]);
    expect(ws.historyOf(view, 5).map((i) => i.itemId)).toEqual(['p16', 'p17', 'p18', 'p19', 'p20']);
    // an event is kept or left whole: its two products are both in, or both out
    expect(ws.historyOf(view, 21).map((i) => i.itemId)).toEqual(['old-1', 'old-2', ...Array.from({ length: 20 }, (_, i) => `p${i + 1}`)]);
    expect(ws.historyOf(view, 20).map((i) => i.itemId)[0]).toBe('p1');
    expect([...ws.purchasesOf(view)].sort()).toEqual(['old-1', 'old-2']);
  });

  it('a request reads a long open session as far as its most recent HISTORY_LIMIT item interactions', () => {
    const ws = new Workspace('w', DEFAULT_TUNING);
    const now = Date.UTC(2026, 5, 1);
    const at = (i: number): number => now - (HISTORY_LIMIT + 600 - i) * 1000;
    // one session (an event a second) whose item interactions reach the limit inside a two-product order
    const events: StoredEvent[] = Array.from({ length: HISTORY_LIMIT + 600 }, (_, i) => ({ messageId: `m${String(i).padStart(5, '0')}`, type: 'track', timestamp: at(i), receivedAt: 0, userId: 'crawler', event: 'Product Viewed', properties: { product_id: `p${i % 90}` } }));
    events[600] = { ...events[600]!, event: 'Order Completed', properties: { products: [{ product_id: 'a' }, { product_id: 'b' }] } };
    for (const e of events) ws.apply(e, 's');
    ws.flush();
    const q = buildQuery(ws, personOf(ws, { userId: 'crawler' }), { userId: 'crawler', count: 5 }, now);
    // the events after the order hold HISTORY_LIMIT − 1 items: the order is kept whole, nothing before it
    expect(q.session.length).toBe(HISTORY_LIMIT + 1);
    expect(q.session.slice(0, 3).map((i) => i.itemId)).toEqual(['a', 'b', `p${601 % 90}`]);
    expect(q.session[q.session.length - 1]!.t).toBe(at(HISTORY_LIMIT + 599));
    // a session that closed is not read at all, a short open one whole
    expect(buildQuery(ws, personOf(ws, { userId: 'crawler' }), { userId: 'crawler', count: 5 }, now + 31 * 60_000).session).toEqual([]);
    ws.apply({ messageId: 'short-1', type: 'track', timestamp: now - 5000, receivedAt: 0, userId: 'shopper', event: 'Product Viewed', properties: { product_id: 'x' } }, 's');
    ws.flush();
    expect(buildQuery(ws, personOf(ws, { userId: 'shopper' }), { userId: 'shopper', count: 5 }, now).session.map((i) => i.itemId)).toEqual(['x']);
  });

  it('a long history computes its profile at most once a second while nothing about the person changes', () => {
    const ws = new Workspace('w', DEFAULT_TUNING);
    const now = Date.UTC(2026, 5, 1);
    const view = (i: number): StoredEvent => ({ messageId: `m${String(i).padStart(5, '0')}`, type: 'track', timestamp: now - (1000 - i) * 60_000, receivedAt: 0, userId: 'loyal', event: 'Product Viewed', properties: { product_id: `p${i % 30}` } });
    for (let i = 0; i < HISTORY_MEMO_MIN; i++) ws.apply(view(i), 's');
    ws.flush();
    const first = ws.profile('loyal', now)!;
    expect(ws.profile('loyal', now + 999)).toBe(first);
    // a second later, or after any change to the person, it is computed afresh
    const later = ws.profile('loyal', now + PROFILE_MEMO_MS)!;
    expect(later).not.toBe(first);
    ws.apply(view(HISTORY_MEMO_MIN), 's');
    ws.flush();
    const changed = ws.profile('loyal', now + 1001)!;
    expect(changed.eventCount).toBe(HISTORY_MEMO_MIN + 1);
    // a short history is never memoised
    ws.apply({ ...view(0), messageId: 'short-1', userId: 'brief' }, 's');
    expect(ws.profile('brief', now)).not.toBe(ws.profile('brief', now));
  });
});
