/**
 * The collaborative model (src/recommend/model/): EASE trained in a worker thread equals the
 * in-process EaseModel; the holder swaps a new model in without requests ever waiting for a
 * training; known users get items with the model's reason once it is swapped in; an erased person
 * leaves the next model.
 */
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_TUNING, loadConfig } from '../src/config.ts';
import { openEngine } from '../src/engine/open.ts';
import { Workspace } from '../src/engine/workspace.ts';
import type { StoredEvent } from '../src/ingest/event.ts';
import { EaseModel } from '../src/recommend/candidates/ease.ts';
import { trainEase, type InteractionSnapshot } from '../src/recommend/model/ease-train.ts';
import { MatrixModelHolder } from '../src/recommend/model/holder.ts';
import { trainInWorker } from '../src/recommend/model/trainer.ts';
import { Recommender } from '../src/recommend/recommender.ts';
import { seededRandom } from '../src/recommend/rules/seeded-random.ts';
import { RecommendationsExtension } from '../src/recommend/serving/extension.ts';
import { buildApp } from '../src/server/app.ts';
import { recommendationRoutes } from '../src/server/routes/recommendations.ts';
import { MemoryStore } from '../src/store/memory/memory-store.ts';
import { ingest } from './helpers/privacy.ts';
import { ADMIN_KEY, api, removeDir, tempDir, WRITE_KEY } from './helpers/server.ts';
import { catalogOf, DAY, NOW, query, session } from './recommend-fixtures.ts';

/** rows of item ids as a snapshot (distinct items per row) */
function snapshotOf(rows: string[][]): InteractionSnapshot {
  const itemIds: string[] = [];
  const handle = new Map<string, number>();
  const offsets = [0];
  const items: number[] = [];
  for (const row of rows) {
    for (const id of new Set(row)) {
      if (!handle.has(id)) {
        handle.set(id, itemIds.length);
        itemIds.push(id);
      }
      items.push(handle.get(id)!);
    }
    offsets.push(items.length);
  }
  return { itemIds, offsets: Int32Array.from(offsets), items: Int32Array.from(items) };
}

/** people who each view a few items of one of three groups, plus a little noise */
function randomRows(people: number, items: number, seed: string): string[][] {
  const random = seededRandom(seed);
  const rows: string[][] = [];
  for (let p = 0; p < people; p++) {
    const group = p % 3;
    const row: string[] = [];
    const n = 3 + Math.floor(random() * 8);
    for (let k = 0; k < n; k++) {
      const base = Math.floor(random() * Math.ceil(items / 3)) * 3 + group;
      row.push(`i${random() < 0.85 ? Math.min(base, items - 1) : Math.floor(random() * items)}`);
    }
    rows.push(row);
  }
  return rows;
}

const holders: MatrixModelHolder[] = [];
afterEach(() => {
  for (const h of holders.splice(0)) h.stop();
});

describe('EASE training', () => {
  it('in a worker thread gives the weights of the in-process EaseModel', async () => {
    const rows = randomRows(120, 30, 'fixture');
    const options = { lambda: 5, minSupport: 1, maxItems: 1000, neighbours: 1000 };
    const { model } = await trainInWorker(snapshotOf(rows), options).result;
    const reference = EaseModel.fit(rows, options);
    expect(model.itemIds).toEqual(reference.itemIds);
    expect(model.people).toBe(120);
    const n = model.itemIds.length;
    for (let i = 0; i < n; i++) {
      // a row of the reference: the scores of someone who interacted with item i only
      const row = reference.scores([model.itemIds[i]!]);
      expect(model.offsets[i + 1]! - model.offsets[i]!).toBe(n - 1);
      for (let k = model.offsets[i]!; k < model.offsets[i + 1]!; k++) {
        expect(model.weights[k]!).toBeCloseTo(row[model.neighbours[k]!]!, 5);
      }
    }
  });

  it('keeps the largest weights of each row, best first, and bounds the items', () => {
    const rows = randomRows(200, 40, 'prune');
    const full = trainEase(snapshotOf(rows), { lambda: 5, minSupport: 1, maxItems: 1000, neighbours: 1000 });
    const pruned = trainEase(snapshotOf(rows), { lambda: 5, minSupport: 1, maxItems: 1000, neighbours: 5 });
    for (let i = 0; i < full.itemIds.length; i++) {
      const all = [...full.weights.subarray(full.offsets[i]!, full.offsets[i + 1]!)];
      const kept = [...pruned.weights.subarray(pruned.offsets[i]!, pruned.offsets[i + 1]!)];
      expect(kept).toEqual(all.slice(0, 5));
      expect(kept).toEqual([...kept].sort((a, b) => b - a));
    }
    const bounded = trainEase(snapshotOf(rows), { lambda: 5, minSupport: 1, maxItems: 10, neighbours: 5 });
    expect(bounded.itemIds).toEqual(full.itemIds.slice(0, 10));
  });
});

