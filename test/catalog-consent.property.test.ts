/**
 * Catalog items made from events are built from the mentions of counted events only (those usable
 * under consent), whatever order the events arrive in. Three people view products carrying product
 * properties, link devices and state Personalization preferences at random times. Delivered
 * shuffled, with repeats, in random batches partly sent concurrently, the event-made catalog must
 * equal that of sorted, deduplicated delivery, and both must equal an oracle written here from the
 * consent rule alone (src/features/consent.ts): per person, by event time, an event counts when the
 * preference in force at its time is not false and the person's latest is not false; per item and
 * property the latest counted mention's value wins. A restart, which reads the stored items back
 * and judges them again, must hold the same catalog.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine/engine.ts';
import type { OpenedEngine } from '../src/engine/open.ts';
import type { Workspace } from '../src/engine/workspace.ts';
import { erasePerson } from '../src/privacy/erasure.ts';
import { arrivalOf, deliver } from './helpers/arrival.ts';
import { openServingEngine } from './helpers/engine.ts';
import type { Mutation } from '../src/store/types.ts';
import { removeDir, tempDir } from './helpers/server.ts';
import { waitFor } from './helpers/privacy.ts';

const HOUR = 3_600_000;
const BASE = Math.floor(Date.now() / HOUR) * HOUR - 2 * 24 * HOUR;
const PEOPLE = [
  { userId: 'u0', anonymousIds: ['a0', 'a0b'] },
  { userId: 'u1', anonymousIds: ['a1'] },
  { userId: 'u2', anonymousIds: ['a2'] },
];
const ITEMS = ['i0', 'i1', 'i2'];

type Wire = Record<string, unknown> & { messageId: string; timestamp: string; userId?: string; anonymousId?: string };

const eventOf = (person: (typeof PEOPLE)[number]): fc.Arbitrary<Record<string, unknown>> => {
  const anyId = fc.constantFrom<Record<string, string>>({ userId: person.userId }, ...person.anonymousIds.map((a) => ({ anonymousId: a })));
  const props = fc.record({ name: fc.constantFrom('Lamp', 'Sofa', 'Mug'), price: fc.integer({ min: 1, max: 9 }) }, { requiredKeys: [] });
  return fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom(...person.anonymousIds).map((anon) => ({ type: 'identify', userId: person.userId, anonymousId: anon })) },
    { weight: 2, arbitrary: fc.record({ ids: anyId, allow: fc.boolean() }).map(({ ids, allow }) => ({ type: 'identify', ...ids, context: { consent: { categoryPreferences: { Personalization: allow } } } })) },
    {
      weight: 5,
      arbitrary: fc.record({ ids: anyId, item: fc.constantFrom(...ITEMS), props, allow: fc.option(fc.boolean(), { nil: undefined, freq: 4 }) }).map(({ ids, item, props, allow }) => ({
        type: 'track',
        ...ids,
        event: 'Product Viewed',
        properties: { product_id: item, ...props, brand: person.userId },
        ...(allow !== undefined ? { context: { consent: { categoryPreferences: { Personalization: allow } } } } : {}),
      })),
    },
  );
};

/** minutes over two days; equal times happen (ties break by messageId) */
const time = fc.record({ day: fc.nat(1), minute: fc.nat(30) }).map(({ day, minute }) => BASE + day * 24 * HOUR + minute * 60_000);

const eventSet: fc.Arbitrary<Wire[]> = fc
  .tuple(...PEOPLE.map((p) => fc.array(fc.tuple(eventOf(p), time), { maxLength: 9 })))
  .map((perPerson) => perPerson.flat().map(([e, t], i) => ({ ...e, messageId: `m${String(i).padStart(3, '0')}`, timestamp: new Date(t).toISOString() }) as Wire));

const byTime = (a: Wire, b: Wire): number => Date.parse(a.timestamp) - Date.parse(b.timestamp) || (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0);
const preference = (e: Wire): boolean | undefined => (e.context as { consent?: { categoryPreferences?: { Personalization?: boolean } } } | undefined)?.consent?.categoryPreferences?.Personalization;

