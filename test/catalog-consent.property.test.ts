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
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capabilities } from '../src/capabilities.ts';
import { loadConfig } from '../src/config.ts';
import type { Engine } from '../src/engine/engine.ts';
import { openEngine, type OpenedEngine } from '../src/engine/open.ts';
import type { Workspace } from '../src/engine/workspace.ts';
import { erasePerson } from '../src/privacy/erasure.ts';
import { arrivalOf, deliver } from './helpers/arrival.ts';
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
  const config = loadConfig({ KAIROS_DATA_DIR: dir, KAIROS_WRITE_KEY: 'wk_cat', KAIROS_ADMIN_KEY: 'ak_cat', LOG_LEVEL: 'silent' });
  opened = await openEngine(config, pino({ level: 'silent' }), capabilities(config).extensions);
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
    const at = (minute: number) => new Date(BASE + minute * 60_000).toISOString();
    const v = (userId: string, name: string, minute: number, price?: number) => ({ type: 'track', userId, event: 'Product Viewed', properties: { product_id: 'i0', name, ...(price !== undefined ? { price } : {}) }, messageId: `w-${userId}-${minute}`, timestamp: at(minute) });
    const optOut = { type: 'identify', userId: 'leaver', context: { consent: { categoryPreferences: { Personalization: false } } }, messageId: 'w-out', timestamp: at(1) };
    await engine.ingest(ws, { events: [v('stayer', 'Stayed', 0, 4), v('leaver', 'Left', 5)], receivedAt: BASE + 3 * 24 * HOUR });
    expect(ws.catalog.record('i0')?.properties).toEqual({ name: 'Left', price: 4 });
    // segment reads are slow: the rebuild the late opt-out starts is under way while the rest arrives
    const store = engine.store as { get: (ws: string, table: string, key: string) => Promise<unknown> };
    const get = store.get.bind(store);
    store.get = async (id, table, key) => {
      if (id === ws.id && table === 'events') await new Promise((r) => setTimeout(r, 40));
      return get(id, table, key);
    };
    try {
      const rebuilding = engine.ingest(ws, { events: [optOut], receivedAt: BASE + 3 * 24 * HOUR });
      await new Promise((r) => setTimeout(r, 10));
      const newer = engine.ingest(ws, { events: [v('newcomer', 'Newer', 9)], receivedAt: BASE + 3 * 24 * HOUR });
      const api = engine.upsertItems(ws, [{ itemId: 'i1', properties: { name: 'From the API' } }]);
      await Promise.all([rebuilding, newer, api]);
    } finally {
      store.get = get;
    }
    expect(ws.catalog.record('i0')?.properties).toEqual({ name: 'Newer', price: 4 });
    expect(ws.catalog.record('i1')?.properties).toEqual({ name: 'From the API' });
    expect((await engine.store.get<{ properties: unknown }>(ws.id, 'items', 'i0'))?.properties).toEqual({ name: 'Newer', price: 4 });
  });

  it('a batch woken by the same release as a second rebuild is not lost (the review’s repro)', async () => {
    const ws = await workspace();
    const at = (minute: number) => new Date(BASE + minute * 60_000).toISOString();
    const v = (userId: string, props: Record<string, unknown>, minute: number) => ({ type: 'track', userId, event: 'Product Viewed', properties: { product_id: 'i0', ...props }, messageId: `x-${userId}-${minute}`, timestamp: at(minute) });
    const out = (userId: string, minute: number) => ({ type: 'identify', userId, context: { consent: { categoryPreferences: { Personalization: false } } }, messageId: `x-out-${userId}`, timestamp: at(minute) });
    const receivedAt = BASE + 3 * 24 * HOUR;
    await engine.ingest(ws, { events: [v('A', { name: 'A' }, 1), v('Q', { brand: 'Q' }, 3), v('P', { name: 'P' }, 5)], receivedAt });
    const store = engine.store as { get: (ws: string, table: string, key: string) => Promise<unknown> };
    const get = store.get.bind(store);
    store.get = async (id, table, key) => {
      if (id === ws.id && table === 'events') await new Promise((r) => setTimeout(r, 50));
      return get(id, table, key);
    };
    try {
      const first = engine.ingest(ws, { events: [out('P', 6)], receivedAt });
      await new Promise((r) => setTimeout(r, 10));
      const newest = engine.ingest(ws, { events: [v('N', { name: 'N', price: 7 }, 9)], receivedAt });
      await new Promise((r) => setTimeout(r, 5));
      const second = engine.ingest(ws, { events: [out('Q', 7)], receivedAt });
      await Promise.all([first, newest, second]);
    } finally {
      store.get = get;
    }
    expect(ws.catalog.record('i0')?.properties).toEqual({ name: 'N', price: 7 });
    expect((await engine.store.get<{ properties: unknown }>(ws.id, 'items', 'i0'))?.properties).toEqual({ name: 'N', price: 7 });
  });

  it('a failed rebuild is tried again, also when the only batch that follows is a repeat', async () => {
    const ws = await workspace();
    const at = (minute: number) => new Date(BASE + minute * 60_000).toISOString();
    const receivedAt = BASE + 3 * 24 * HOUR;
    const v = (userId: string, name: string, minute: number) => ({ type: 'track', userId, event: 'Product Viewed', properties: { product_id: 'i1', name }, messageId: `f-${userId}`, timestamp: at(minute) });
    await engine.ingest(ws, { events: [v('A', 'A', 0), v('P', 'P', 5)], receivedAt });
    const optOut = { type: 'identify', userId: 'P', context: { consent: { categoryPreferences: { Personalization: false } } }, messageId: 'f-out', timestamp: at(1) };
    const store = engine.store as { commit: (ws: string, m: readonly unknown[]) => Promise<void> };
    const commit = store.commit.bind(store);
    let failures = 0;
    store.commit = async (id, mutations) => {
      if (id === ws.id && failures === 0 && mutations.some((m) => (m as { table: string }).table === 'items')) {
        failures++;
        throw new Error('disk full');
      }
      return commit(id, mutations as never);
    };
    try {
      await expect(engine.ingest(ws, { events: [optOut], receivedAt })).rejects.toThrow('disk full');
      expect((await engine.ingest(ws, { events: [optOut], receivedAt })).duplicates).toBe(1);
      await waitFor('the rebuild tried again', () => ws.catalog.record('i1')?.properties.name === 'A');
    } finally {
      store.commit = commit;
    }
    expect((await engine.store.get<{ properties: unknown }>(ws.id, 'items', 'i1'))?.properties).toEqual({ name: 'A' });
  });

  it('a batch whose mention changes nothing is still counted by a rebuild that starts while it commits', async () => {
    const ws = await workspace();
    const at = (minute: number) => new Date(BASE + minute * 60_000).toISOString();
    const receivedAt = BASE + 3 * 24 * HOUR;
    const v = (userId: string, name: string, minute: number) => ({ type: 'track', userId, event: 'Product Viewed', properties: { product_id: 'i2', name }, messageId: `n-${userId}`, timestamp: at(minute) });
    await engine.ingest(ws, { events: [v('A', 'A', 1), v('P', 'P', 10)], receivedAt });
    // Q's view is older than P's: merged onto the record it changes nothing, and its commit is slow
    const store = engine.store as { commit: (ws: string, m: readonly unknown[]) => Promise<void> };
    const commit = store.commit.bind(store);
    store.commit = async (id, mutations) => {
      if (id === ws.id && JSON.stringify(mutations).includes('n-Q')) await new Promise((r) => setTimeout(r, 60));
      return commit(id, mutations as never);
    };
    try {
      const q = engine.ingest(ws, { events: [v('Q', 'Q', 5)], receivedAt });
      await new Promise((r) => setTimeout(r, 10));
      const out = engine.ingest(ws, { events: [{ type: 'identify', userId: 'P', context: { consent: { categoryPreferences: { Personalization: false } } }, messageId: 'n-out', timestamp: at(0) }], receivedAt });
      await Promise.all([q, out]);
    } finally {
      store.commit = commit;
    }
    expect(ws.catalog.record('i2')?.properties).toEqual({ name: 'Q' });
    expect((await engine.store.get<{ properties: unknown }>(ws.id, 'items', 'i2'))?.properties).toEqual({ name: 'Q' });
  });

  it('a rebuild during an erasure never counts the erased events, whose segments no longer hold them', async () => {
    const ws = await workspace();
    const at = (minute: number) => new Date(BASE + minute * 60_000).toISOString();
    const receivedAt = BASE + 3 * 24 * HOUR;
    const v = (userId: string, minute: number, props: Record<string, unknown> = {}) => ({ type: 'track', userId, event: 'Product Viewed', properties: { product_id: 'i0', ...props }, messageId: `e-${userId}`, timestamp: at(minute) });
    await engine.ingest(ws, { events: [v('P', 1), v('Q', 5, { name: 'Q' }), v('R', 7)], receivedAt });
    const store = engine.store as { get: (ws: string, table: string, key: string) => Promise<unknown> };
    const get = store.get.bind(store);
    store.get = async (id, table, key) => {
      if (id === ws.id && table === 'events') await new Promise((r) => setTimeout(r, 40));
      return get(id, table, key);
    };
    try {
      const erasing = erasePerson(engine, ws, 'P', { suppress: true, actor: 'test' });
      await new Promise((r) => setTimeout(r, 60));
      const out = engine.ingest(ws, { events: [{ type: 'identify', userId: 'R', context: { consent: { categoryPreferences: { Personalization: false } } }, messageId: 'e-out', timestamp: at(6) }], receivedAt });
      await Promise.all([erasing, out]);
    } finally {
      store.get = get;
    }
    expect(catalogOf(ws).i0).toEqual({ properties: { name: 'Q' }, firstSeen: BASE + 5 * 60_000 });
    const stored = await engine.store.get<{ firstSeen: number }>(ws.id, 'items', 'i0');
    expect(stored?.firstSeen).toBe(BASE + 5 * 60_000);
  });

  it('failed rebuilds in two workspaces are each tried again', async () => {
    const spaces = [await workspace(), await workspace()];
    const at = (minute: number) => new Date(BASE + minute * 60_000).toISOString();
    const receivedAt = BASE + 3 * 24 * HOUR;
    for (const ws of spaces) {
      await engine.ingest(ws, { events: ['A', 'P'].map((u, k) => ({ type: 'track', userId: u, event: 'Product Viewed', properties: { product_id: 'i1', name: u }, messageId: `t-${u}`, timestamp: at(k * 5) })), receivedAt });
    }
    const store = engine.store as { commit: (ws: string, m: readonly unknown[]) => Promise<void> };
    const commit = store.commit.bind(store);
    const failed = new Set<string>();
    store.commit = async (id, mutations) => {
      if (spaces.some((w) => w.id === id) && !failed.has(id) && mutations.some((m) => (m as { table: string }).table === 'items')) {
        failed.add(id);
        throw new Error('disk full');
      }
      return commit(id, mutations as never);
    };
    try {
      for (const ws of spaces) {
        const optOut = { type: 'identify', userId: 'P', context: { consent: { categoryPreferences: { Personalization: false } } }, messageId: 't-out', timestamp: at(1) };
        await expect(engine.ingest(ws, { events: [optOut], receivedAt })).rejects.toThrow('disk full');
      }
      for (const ws of spaces) await waitFor(`the rebuild of ${ws.id} tried again`, () => ws.catalog.record('i1')?.properties.name === 'A', 10_000);
    } finally {
      store.commit = commit;
    }
  });

  it('a stop between an opt-in and the rebuild of its items is made good at the next start', async () => {
    const ws = await workspace();
    const v = { type: 'track', userId: 'back', event: 'Product Viewed', properties: { product_id: 'i0', name: 'Early' }, messageId: 'crash-v', timestamp: new Date(BASE + 60_000).toISOString() };
    const say = (allow: boolean, minute: number) => ({ type: 'identify', userId: 'back', context: { consent: { categoryPreferences: { Personalization: allow } } }, messageId: `crash-${minute}`, timestamp: new Date(BASE + minute * 60_000).toISOString() });
    await engine.ingest(ws, { events: [v, say(false, 5)], receivedAt: BASE + 3 * 24 * HOUR });
    expect(catalogOf(ws)).toEqual({});
    // the opt-in's events commit; the commit of the rebuilt item does not (the process stops there)
    const store = engine.store as { commit: (ws: string, m: readonly unknown[]) => Promise<void> };
    const commit = store.commit.bind(store);
    store.commit = async (id, mutations) => {
      if (id === ws.id && mutations.some((m) => (m as { table: string }).table === 'items')) throw new Error('stopped');
      return commit(id, mutations as never);
    };
    try {
      await expect(engine.ingest(ws, { events: [say(true, 20)], receivedAt: BASE + 3 * 24 * HOUR })).rejects.toThrow('stopped');
    } finally {
      store.commit = commit;
    }
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