/** a catalog of `items` items i0… and a recommender whose collaborative model trains in a worker */
function recommenderWith(items: number, matrix: Record<string, unknown> = {}): Recommender {
  const catalog = catalogOf(Array.from({ length: items }, (_, k) => ({ id: `i${k}`, name: `Item ${k}`, category: `C${k % 7}` })));
  const rec = new Recommender(catalog, {
    matrix: { minSupport: 1, lambda: 5, ...matrix },
    placements: { default: { collaborative: 1, popular: 0.05 } },
  });
  holders.push(rec.matrix);
  return rec;
}

const opts = { count: 5, seed: 's', excludePurchased: false };
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('model holder', () => {
  it('serves nothing before the first model, then the model with a reason naming an anchor item', async () => {
    const rec = recommenderWith(30);
    randomRows(150, 30, 'serve').forEach((row, p) => rec.addSession(session(`s${p}`, row, DAY)));
    const q = query({ history: ['i0', 'i3'] });
    expect(rec.matrix.generate(q, 10)).toEqual([]);
    expect(rec.matrix.status()).toMatchObject({ state: 'empty', version: 0, sessions: 150 });
    const info = await rec.matrix.retrain();
    expect(info).toMatchObject({ state: 'ready', version: 1, training: false, people: 150, changes: 0 });
    const out = rec.recommend(q, opts);
    expect(out.strategy).toContain('collaborative');
    const personal = out.items.flatMap((i) => i.reasons).filter((r) => r.type === 'personal');
    expect(personal.length).toBeGreaterThan(0);
    for (const r of personal) {
      expect(['i0', 'i3']).toContain(r.itemId);
      expect(r.text).toBe(`Popular with people who like Item ${r.itemId!.slice(1)}`);
    }
    // the person's own items are never candidates
    expect(out.items.map((i) => i.itemId)).not.toContain('i0');
  });

  it('keeps answering with the old model while a large training runs, then swaps the new one in', async () => {
    const rec = recommenderWith(1000, { maxItems: 1000, neighbours: 50 });
    randomRows(300, 30, 'small').forEach((row, p) => rec.addSession(session(`a${p}`, row, 2 * DAY)));
    await rec.matrix.retrain();
    const q = query({ history: ['i0', 'i3', 'i6'] });
    const before = rec.matrix.generate(q, 20);
    expect(before.length).toBeGreaterThan(0);
    // a much larger model (1,000 items): its Gram matrix is inverted in the worker
    randomRows(4000, 1000, 'large').forEach((row, p) => rec.addSession(session(`b${p}`, row, DAY)));
    let settled = false;
    const training = rec.matrix.retrain().finally(() => (settled = true));
    expect(rec.matrix.status()).toMatchObject({ training: true, version: 1 });
    let answeredWhileTraining = 0;
    while (!settled) {
      const out = rec.recommend(q, opts);
      if (!settled) {
        answeredWhileTraining++;
        expect(out.items).toHaveLength(opts.count);
        // still the old model: its candidates are those from before the training started
        expect(rec.matrix.generate(q, 20)).toEqual(before);
      }
      await nextTurn();
    }
    const info = await training;
    expect(answeredWhileTraining).toBeGreaterThan(0);
    expect(info).toMatchObject({ version: 2, training: false, people: 4300 });
    expect(info.items).toBeGreaterThan(30);
    expect(rec.matrix.generate(q, 20)).not.toEqual(before);
    expect(rec.recommend(q, opts).strategy).toContain('collaborative');
  });

  it('queues one retrain behind a running one, and stop() cancels a training in flight', async () => {
    const rec = recommenderWith(30);
    randomRows(100, 30, 'queue').forEach((row, p) => rec.addSession(session(`s${p}`, row, DAY)));
    const first = rec.matrix.retrain();
    const second = rec.matrix.retrain();
    expect(rec.matrix.retrain()).toBe(second);
    expect((await first).version).toBe(1);
    expect((await second).version).toBe(2);
    rec.addSession(session('late', ['i1', 'i2'], 0));
    const cancelled = rec.matrix.retrain();
    rec.matrix.stop();
    await expect(cancelled).rejects.toThrow();
    expect(rec.matrix.status()).toMatchObject({ version: 2, training: false });
    await expect(rec.matrix.retrain()).rejects.toThrow(/stopped/);
  });

  it('is due on schedule: first model once there is data, then after enough change and time', async () => {
    const holder = new MatrixModelHolder({ minSupport: 1, lambda: 5, inWorker: false, minChanges: 3, retrainMinutes: 10 });
    holders.push(holder);
    expect(holder.tick(NOW)).toBe(false);
    for (const [k, row] of [['a', 'b'], ['a', 'c'], ['b', 'c'], ['b', 'd']].entries()) holder.addSession(session(`s${k}`, row));
    expect(holder.tick(NOW)).toBe(true);
    while (holder.status().training) await nextTurn();
    expect(holder.status()).toMatchObject({ version: 1, changes: 0, sessions: 4 });
    const at = Date.now();
    holder.addSession(session('t1', ['c', 'd']));
    holder.addSession(session('t2', ['a', 'd']));
    expect(holder.tick(at + 11 * 60_000)).toBe(false); // 2 changes < minChanges
    holder.addSession(session('t3', ['a', 'b']));
    expect(holder.tick(at + 60_000)).toBe(false); // too soon (and the data did not double)
    expect(holder.tick(at + 11 * 60_000)).toBe(true);
    while (holder.status().training) await nextTurn();
    expect(holder.status().version).toBe(2);
    // a session withdrawn for privacy: its items are masked at once, and the next check retrains
    const gone = session('t3', ['a', 'b']);
    holder.removeSession(gone);
    holder.withdrawn(gone);
    expect(holder.status()).toMatchObject({ erasurePending: true, maskedItems: 2 });
    expect(holder.generate(query({ history: ['a'] }), 10)).toEqual([]);
    expect(holder.generate(query({ history: ['c'] }), 10).map((c) => c.itemId)).not.toContain('a');
    expect(holder.tick(at + 11 * 60_000 + 1)).toBe(true);
    while (holder.status().training) await nextTurn();
    expect(holder.status()).toMatchObject({ version: 3, erasurePending: false, maskedItems: 0 });
    expect(holder.generate(query({ history: ['c'] }), 10).length).toBeGreaterThan(0);
  });
});

