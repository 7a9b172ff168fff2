/**
 * Served impressions are written in batches (not one fsync per request): they reach the store on the
 * next flush or when the engine closes, and an erasure takes an erased person's still-buffered
 * impressions back, so they never land after the erasure's own commit deleted them.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_TUNING } from '../src/config.ts';
import { Workspace } from '../src/engine/workspace.ts';
import { DEFAULT_SERVING_SETTINGS, RecommendationsExtension } from '../src/recommend/serving/extension.ts';
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
