/**
 * Event-time ordering (CONTRACT §4): per-person state is a function of the set of events, not of
 * their arrival. A random set of events for a few people (views, adds, orders and consent changes
 * across several sessions, identify links) ingested in shuffled order, with repeats of the same
 * messageId, in random batches partly sent concurrently, gives the same profiles as the sorted,
 * deduplicated set. Both go through the real ingestion pipeline (Ingestor) and the real store.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine, WorkspaceExtension } from '../src/engine/engine.ts';
import type { Workspace } from '../src/engine/workspace.ts';
import { RecommendationsExtension } from '../src/recommend/serving/extension.ts';
import { rankScore } from '../src/recommend/top-k.ts';
import type { Candidate } from '../src/recommend/types.ts';
import { arrivalOf, deliver } from './helpers/arrival.ts';
import { openServingEngine, type ServingEngine } from './helpers/engine.ts';
import { removeDir, tempDir } from './helpers/server.ts';

const HOUR = 3_600_000;
const BASE = Date.parse('2024-05-01T08:00:00.000Z');
/** profiles are computed at a fixed instant, after every event */
const NOW = BASE + 5 * 24 * HOUR;

/** items keep one set of properties whichever event names them first */
const ITEMS = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'].map((id, i) => ({ id, name: `Item ${i}`, category: ['Shoes > Trail', 'Bags', 'Apparel > Socks'][i % 3]!, price: 5 + i * 10 }));

interface Person {
  userId: string;
  anonymousIds: string[];
}
const PEOPLE: Person[] = [
  { userId: 'u0', anonymousIds: ['a0', 'a0b'] },
  { userId: 'u1', anonymousIds: ['a1'] },
  { userId: 'u2', anonymousIds: ['a2', 'a2b'] },
];
const ALL_IDS = PEOPLE.flatMap((p) => [p.userId, ...p.anonymousIds]);

type Wire = Record<string, unknown> & { messageId: string; timestamp: string };

const item = fc.constantFrom(...ITEMS);
const product = (i: (typeof ITEMS)[number], quantity: number) => ({ product_id: i.id, name: i.name, category: i.category, price: i.price, quantity });

/** one event of a person, without its messageId and time */
const eventOf = (person: Person): fc.Arbitrary<Record<string, unknown>> => {
  const anyId = fc.constantFrom<Record<string, string>>({ userId: person.userId }, ...person.anonymousIds.map((a) => ({ anonymousId: a })));
  return fc.oneof(
    { weight: 5, arbitrary: fc.record({ ids: anyId, i: item }).map(({ ids, i }) => ({ type: 'track', ...ids, event: 'Product Viewed', properties: { product_id: i.id, name: i.name, category: i.category } })) },
    { weight: 2, arbitrary: fc.record({ ids: anyId, i: item, q: fc.integer({ min: 1, max: 3 }) }).map(({ ids, i, q }) => ({ type: 'track', ...ids, event: 'Product Added', properties: { product_id: i.id, price: i.price, quantity: q } })) },
    {
      weight: 1,
      arbitrary: fc.record({ ids: anyId, items: fc.uniqueArray(item, { minLength: 1, maxLength: 3, selector: (i) => i.id }), q: fc.integer({ min: 1, max: 2 }) }).map(({ ids, items, q }) => ({
        type: 'track', ...ids, event: 'Order Completed', properties: { order_id: 'o', products: items.map((i) => product(i, q)) },
      })),
    },
    { weight: 1, arbitrary: anyId.map((ids) => ({ type: 'page', ...ids, name: 'Home' })) },
    // identify links the userId with one of the person's devices, and sets traits
    {
      weight: 2,
      arbitrary: fc.record({ anon: fc.constantFrom(...person.anonymousIds), plan: fc.constantFrom('free', 'pro', 'team'), visits: fc.nat(9) }).map(({ anon, plan, visits }) => ({
        type: 'identify', userId: person.userId, anonymousId: anon, traits: { plan, visits },
      })),
    },
    // a track carrying both ids links them too
    { weight: 1, arbitrary: fc.record({ anon: fc.constantFrom(...person.anonymousIds), i: item }).map(({ anon, i }) => ({ type: 'track', userId: person.userId, anonymousId: anon, event: 'Product Viewed', properties: { product_id: i.id } })) },
    // consent changes, stated on an ordinary event
    {
      weight: 1,
      arbitrary: fc.record({ ids: anyId, allow: fc.boolean(), i: item }).map(({ ids, allow, i }) => ({
        type: 'track', ...ids, event: 'Product Viewed', properties: { product_id: i.id }, context: { consent: { categoryPreferences: { Personalization: allow } } },
      })),
    },
  );
};

/** a time in one of several sessions over four days; equal times happen (ties break by messageId) */
const time = fc.record({ day: fc.nat(3), session: fc.nat(2), minute: fc.nat(25) }).map(({ day, session, minute }) => BASE + day * 24 * HOUR + session * 3 * HOUR + minute * 60_000);

const eventSet: fc.Arbitrary<Wire[]> = fc
  .tuple(...PEOPLE.map((p) => fc.array(fc.tuple(eventOf(p), time), { maxLength: 14 })))
  .map((perPerson) => perPerson.flat().map(([e, t], i) => ({ ...e, messageId: `m${String(i).padStart(3, '0')}`, timestamp: new Date(t).toISOString() }) as Wire));

