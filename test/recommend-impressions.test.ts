/**
 * Served impressions are written in batches (not one fsync per request): they reach the store on the
 * next flush or when the engine closes, and an erasure takes an erased person's still-buffered
 * impressions back, so they never land after the erasure's own commit deleted them. The log in
 * memory is bounded (per id and placement, by age, by shown items in all), and what it forgets the
 * store forgets too.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_TUNING } from '../src/config.ts';
import { Workspace } from '../src/engine/workspace.ts';
import { DEFAULT_SERVING_SETTINGS, RecommendationsExtension } from '../src/recommend/serving/extension.ts';
import { ImpressionLog } from '../src/recommend/serving/impressions.ts';
import { serveRecommendation } from '../src/recommend/serving/serve.ts';
import { MemoryStore } from '../src/store/memory/memory-store.ts';

const NOW = Date.UTC(2025, 5, 1);

async function setup(): Promise<{ ws: Workspace; ext: RecommendationsExtension; store: MemoryStore }> {
  const ws = new Workspace('imp', DEFAULT_TUNING);
  const store = new MemoryStore();
  const ext = new RecommendationsExtension();
  await ext.attach(ws, store);
  for (const id of ['a', 'b', 'c']) ws.catalog.upsert(id, { name: id.toUpperCase(), category: 'All' }, NOW);
  return { ws, ext, store };
}

/** what the recommendations route does: serve, then hand the impression to the batched writer */
function serve(ws: Workspace, ext: RecommendationsExtension, anonymousId: string): string {
  const state = ext.stateOf(ws);
  const { response, writes } = serveRecommendation(ws, state, DEFAULT_SERVING_SETTINGS, { anonymousId, count: 2 }, NOW);
  state.impressionWrites.add(writes);
  return response.recommendationId;
}

describe('impression writes', () => {
  it('reach the store on flush and when the extension closes', async () => {
    const { ws, ext, store } = await setup();
    const first = serve(ws, ext, 'v1');
    await ext.stateOf(ws).impressionWrites.flush();
    expect(await store.get(ws.id, 'impressions', first)).toMatchObject({ recommendationId: first, ids: ['v1'] });
    const second = serve(ws, ext, 'v1');
    await ext.close();
    expect(await store.get(ws.id, 'impressions', second)).toMatchObject({ recommendationId: second });
  });

  it('an erasure takes back the erased person\'s buffered impressions and leaves others\'', async () => {
    const { ws, ext, store } = await setup();
    const erased = serve(ws, ext, 'gone');
    const kept = serve(ws, ext, 'stays');
    // as the erasure does: its own commit deletes what the extensions name, then they forget
    const deletions = ws.erasureMutations(['gone']);
    expect(deletions).toContainEqual({ table: 'impressions', key: erased });
    await store.commit(ws.id, deletions);
    ws.forgetIds(['gone']);
    await ext.close();
    expect(await store.get(ws.id, 'impressions', erased)).toBeUndefined();
    expect(await store.get(ws.id, 'impressions', kept)).toMatchObject({ ids: ['stays'] });
  });
});

describe('impression log', () => {
  it('keeps an impression under the ids the request named, and finds it through any id of the person', () => {
    const log = new ImpressionLog({ perPerson: 2 });
    const everyId = Array.from({ length: 5000 }, (_, i) => `anon-${i}`);
    const shown = (n: number, ids: string[]) => ({ recommendationId: `r${n}`, placement: 'home', ids, items: [`i${n}`], at: NOW + n });
    // a person with thousands of ids: each request names one or two of them
    expect(log.record(shown(1, ['user', 'anon-7']))).toHaveLength(1);
    log.record(shown(2, ['anon-4000']));
    log.record({ ...shown(3, ['user']), placement: 'cart' });
    expect([...log.recentItems(['user', ...everyId], 'home', 10)].sort()).toEqual(['i1', 'i2']);
    expect([...log.recentItems(['anon-7'], 'home', 10)]).toEqual(['i1']);
    // the last `perPerson` per id and placement: a third on "home" for "user" evicts r1 once no id holds it
    const writes = log.record(shown(4, ['user', 'anon-7']));
    expect(writes.slice(1)).toEqual([]);
    expect(log.record(shown(5, ['user', 'anon-7'])).slice(1)).toEqual([{ table: 'impressions', key: 'r1' }]);
    expect(log.get('r1')).toBeUndefined();
    expect(log.of(['user', ...everyId]).map((i) => i.recommendationId)).toEqual(['r2', 'r3', 'r4', 'r5']);
    log.forget(['user', ...everyId]);
    expect(log.of(['user', ...everyId])).toEqual([]);
    expect(log.get('r2')).toBeUndefined();
  });

  it('a served recommendation records the named ids only, and still counts toward the person\'s repeat window', async () => {
    const { ws, ext } = await setup();
    for (let i = 0; i < 50; i++) ws.apply({ type: 'identify', messageId: `id${i}`, userId: 'u', anonymousId: `anon-${i}`, timestamp: NOW, receivedAt: NOW }, '000000000001');
    const state = ext.stateOf(ws)!;
    const first = serveRecommendation(ws, state, DEFAULT_SERVING_SETTINGS, { anonymousId: 'anon-3', count: 1 }, NOW);
    const imp = state.impressions.get(first.response.recommendationId)!;
    expect(imp.ids).toEqual(['anon-3']);
    const shownFirst = first.response.items.map((i) => i.itemId);
    // asked through another of the person's ids: the item just shown is not repeated
    const second = serveRecommendation(ws, state, DEFAULT_SERVING_SETTINGS, { userId: 'u', count: 1 }, NOW + 1000);
    expect(second.response.items.map((i) => i.itemId)).not.toEqual(shownFirst);
  });
});