/** the consent rule and the merge rule, from scratch: item → { properties, firstSeen } */
function oracle(events: readonly Wire[]): Record<string, { properties: Record<string, unknown>; firstSeen: number }> {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    while (parent.has(x) && parent.get(x) !== x) x = parent.get(x)!;
    return x;
  };
  for (const e of events) {
    const ids = [e.userId, e.anonymousId].filter((x): x is string => x !== undefined);
    for (const id of ids) if (!parent.has(id)) parent.set(id, id);
    if (ids.length === 2 && find(ids[0]!) !== find(ids[1]!)) parent.set(find(ids[1]!), find(ids[0]!));
  }
  const byPerson = new Map<string, Wire[]>();
  for (const e of [...events].sort(byTime)) {
    const root = find((e.userId ?? e.anonymousId)!);
    byPerson.set(root, [...(byPerson.get(root) ?? []), e]);
  }
  const counted: Wire[] = [];
  for (const list of byPerson.values()) {
    let state: boolean | undefined;
    const usable: Wire[] = [];
    for (const e of list) {
      state = preference(e) ?? state;
      if (state !== false) usable.push(e);
    }
    if (state !== false) counted.push(...usable);
  }
  const out: Record<string, { properties: Record<string, unknown>; firstSeen: number }> = {};
  for (const e of counted.sort(byTime)) {
    if (e.event !== 'Product Viewed') continue;
    const { product_id, ...props } = e.properties as Record<string, unknown>;
    const item = (out[product_id as string] ??= { properties: {}, firstSeen: Date.parse(e.timestamp) });
    Object.assign(item.properties, props);
  }
  return out;
}

/** the event-made catalog as served: properties (the brand says whose view set them) and first mention */
function catalogOf(ws: Workspace): Record<string, { properties: Record<string, unknown>; firstSeen: number }> {
  const out: Record<string, { properties: Record<string, unknown>; firstSeen: number }> = {};
  for (const id of ITEMS) {
    const rec = ws.catalog.record(id);
    if (rec) out[id] = { properties: { ...rec.properties }, firstSeen: rec.firstSeen };
  }
  return out;
}

let dir: string;
let opened: OpenedEngine;
let engine: Engine;
async function open(): Promise<void> {
  opened = await openServingEngine(dir);
  engine = opened.engine;
}
beforeAll(async () => {
  dir = tempDir('kairos-catalog-consent-');
  await open();
});
afterAll(async () => {
  await opened?.close();
  removeDir(dir);
});

const RECEIVED_AT = BASE + 3 * 24 * HOUR;
const minuteAt = (minute: number): string => new Date(BASE + minute * 60_000).toISOString();
const optOutOf = (userId: string, minute: number, messageId: string) => ({ type: 'identify', userId, context: { consent: { categoryPreferences: { Personalization: false } } }, messageId, timestamp: minuteAt(minute) });
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Intercepted = { get: (ws: string, table: string, key: string) => Promise<unknown>; commit: (ws: string, m: readonly Mutation[]) => Promise<void> };
/** runs `body` with the store's reads of a workspace's events slowed by `ms` */
async function withSlowReads<T>(wsId: string, ms: number, body: () => Promise<T>): Promise<T> {
  const store = engine.store as unknown as Intercepted;
  const get = store.get.bind(store);
  store.get = async (id, table, key) => {
    if (id === wsId && table === 'events') await pause(ms);
    return get(id, table, key);
  };
  try {
    return await body();
  } finally {
    store.get = get;
  }
}
/** runs `body` with every commit first passed to `before`, which may delay it or throw instead */
async function withCommits<T>(before: (ws: string, mutations: readonly Mutation[]) => Promise<void> | void, body: () => Promise<T>): Promise<T> {
  const store = engine.store as unknown as Intercepted;
  const commit = store.commit.bind(store);
  store.commit = async (id, mutations) => {
    await before(id, mutations);
    return commit(id, mutations);
  };
  try {
    return await body();
  } finally {
    store.commit = commit;
  }
}
const writesItems = (mutations: readonly Mutation[]): boolean => mutations.some((m) => m.table === 'items');

