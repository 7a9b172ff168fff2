/**
 * Workspace isolation (CONTRACT §2, §3; issue 7): nothing sent to workspace A — events, items,
 * recommendation requests — can be read through, or influence, workspace B. Property: for random
 * interleaved traffic to A and B that share every person and item id, each of B's responses equals
 * the response to the same request in a run with B's traffic alone on a fresh server.
 *
 * Determinism: B's exact request sequence is replayed (exploration is seeded by person, placement
 * and day; a person's recent impressions are demoted), every event carries an explicit timestamp
 * and every item an explicit createdAt, and scores — which decay with the clock — are compared to
 * 1e-3. Popular/trending lists are normally refreshed at most once a second after a change, which
 * makes a response depend on how far apart in wall-clock time two requests were (and an interleaved
 * run is slower than a B-only one); this test's servers refresh them at every change instead. That
 * throttle is per workspace and has no bearing on isolation.
 */
import fc from 'fast-check';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { openEngine } from '../src/engine/open.ts';
import { RecommendationsExtension } from '../src/recommend/serving/extension.ts';
import { buildApp } from '../src/server/app.ts';
import { recommendationRoutes } from '../src/server/routes/recommendations.ts';
import { ADMIN_KEY, WRITE_KEY, api, removeDir, startServer, tempDir } from './helpers/server.ts';
import { ingest, ndjson } from './helpers/privacy.ts';
import { timeless } from './helpers/profiles.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) removeDir(d);
});

interface Srv {
  url: string;
  close(): Promise<void>;
}