let dir: string;
let opened: ServingEngine;
let extensions: WorkspaceExtension[] = [];
let engine: Engine;
beforeAll(async () => {
  dir = tempDir('kairos-ooo-');
  // the same extensions as the server, so model updates run on every change too
  opened = await openServingEngine(dir);
  ({ engine, extensions } = opened);
});
afterAll(async () => {
  await opened?.close();
  removeDir(dir);
});

let workspaces = 0;
/** a new workspace; `catalog`: with every item already in the catalog */
async function freshWorkspace(catalog: boolean): Promise<Workspace> {
  const { id } = await engine.createWorkspace(`ooo-${workspaces++}`);
  const ws = engine.workspaces.get(id)!;
  if (catalog) await engine.upsertItems(ws, ITEMS.map((i) => ({ itemId: i.id, properties: { name: i.name, category: i.category, price: i.price } })));
  return ws;
}

/**
 * everything a person's profile shows, for every id, plus the catalog the events created and what
 * the session models answer for each item (their state is a function of the sessions they were given)
 */
function snapshot(ws: Workspace): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const id of ALL_IDS) out[id] = ws.profile(id, NOW) ?? null;
  for (const i of ITEMS) out[`item:${i.id}`] = ws.catalog.get(i.id)?.properties ?? null;
  const ext = extensions.find((e): e is RecommendationsExtension => e instanceof RecommendationsExtension);
  const rec = ext?.stateOf(ws).recommender;
  if (rec) {
    for (const i of ITEMS) {
      const q = { now: NOW, session: [{ itemId: i.id, kind: 'view' as const, t: NOW, weight: 1 }], history: [], personalized: true };
      // scores at ranking precision: sums taken in another order may differ in their last bits
      const ranked = (cs: Candidate[]) => cs.map((c) => ({ ...c, score: rankScore(c.score) }));
      out[`models:${i.id}`] = {
        sessions: rec.sessionKnn.sessionsWith(i.id),
        sessionKnn: ranked(rec.sessionKnn.generate(q, 10)),
        covisit: ranked(rec.covisit.generate(q, 10)),
        popular: ranked(rec.popularity.popular.generate(q, 10)),
      };
    }
  }
  return out;
}

const byTime = (a: Wire, b: Wire): number => Date.parse(a.timestamp) - Date.parse(b.timestamp) || (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0);

describe('out-of-order arrival', () => {
  it('shuffled, repeated, batched, concurrent arrival gives the profiles of sorted, deduplicated arrival', async () => {
    await fc.assert(
      fc.asyncProperty(eventSet.chain((events) => fc.record({ events: fc.constant(events), arrival: arrivalOf(events) })), async ({ events, arrival }) => {
        const sorted = await freshWorkspace(true);
        await engine.ingest(sorted, { events: [...events].sort(byTime), receivedAt: NOW });

        const shuffled = await freshWorkspace(true);
        await deliver(arrival, (batch) => engine.ingest(shuffled, { events: batch, receivedAt: NOW }));

        expect(snapshot(shuffled)).toEqual(snapshot(sorted));
      }),
      { numRuns: 60 },
    );
  });

  it('items created from event properties, and the affinities built on them, do not depend on arrival order', async () => {
    // the catalog does not know p9: events create it. Product Added carries only a price, the later
    // Product Viewed the name and category. Both arrival orders must give one catalog item and one profile.
    const added = { type: 'track', userId: 'cat-u', event: 'Product Added', properties: { product_id: 'p9', price: 30 }, messageId: 'cat-1', timestamp: new Date(BASE).toISOString() };
    const viewed = { type: 'track', userId: 'cat-u', event: 'Product Viewed', properties: { product_id: 'p9', name: 'Item 9', category: 'Tents', price: 30 }, messageId: 'cat-2', timestamp: new Date(BASE + HOUR).toISOString() };
    const inOrder = await freshWorkspace(false);
    await engine.ingest(inOrder, { events: [added], receivedAt: NOW });
    await engine.ingest(inOrder, { events: [viewed], receivedAt: NOW });
    const reversed = await freshWorkspace(false);
    await engine.ingest(reversed, { events: [viewed], receivedAt: NOW });
    await engine.ingest(reversed, { events: [added], receivedAt: NOW });
    expect(reversed.catalog.get('p9')?.properties).toEqual(inOrder.catalog.get('p9')?.properties);
    expect(reversed.profile('cat-u', NOW)?.features.categoryAffinity).toEqual(inOrder.profile('cat-u', NOW)?.features.categoryAffinity);
  });

  it('the profiles rebuilt from the store at a restart equal the live ones', async () => {
    // what the property's workspaces hold in memory must be what a restart reads back
    const live = new Map([...engine.workspaces.values()].filter((ws) => ws.id !== 'default').map((ws) => [ws.id, snapshot(ws)]));
    expect(live.size).toBeGreaterThan(0);
    await opened.close();
    opened = await openServingEngine(dir);
    ({ engine, extensions } = opened);
    for (const [id, snap] of live) expect(snapshot(engine.workspaces.get(id)!), id).toEqual(snap);
  });
});