const created: string[] = [];
async function workspace(): Promise<Workspace> {
  const { id } = await engine.createWorkspace(`cat-${created.length}`);
  created.push(id);
  return engine.workspaces.get(id)!;
}

describe('event-made catalog items under consent', () => {
  it('shuffled, repeated, batched, concurrent arrival builds what sorted arrival builds, and what the consent rule says', async () => {
    let withheld = 0;
    await fc.assert(
      fc.asyncProperty(eventSet.chain((events) => fc.record({ events: fc.constant(events), arrival: arrivalOf(events) })), async ({ events, arrival }) => {
        const want = oracle(events);
        const sorted = await workspace();
        await engine.ingest(sorted, { events: [...events].sort(byTime), receivedAt: BASE + 3 * 24 * HOUR });
        expect(catalogOf(sorted)).toEqual(want);
        const shuffled = await workspace();
        await deliver(arrival, (batch) => engine.ingest(shuffled, { events: batch, receivedAt: BASE + 3 * 24 * HOUR }));
        expect(catalogOf(shuffled)).toEqual(catalogOf(sorted));
        // views left out by consent: the property is not vacuous
        const everything = Object.keys(oracle(events.map((e) => ({ ...e, context: undefined })))).length;
        if (everything > Object.keys(want).length) withheld++;
      }),
      { numRuns: 60 },
    );
    expect(withheld).toBeGreaterThan(5);
  });

  it('batches and API writes naming an item being rebuilt wait for it, and lose nothing', async () => {
    const ws = await workspace();
    const v = (userId: string, name: string, minute: number, price?: number) => ({ type: 'track', userId, event: 'Product Viewed', properties: { product_id: 'i0', name, ...(price !== undefined ? { price } : {}) }, messageId: `w-${userId}-${minute}`, timestamp: minuteAt(minute) });
    await engine.ingest(ws, { events: [v('stayer', 'Stayed', 0, 4), v('leaver', 'Left', 5)], receivedAt: RECEIVED_AT });
    expect(ws.catalog.record('i0')?.properties).toEqual({ name: 'Left', price: 4 });
    // segment reads are slow: the rebuild the late opt-out starts is under way while the rest arrives
    await withSlowReads(ws.id, 40, async () => {
      const rebuilding = engine.ingest(ws, { events: [optOutOf('leaver', 1, 'w-out')], receivedAt: RECEIVED_AT });
      await pause(10);
      const newer = engine.ingest(ws, { events: [v('newcomer', 'Newer', 9)], receivedAt: RECEIVED_AT });
      const api = engine.upsertItems(ws, [{ itemId: 'i1', properties: { name: 'From the API' } }]);
      await Promise.all([rebuilding, newer, api]);
    });
    expect(ws.catalog.record('i0')?.properties).toEqual({ name: 'Newer', price: 4 });
    expect(ws.catalog.record('i1')?.properties).toEqual({ name: 'From the API' });
    expect((await engine.store.get<{ properties: unknown }>(ws.id, 'items', 'i0'))?.properties).toEqual({ name: 'Newer', price: 4 });
  });

  it('a batch woken by the same release as a second rebuild is not lost (the review’s repro)', async () => {
    const ws = await workspace();
    const v = (userId: string, props: Record<string, unknown>, minute: number) => ({ type: 'track', userId, event: 'Product Viewed', properties: { product_id: 'i0', ...props }, messageId: `x-${userId}-${minute}`, timestamp: minuteAt(minute) });
    await engine.ingest(ws, { events: [v('A', { name: 'A' }, 1), v('Q', { brand: 'Q' }, 3), v('P', { name: 'P' }, 5)], receivedAt: RECEIVED_AT });
    await withSlowReads(ws.id, 50, async () => {
      const first = engine.ingest(ws, { events: [optOutOf('P', 6, 'x-out-P')], receivedAt: RECEIVED_AT });
      await pause(10);
      const newest = engine.ingest(ws, { events: [v('N', { name: 'N', price: 7 }, 9)], receivedAt: RECEIVED_AT });
      await pause(5);
      const second = engine.ingest(ws, { events: [optOutOf('Q', 7, 'x-out-Q')], receivedAt: RECEIVED_AT });
      await Promise.all([first, newest, second]);
    });
    expect(ws.catalog.record('i0')?.properties).toEqual({ name: 'N', price: 7 });
    expect((await engine.store.get<{ properties: unknown }>(ws.id, 'items', 'i0'))?.properties).toEqual({ name: 'N', price: 7 });
  });

  it('a failed rebuild is tried again, also when the only batch that follows is a repeat', async () => {
    const ws = await workspace();
    const v = (userId: string, name: string, minute: number) => ({ type: 'track', userId, event: 'Product Viewed', properties: { product_id: 'i1', name }, messageId: `f-${userId}`, timestamp: minuteAt(minute) });
    await engine.ingest(ws, { events: [v('A', 'A', 0), v('P', 'P', 5)], receivedAt: RECEIVED_AT });
    const optOut = optOutOf('P', 1, 'f-out');
    let failures = 0;
    const failOnce = (id: string, mutations: readonly Mutation[]) => {
      if (id === ws.id && failures === 0 && writesItems(mutations)) {
        failures++;
        throw new Error('disk full');
      }
    };
    await withCommits(failOnce, async () => {
      await expect(engine.ingest(ws, { events: [optOut], receivedAt: RECEIVED_AT })).rejects.toThrow('disk full');
      expect((await engine.ingest(ws, { events: [optOut], receivedAt: RECEIVED_AT })).duplicates).toBe(1);
      await waitFor('the rebuild tried again', () => ws.catalog.record('i1')?.properties.name === 'A');
    });
    expect((await engine.store.get<{ properties: unknown }>(ws.id, 'items', 'i1'))?.properties).toEqual({ name: 'A' });
  });

  it('a batch whose mention changes nothing is still counted by a rebuild that starts while it commits', async () => {
    const ws = await workspace();
    const v = (userId: string, name: string, minute: number) => ({ type: 'track', userId, event: 'Product Viewed', properties: { product_id: 'i2', name }, messageId: `n-${userId}`, timestamp: minuteAt(minute) });
    await engine.ingest(ws, { events: [v('A', 'A', 1), v('P', 'P', 10)], receivedAt: RECEIVED_AT });
    // P's opt-out is stored first; Q's view right after it, merged before the opt-out applies. Q's
    // view is older than P's, so on the record it changes nothing, and its commit is slow to
    // complete (commits still complete in the order they were issued, as the store's do)
    const slowQ = async (id: string, mutations: readonly Mutation[]) => {
      if (id === ws.id && JSON.stringify(mutations).includes('n-Q')) await pause(60);
    };
    await withCommits(slowQ, () =>
      Promise.all([engine.ingest(ws, { events: [optOutOf('P', 0, 'n-out')], receivedAt: RECEIVED_AT }), engine.ingest(ws, { events: [v('Q', 'Q', 5)], receivedAt: RECEIVED_AT })]),
    );
    expect(ws.catalog.record('i2')?.properties).toEqual({ name: 'Q' });
    expect((await engine.store.get<{ properties: unknown }>(ws.id, 'items', 'i2'))?.properties).toEqual({ name: 'Q' });
  });

  it('a rebuild during an erasure never counts the erased events, whose segments no longer hold them', async () => {
    const ws = await workspace();
    const v = (userId: string, minute: number, props: Record<string, unknown> = {}) => ({ type: 'track', userId, event: 'Product Viewed', properties: { product_id: 'i0', ...props }, messageId: `e-${userId}`, timestamp: minuteAt(minute) });
    await engine.ingest(ws, { events: [v('P', 1), v('Q', 5, { name: 'Q' }), v('R', 7)], receivedAt: RECEIVED_AT });
    await withSlowReads(ws.id, 40, async () => {
      const erasing = erasePerson(engine, ws, 'P', { suppress: true, actor: 'test' });
      await pause(60);
      await Promise.all([erasing, engine.ingest(ws, { events: [optOutOf('R', 6, 'e-out')], receivedAt: RECEIVED_AT })]);
    });
    expect(catalogOf(ws).i0).toEqual({ properties: { name: 'Q' }, firstSeen: BASE + 5 * 60_000 });
    expect((await engine.store.get<{ firstSeen: number }>(ws.id, 'items', 'i0'))?.firstSeen).toBe(BASE + 5 * 60_000);
  });

  it('failed rebuilds in two workspaces are each tried again', async () => {
    const spaces = [await workspace(), await workspace()];
    for (const ws of spaces) {
      await engine.ingest(ws, { events: ['A', 'P'].map((u, k) => ({ type: 'track', userId: u, event: 'Product Viewed', properties: { product_id: 'i1', name: u }, messageId: `t-${u}`, timestamp: minuteAt(k * 5) })), receivedAt: RECEIVED_AT });
    }
    const failed = new Set<string>();
    const failOncePerWorkspace = (id: string, mutations: readonly Mutation[]) => {
      if (spaces.some((w) => w.id === id) && !failed.has(id) && writesItems(mutations)) {
        failed.add(id);
        throw new Error('disk full');
      }
    };
    await withCommits(failOncePerWorkspace, async () => {
      for (const ws of spaces) await expect(engine.ingest(ws, { events: [optOutOf('P', 1, 't-out')], receivedAt: RECEIVED_AT })).rejects.toThrow('disk full');
      for (const ws of spaces) await waitFor(`the rebuild of ${ws.id} tried again`, () => ws.catalog.record('i1')?.properties.name === 'A', 10_000);
    });
  });

  it('a stop between an opt-in and the rebuild of its items is made good at the next start', async () => {
    const ws = await workspace();
    const v = { type: 'track', userId: 'back', event: 'Product Viewed', properties: { product_id: 'i0', name: 'Early' }, messageId: 'crash-v', timestamp: minuteAt(1) };
    const say = (allow: boolean, minute: number) => ({ type: 'identify', userId: 'back', context: { consent: { categoryPreferences: { Personalization: allow } } }, messageId: `crash-${minute}`, timestamp: minuteAt(minute) });
    await engine.ingest(ws, { events: [v, say(false, 5)], receivedAt: RECEIVED_AT });
    expect(catalogOf(ws)).toEqual({});
    // the opt-in's events commit; the commit of the rebuilt item does not (the process stops there)
    const stop = (id: string, mutations: readonly Mutation[]) => {
      if (id === ws.id && writesItems(mutations)) throw new Error('stopped');
    };
    await withCommits(stop, () => expect(engine.ingest(ws, { events: [say(true, 20)], receivedAt: RECEIVED_AT })).rejects.toThrow('stopped'));
    expect(await engine.store.get(ws.id, 'items', 'i0')).toBeUndefined();
    await opened.close();
    await open();
    expect(catalogOf(engine.workspaces.get(ws.id)!)).toEqual({ i0: { properties: { name: 'Early' }, firstSeen: BASE + 60_000 } });
  });

  it('a restart, reading the stored items back, holds the same catalog', async () => {
    const live = new Map(created.map((id) => [id, catalogOf(engine.workspaces.get(id)!)]));
    expect(live.size).toBeGreaterThan(0);
    await opened.close();
    await open();
    for (const [id, want] of live) expect(catalogOf(engine.workspaces.get(id)!), id).toEqual(want);
  });
});