describe('collaborative model in a workspace', () => {
  let seq = 0;
  const view = (ws: Workspace, userId: string, item: string, minutesAgo: number): void => {
    const t = NOW - minutesAgo * 60_000;
    const e: StoredEvent = { messageId: `m${seq++}`, type: 'track', userId, event: 'Product Viewed', properties: { product_id: item }, timestamp: t, receivedAt: t };
    ws.apply(e, ws.allocateSegment());
  };

  it('trains one row per person, and an erased person leaves the next model', async () => {
    const ws = new Workspace('model', DEFAULT_TUNING);
    // one item of history earns the model its full weight here (the next test is about the share)
    const ext = new RecommendationsExtension({ matrix: { minSupport: 1, lambda: 1, fullWeightAt: 0 } });
    await ext.attach(ws, new MemoryStore());
    const { recommender } = ext.stateOf(ws);
    for (const [k, id] of ['shoe', 'sock', 'lace', 'tent', 'mat', 'rare'].entries()) ws.catalog.upsert(id, { name: id.toUpperCase(), category: 'All' }, NOW - 100 * DAY - k);
    // two sessions per person, days apart: still one row each
    for (let p = 0; p < 5; p++) {
      view(ws, `u${p}`, 'shoe', 3 * 1440);
      view(ws, `u${p}`, p % 2 ? 'sock' : 'lace', 3 * 1440 - 1);
      view(ws, `u${p}`, p < 3 ? 'tent' : 'mat', 60);
    }
    view(ws, 'eve', 'shoe', 30);
    view(ws, 'eve', 'rare', 29);
    ws.flush();
    try {
      const first = await recommender.matrix.retrain();
      expect(first).toMatchObject({ people: 6, sessions: 11 });
      const rows = await recommender.matrix.snapshot();
      expect(rows.offsets.length - 1).toBe(6);
      const asked = recommender.recommend(query({ history: ['shoe'] }), { count: 4, seed: 's', placement: 'default' });
      expect(asked.items.flatMap((i) => i.reasons).some((r) => r.type === 'personal' && r.itemId === 'shoe')).toBe(true);
      expect(recommender.matrix.generate(query({ history: ['shoe'] }), 10).map((c) => c.itemId)).toContain('rare');

      ws.forget(ws.rootOf('eve')!);
      // at once: her sessions are out of the holder, and what they taught the serving model (her
      // items) is neither scored from nor offered until it is retrained without her
      expect(recommender.matrix.status()).toMatchObject({ sessions: 10, erasurePending: true, maskedItems: 2 });
      expect(recommender.matrix.generate(query({ history: ['tent'] }), 10).map((c) => c.itemId)).not.toContain('rare');
      expect(recommender.matrix.generate(query({ history: ['shoe'] }), 10)).toEqual([]);
      expect(recommender.matrix.tick()).toBe(true);
      const second = await recommender.matrix.retrain();
      expect(second).toMatchObject({ people: 5, erasurePending: false });
      expect(recommender.matrix.generate(query({ history: ['shoe'] }), 10).map((c) => c.itemId)).not.toContain('rare');
      expect(recommender.matrix.generate(query({ history: ['shoe'] }), 10).length).toBeGreaterThan(0);
      expect(recommender.matrix.status().maskedItems).toBe(0);
    } finally {
      ext.stop();
    }
  });

  it('a person who opts out leaves the serving model at once, and the next one', async () => {
    const ws = new Workspace('model-opt-out', DEFAULT_TUNING);
    const ext = new RecommendationsExtension({ matrix: { minSupport: 1, lambda: 1, fullWeightAt: 0 } });
    await ext.attach(ws, new MemoryStore());
    const { recommender } = ext.stateOf(ws);
    for (const [k, id] of ['shoe', 'sock', 'tent', 'rare'].entries()) ws.catalog.upsert(id, { name: id.toUpperCase() }, NOW - 100 * DAY - k);
    for (let p = 0; p < 4; p++) {
      view(ws, `u${p}`, 'shoe', 60);
      view(ws, `u${p}`, p % 2 ? 'sock' : 'tent', 59);
    }
    view(ws, 'olga', 'sock', 30);
    view(ws, 'olga', 'rare', 29);
    ws.flush();
    const told: Array<string[] | undefined> = [];
    ws.onAttributionChange((ids) => told.push(ids && [...ids]));
    try {
      await recommender.matrix.retrain();
      expect(recommender.matrix.generate(query({ history: ['sock'] }), 10).map((c) => c.itemId)).toContain('rare');
      const t = NOW - 10 * 60_000;
      ws.apply({ messageId: `m${seq++}`, type: 'track', userId: 'olga', event: 'Signed Out', context: { consent: { categoryPreferences: { Personalization: false } } }, timestamp: t, receivedAt: t }, ws.allocateSegment());
      ws.flush();
      expect(told).toEqual([['olga']]);
      expect(recommender.matrix.status()).toMatchObject({ erasurePending: true, maskedItems: 2 });
      expect(recommender.matrix.generate(query({ history: ['shoe'] }), 10).map((c) => c.itemId)).not.toContain('rare');
      await recommender.matrix.retrain();
      expect(recommender.matrix.status()).toMatchObject({ people: 4, maskedItems: 0 });
      expect(recommender.matrix.generate(query({ history: ['shoe'] }), 10).map((c) => c.itemId)).not.toContain('rare');
    } finally {
      ext.stop();
    }
  });
  it('weighs the model by how much the query holds: a short history a share, twenty items all of it', async () => {
    const ws = new Workspace('model-share', DEFAULT_TUNING);
    const ext = new RecommendationsExtension({ matrix: { minSupport: 1, lambda: 1 } });
    await ext.attach(ws, new MemoryStore());
    const { recommender } = ext.stateOf(ws);
    const filler = Array.from({ length: 19 }, (_, k) => `old-${k}`);
    for (const id of ['a', 'b', 'c', ...filler]) ws.catalog.upsert(id, { name: id.toUpperCase() }, NOW - 300 * DAY);
    // ten people view a then b (the model's pick after a); thirty view only c (the most popular)
    for (let p = 0; p < 10; p++) {
      view(ws, `ab${p}`, 'a', 100);
      view(ws, `ab${p}`, 'b', 99);
    }
    for (let p = 0; p < 30; p++) view(ws, `c${p}`, 'c', 50);
    ws.flush();
    try {
      await recommender.matrix.retrain();
      const short = query({ history: ['a'] });
      const long = query({ history: [...filler, 'a'] });
      expect(recommender.matrix.weightShare(query())).toBe(0);
      expect(recommender.matrix.weightShare(short)).toBe(1 / 20);
      expect(recommender.matrix.weightShare(long)).toBe(1);
      expect(recommender.matrix.generate(short, 1).map((c) => c.itemId)).toEqual(['b']);
      const o = { count: 1, seed: 's', weights: { collaborative: 1, popular: 1 }, excludeItems: new Set(['a']) };
      expect(recommender.recommend(short, o).items.map((i) => i.itemId)).toEqual(['c']);
      expect(recommender.recommend(long, o).items[0]).toMatchObject({ itemId: 'b', reasons: expect.arrayContaining([expect.objectContaining({ type: 'personal', itemId: 'a' })]) });
      // with fullWeightAt 0 the model weighs fully whatever the history
      const always = new MatrixModelHolder({ fullWeightAt: 0 });
      expect(always.weightShare(query())).toBe(1);
    } finally {
      ext.stop();
    }
  });
});