describe('impression log bounds', () => {
  const shown = (n: number, at: number, ids: string[] = [], items = 10) => ({
    recommendationId: `r${n}`,
    placement: 'home',
    ids,
    items: Array.from({ length: items }, (_, i) => `i${(n + i) % 37}`),
    at,
    signals: Array.from({ length: items }, (_, i): Record<string, number> => (i % 2 ? { covisit: i / 10, popular: 0.5 } : { trending: 1e-300 * i, 'in-session': -0 })),
  });
  const deleted = (writes: Array<{ key: string; value?: unknown }>): string[] => writes.filter((w) => !('value' in w)).map((w) => w.key);

  it('forgets the oldest impressions past the items budget, those named by nobody included, and says so to the store', () => {
    const log = new ImpressionLog({ maxItems: 100 });
    for (let n = 0; n < 10; n++) expect(deleted(log.record(shown(n, NOW + n)))).toEqual([]);
    expect(log.size).toEqual({ impressions: 10, items: 100 });
    expect(deleted(log.record(shown(10, NOW + 10, ['v'])))).toEqual(['r0']);
    expect(deleted(log.record(shown(11, NOW + 11, [], 25)))).toEqual(['r1', 'r2', 'r3']);
    expect(log.size).toEqual({ impressions: 8, items: 95 });
    expect(log.get('r3')).toBeUndefined();
    // the signals come back as given
    expect(log.get('r10')).toEqual(shown(10, NOW + 10, ['v']));
  });

  it('forgets impressions past their age while running, from the ids\' lists too', () => {
    const log = new ImpressionLog({ ttlMs: 1000 });
    log.record(shown(1, NOW, ['a']));
    log.record(shown(2, NOW + 500, ['a']));
    expect([...log.recentItems(['a'], 'home', 5)]).toHaveLength(11);
    expect(deleted(log.record(shown(3, NOW + 1200, ['b'])))).toEqual(['r1']);
    expect(log.of(['a']).map((i) => i.recommendationId)).toEqual(['r2']);
    expect(deleted(log.record(shown(4, NOW + 5000)))).toEqual(['r2', 'r3']);
    expect(log.of(['a', 'b'])).toEqual([]);
    expect(log.size).toEqual({ impressions: 1, items: 10 });
  });

  it('restores the stored impressions oldest first and keeps within the limits', () => {
    const log = new ImpressionLog({ maxItems: 30 });
    const stored = [shown(5, NOW + 5, ['x']), shown(1, NOW + 1, ['x']), shown(3, NOW + 3), shown(4, NOW + 4, ['y'])];
    expect(deleted(log.restoreAll(stored, NOW + 10)).sort()).toEqual(['r1']);
    expect(log.of(['x', 'y']).map((i) => i.recommendationId)).toEqual(['r4', 'r5']);
  });

  it('stays bounded when one id asks again and again (impressions forgotten out of turn are not kept)', () => {
    const log = new ImpressionLog({ perPerson: 2 });
    for (let n = 0; n < 20_000; n++) log.record(shown(n, NOW + n, ['busy'], 1));
    expect(log.size).toEqual({ impressions: 2, items: 2 });
    expect((log as unknown as { order: unknown[] }).order.length).toBeLessThan(3000);
  });
});