/** the product's server with popularity lists refreshed on every change (see the header) */
async function startDeterministic(): Promise<Srv> {
  const dataDir = tempDir('kairos-iso-');
  dirs.push(dataDir);
  const config = loadConfig({ KAIROS_DATA_DIR: dataDir, KAIROS_WRITE_KEY: WRITE_KEY, KAIROS_ADMIN_KEY: ADMIN_KEY, LOG_LEVEL: 'silent', KAIROS_RATE_LIMIT: '0' });
  const logger = pino({ level: 'silent' });
  const rec = new RecommendationsExtension({ popularity: { refreshMs: 0 } });
  const opened = await openEngine(config, logger, [rec]);
  const { app } = buildApp(opened.engine, logger, {
    routes: [recommendationRoutes(rec)],
    exportSources: [(ws, ids) => rec.stateOf(ws).impressions.of(ids).map((imp) => ({ type: 'impression', ...imp }))],
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  return {
    url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`,
    async close() {
      await app.close();
      await opened.close();
    },
  };
}

type Ws = 'A' | 'B';
type Op =
  | { kind: 'track'; ws: Ws; person: number; item: number; event: string; minute: number; user: boolean }
  | { kind: 'identify'; ws: Ws; person: number; user: number; plan: string; minute: number }
  | { kind: 'upsert'; ws: Ws; item: number; category: number; available: boolean; price: number }
  | { kind: 'recommend'; ws: Ws; person: number; count: number; placement: string | undefined; context: number | undefined; inline: number | undefined }
  | { kind: 'profile'; ws: Ws; person: number }
  | { kind: 'item'; ws: Ws; item: number }
  | { kind: 'similar'; ws: Ws; item: number; count: number }
  | { kind: 'export'; ws: Ws; person: number };

const ITEMS = 6;
const PEOPLE = 4;
const CATEGORIES = ['Shoes', 'Bags > Travel', 'Hats'];
const CREATED = Date.UTC(2024, 0, 1);
const ws = fc.constantFrom<Ws>('A', 'B');
const item = fc.integer({ min: 0, max: ITEMS - 1 });
const person = fc.integer({ min: 0, max: PEOPLE - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('track' as const), ws, person, item, event: fc.constantFrom('Product Viewed', 'Product Viewed', 'Product Added', 'Order Completed'), minute: fc.integer({ min: 0, max: 180 }), user: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('identify' as const), ws, person, user: fc.integer({ min: 0, max: 1 }), plan: fc.constantFrom('gold', 'silver'), minute: fc.integer({ min: 0, max: 180 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('upsert' as const), ws, item, category: fc.integer({ min: 0, max: CATEGORIES.length - 1 }), available: fc.constantFrom(true, true, true, false), price: fc.integer({ min: 1, max: 99 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('recommend' as const), ws, person, count: fc.integer({ min: 1, max: 6 }),
      placement: fc.option(fc.constantFrom('home', 'product_page', 'cart'), { nil: undefined }),
      context: fc.option(item, { nil: undefined }),
      inline: fc.option(item, { nil: undefined }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('profile' as const), ws, person }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('item' as const), ws, item }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('similar' as const), ws, item, count: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('export' as const), ws, person }) },
);

interface Keys {
  writeKey: string;
  adminKey: string;
}

/** the same id spaces in both workspaces: anything leaking across would be indistinguishable but for the names */
const anon = (p: number) => `p${p}`;
const userOf = (p: number) => `user-${p % 2}`;
const itemId = (k: number) => `i${k}`;

async function seedCatalog(url: string, w: Ws, keys: Keys): Promise<void> {
  const items = Array.from({ length: ITEMS }, (_, k) => ({ itemId: itemId(k), properties: { name: `${w} item ${k}`, category: CATEGORIES[k % CATEGORIES.length], brand: `${w}-brand`, price: 10 + k, createdAt: CREATED + k * 3_600_000 } }));
  const r = await api(url, 'POST', '/v1/items', { items }, keys.adminKey);
  expect(r.status).toBe(200);
}

/** what of a response must match between runs: no ids minted per request, no server clock */
function normalise(op: Op, status: number, body: any): unknown {
  if (status !== 200 || body === null) return { status, body };
  switch (op.kind) {
    case 'recommend':
    case 'similar':
      return { status, strategy: body.strategy, items: body.items };
    case 'profile':
      return { status, body: timeless(body) };
    case 'export':
      return {
        status,
        records: (body as any[]).map((r) => {
          if (r.type === 'profile') return timeless(r);
          if (r.type === 'event') return { ...r, event: { ...r.event, receivedAt: undefined } };
          if (r.type === 'impression') return { ...r, recommendationId: undefined, at: undefined };
          return r;
        }),
      };
    default:
      return { status, body };
  }
}

/**
 * deep equality, scores within 1e-3 (they decay with the clock between the two runs) — also the
 * generator signals an exported impression keeps per item, which are the same decayed scores
 */
function sameResponse(a: any, b: any, path = ''): string | undefined {
  const decays = path.endsWith('.score') || /\.signals\.\d+\.[^.]+$/.test(path);
  if (typeof a === 'number' && typeof b === 'number' && decays) return Math.abs(a - b) <= 1e-3 ? undefined : `${path}: ${a} ≠ ${b}`;
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b) ? undefined : `${path}: ${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`;
  if (Array.isArray(a) !== Array.isArray(b)) return `${path}: array vs object`;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)].filter((k) => a[k] !== undefined || b[k] !== undefined));
  if (Array.isArray(a) && a.length !== b.length) return `${path}: length ${a.length} ≠ ${b.length} (${JSON.stringify(a).slice(0, 300)} vs ${JSON.stringify(b).slice(0, 300)})`;
  for (const k of keys) {
    const d = sameResponse(a[k], b[k], `${path}.${k}`);
    if (d) return d;
  }
  return undefined;
}

async function perform(url: string, op: Op, keys: Keys, base: number, messageId: string): Promise<unknown> {
  const at = (minute: number) => new Date(base - minute * 60_000).toISOString();
  switch (op.kind) {
    case 'track': {
      const ids = op.user ? { anonymousId: anon(op.person), userId: userOf(op.person) } : { anonymousId: anon(op.person) };
      const properties = op.event === 'Order Completed' ? { products: [{ product_id: itemId(op.item), price: 10 }] } : { product_id: itemId(op.item) };
      const r = await ingest(url, '/v1/track', { ...ids, event: op.event, properties, messageId, timestamp: at(op.minute) }, keys.writeKey);
      return { status: r.status, body: r.json };
    }
    case 'identify': {
      const r = await ingest(url, '/v1/identify', { anonymousId: anon(op.person), userId: `user-${op.user}`, traits: { plan: op.plan }, messageId, timestamp: at(op.minute) }, keys.writeKey);
      return { status: r.status, body: r.json };
    }
    case 'upsert': {
      const props = { name: `item ${op.item} in ${CATEGORIES[op.category]}`, category: CATEGORIES[op.category], price: op.price, available: op.available, createdAt: CREATED + op.item * 3_600_000 };
      const r = await api(url, 'PUT', `/v1/items/${itemId(op.item)}`, { properties: props }, keys.adminKey);
      return { status: r.status, body: r.json };
    }
    case 'recommend': {
      const body = {
        anonymousId: anon(op.person),
        count: op.count,
        ...(op.placement || op.context !== undefined ? { context: { ...(op.placement ? { placement: op.placement } : {}), ...(op.context !== undefined ? { itemId: itemId(op.context) } : {}) } } : {}),
        ...(op.inline !== undefined ? { events: [{ event: 'Product Viewed', properties: { product_id: itemId(op.inline) }, timestamp: at(1) }] } : {}),
      };
      const r = await api(url, 'POST', '/v1/recommendations', body, keys.adminKey);
      return normalise(op, r.status, r.json);
    }
    case 'profile': {
      const r = await api(url, 'GET', `/v1/profiles/${anon(op.person)}`, undefined, keys.adminKey);
      return normalise(op, r.status, r.json);
    }
    case 'item': {
      const r = await api(url, 'GET', `/v1/items/${itemId(op.item)}`, undefined, keys.adminKey);
      return normalise(op, r.status, r.json);
    }
    case 'similar': {
      const r = await api(url, 'GET', `/v1/items/${itemId(op.item)}/similar?count=${op.count}`, undefined, keys.adminKey);
      return normalise(op, r.status, r.json);
    }
    case 'export': {
      const r = await api(url, 'GET', `/v1/profiles/${anon(op.person)}/export`, undefined, keys.adminKey);
      return normalise(op, r.status, r.status === 200 ? ndjson(r.text) : r.json);
    }
  }
}

/** runs ops against a fresh server; A is the default workspace, B one created through the API */
async function runOnFreshServer(ops: readonly Op[], base: number): Promise<unknown[]> {
  const s = await startDeterministic();
  try {
    const created = await api(s.url, 'POST', '/v1/workspaces', { name: 'B' });
    expect(created.status).toBe(201);
    const keys: Record<Ws, Keys> = { A: { writeKey: WRITE_KEY, adminKey: ADMIN_KEY }, B: created.json };
    const used = new Set(ops.map((o) => o.ws));
    for (const w of used) await seedCatalog(s.url, w, keys[w]);
    const out: unknown[] = [];
    const seq: Record<Ws, number> = { A: 0, B: 0 };
    for (const op of ops) {
      const response = await perform(s.url, op, keys[op.ws], base, `${op.ws}-${seq[op.ws]++}`);
      if (op.ws === 'B') out.push(response);
      else expect((response as { status: number }).status, JSON.stringify(op)).toBeLessThan(500);
    }
    return out;
  } finally {
    await s.close();
  }
}

const dayOf = (t: number): number => Math.floor(t / 86_400_000);

describe('workspace isolation', () => {
  it('property: each of B\'s responses under interleaved A/B traffic equals B\'s response when B runs alone', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 8, maxLength: 30 }), async (ops) => {
        const started = Date.now();
        // event times: 5 minutes to 3 hours before the start, identical in both runs
        const base = started - 5 * 60_000;
        const together = await runOnFreshServer(ops, base);
        const alone = await runOnFreshServer(ops.filter((o) => o.ws === 'B'), base);
        // exploration is seeded by the UTC day: a run across midnight compares different seeds
        if (dayOf(started) !== dayOf(Date.now())) return;
        const bOps = ops.filter((o) => o.ws === 'B');
        for (let i = 0; i < bOps.length; i++) {
          const diff = sameResponse(together[i], alone[i]);
          if (diff) throw new Error(`B's response to op ${i} ${JSON.stringify(bOps[i])} differs with A's traffic interleaved: ${diff}`);
        }
      }),
      { numRuns: 8, endOnFailure: true },
    );
  });

  it('no key of A reads or changes B\'s data, and no key of B reads or changes A\'s', async () => {
    const s = await startServer();
    try {
      const b = (await api(s.url, 'POST', '/v1/workspaces', { name: 'B' })).json;
      const a = { writeKey: WRITE_KEY, adminKey: ADMIN_KEY, readKey: (await api(s.url, 'POST', '/v1/keys', { scopes: ['read'] })).json.key as string };
      const bReadKey = (await api(s.url, 'POST', '/v1/keys', { scopes: ['read'] }, b.adminKey)).json;
      const bRead = bReadKey.key as string;
      await api(s.url, 'POST', '/v1/items', { items: [{ itemId: 'b-only', properties: { name: 'B only' } }, { itemId: 'shared', properties: { name: 'B shared' } }] }, b.adminKey);
      await api(s.url, 'POST', '/v1/items', { items: [{ itemId: 'a-only', properties: { name: 'A only' } }, { itemId: 'shared', properties: { name: 'A shared' } }] }, a.adminKey);
      const views = (who: string, items: string[]) => ({ batch: items.map((product_id) => ({ type: 'track', anonymousId: who, event: 'Product Viewed', properties: { product_id } })) });
      expect((await ingest(s.url, '/v1/batch', views('b-person', ['b-only', 'shared', 'b-only']), b.writeKey)).status).toBe(200);
      expect((await ingest(s.url, '/v1/identify', { anonymousId: 'twin', traits: { side: 'B' } }, b.writeKey)).status).toBe(200);
      expect((await ingest(s.url, '/v1/identify', { anonymousId: 'twin', traits: { side: 'A' } }, a.writeKey)).status).toBe(200);

      // erasing in A (before A served anything naming the id) finds nobody
      expect((await api(s.url, 'DELETE', '/v1/profiles/b-person?suppress=false', undefined, a.adminKey)).status).toBe(404);
      for (const key of [a.adminKey, a.readKey]) {
        for (const path of ['/v1/profiles/b-person', '/v1/items/b-only', '/v1/items/b-only/similar']) {
          const r = await api(s.url, 'GET', path, undefined, key);
          expect(r.status, path).toBe(404);
          expect(r.text).not.toContain('B only');
        }
        const twin = await api(s.url, 'GET', '/v1/profiles/twin', undefined, key);
        expect(twin.json.traits).toEqual({ side: 'A' });
        expect((await api(s.url, 'GET', '/v1/items/shared', undefined, key)).json.properties.name).toBe('A shared');
        const recs = await api(s.url, 'POST', '/v1/recommendations', { anonymousId: 'b-person', count: 5 }, key);
        expect(recs.status).toBe(200);
        for (const i of recs.json.items) expect(['a-only', 'shared']).toContain(i.itemId);
        expect(recs.text).not.toContain('B only');
        expect(recs.text).not.toContain('B shared');
      }
      // A holds only its own records about the id (the impressions of the recommendations A served it)
      const exported = await api(s.url, 'GET', '/v1/profiles/b-person/export', undefined, a.adminKey);
      expect(exported.text).not.toContain('B only');
      expect(exported.text).not.toContain('B shared');
      expect(exported.text).not.toMatch(/"type":"(event|profile)"/);
      expect((await api(s.url, 'DELETE', '/v1/items/b-only', undefined, a.adminKey)).status).toBe(404);
      expect((await api(s.url, 'GET', '/v1/keys', undefined, a.adminKey)).json.keys.map((k: any) => k.id)).not.toContain(bReadKey.id);
      expect((await api(s.url, 'DELETE', `/v1/keys/${bReadKey.id}`, undefined, a.adminKey)).status).toBe(404);
      // A's write key is no key of B's, and neither of A's API keys is
      expect((await api(s.url, 'GET', '/v1/profiles/b-person', undefined, a.writeKey)).status).toBe(401);
      // B still has everything, and sees only its own twin
      const bp = await api(s.url, 'GET', '/v1/profiles/b-person', undefined, bRead);
      expect(bp.status).toBe(200);
      expect(bp.json.eventCount).toBe(3);
      expect((await api(s.url, 'GET', '/v1/profiles/twin', undefined, bRead)).json.traits).toEqual({ side: 'B' });
      expect((await api(s.url, 'GET', '/v1/items/b-only', undefined, bRead)).status).toBe(200);
      // and B's keys see nothing of A
      for (const path of ['/v1/items/a-only', '/v1/items/a-only/similar']) expect((await api(s.url, 'GET', path, undefined, bRead)).status).toBe(404);
      expect((await api(s.url, 'GET', '/v1/items/shared', undefined, bRead)).json.properties.name).toBe('B shared');
    } finally {
      await s.close();
      removeDir(s.dataDir);
    }
  });
});