describe('collaborative model behind the real server', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) removeDir(d);
  });

  it('answers requests while the model trains, then known users get its items (real events)', async () => {
    const dataDir = tempDir('kairos-model-');
    dirs.push(dataDir);
    const config = loadConfig({ KAIROS_DATA_DIR: dataDir, KAIROS_WRITE_KEY: WRITE_KEY, KAIROS_ADMIN_KEY: ADMIN_KEY, LOG_LEVEL: 'silent', KAIROS_RATE_LIMIT: '0' });
    const logger = pino({ level: 'silent' });
    const rec = new RecommendationsExtension({ matrix: { minSupport: 1, lambda: 5 } });
    const opened = await openEngine(config, logger, [rec]);
    const { app } = buildApp(opened.engine, logger, { routes: [recommendationRoutes(rec)], exportSources: [] });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const addr = app.server.address();
    const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    try {
      const rows = randomRows(400, 300, 'server');
      const events = rows.flatMap((row, p) =>
        row.map((item, k) => ({
          type: 'track',
          userId: `u${p}`,
          event: 'Product Viewed',
          properties: { product_id: item, name: `Item ${item.slice(1)}` },
          timestamp: new Date(NOW - (p * 20 + k) * 60_000).toISOString(),
          messageId: `e${p}-${k}`,
        })),
      );
      for (let i = 0; i < events.length; i += 200) expect((await ingest(url, '/v1/batch', { batch: events.slice(i, i + 200) })).status).toBe(200);
      const ws = [...opened.engine.workspaces.values()][0]!;
      const { matrix } = rec.stateOf(ws).recommender;
      expect(matrix.status()).toMatchObject({ state: 'empty', sessions: 400 });

      let settled = false;
      // the on-demand retrain of the HTTP API; it answers once the new model serves
      const training = api(url, 'POST', '/v1/models/collaborative/retrain', {}).finally(() => (settled = true));
      let answeredWhileTraining = 0;
      while (!settled) {
        const r = await api(url, 'POST', '/v1/recommendations', { userId: 'u1', count: 10 });
        expect(r.status).toBe(200);
        if (!settled) answeredWhileTraining++;
      }
      const trained = await training;
      expect(trained.status).toBe(200);
      expect(trained.json).toMatchObject({ state: 'ready', version: 1, people: 400 });
      expect(answeredWhileTraining).toBeGreaterThan(0);
      expect((await api(url, 'GET', '/v1/models')).json.models[0]).toMatchObject({ generator: 'collaborative', state: 'ready', version: 1 });

      const after = (await api(url, 'POST', '/v1/recommendations', { userId: 'u1', count: 10 })).json as { items: Array<{ reasons: Array<{ type: string; itemId?: string; text: string }> }>; strategy: string };
      expect(after.strategy).toContain('collaborative');
      const personal = after.items.flatMap((i) => i.reasons).find((r) => r.type === 'personal');
      expect(personal?.text).toMatch(/^Popular with people who like Item \d+$/);
      expect(new Set(rows[1])).toContain(personal!.itemId);
    } finally {
      rec.stop();
      await app.close();
      await opened.close();
    }
  });
});
