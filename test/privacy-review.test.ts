/**
 * What adversarial reviews of privacy and durability found, through the real server and the real
 * store: an erasure with suppression racing the person's own traffic, a crash in the middle of a
 * compaction, a consent preference dated ahead, a client retrying an erased event, and a crash
 * between an event's commit and the commit of what is derived from it.
 */
import { cpSync, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { capabilities } from '../src/capabilities.ts';
import { loadConfig } from '../src/config.ts';
import { compactStore, Engine } from '../src/engine/engine.ts';
import { LmdbStore } from '../src/store/lmdb/lmdb-store.ts';
import { INSTANCE, type Mutation } from '../src/store/types.ts';
import { ingest, recordsOf, scanBytes, token } from './helpers/privacy.ts';
import { api, testResources, type TestServer } from './helpers/server.ts';

const resources = testResources({ prefix: 'kairos-privacy-review-' });

describe('erasure with ?suppress=true while the person keeps sending', () => {
  it('answers 404 afterwards, also after a restart: what was under way when it began is erased too', async () => {
    const dir = resources.dataDir();
    let s = await resources.server(dir);
    for (let run = 0; run < 3; run++) {
      const user = `racer-${run}-${token()}`;
      const anon = `racer-anon-${run}-${token()}`;
      let sending = true;
      let n = 0;
      // eight clients send the person's events in batches, until a while after the erasure answered
      const senders = Array.from({ length: 8 }, async (_, c) => {
        while (sending) {
          const batch = Array.from({ length: 20 }, () => ({ type: 'track', userId: user, anonymousId: anon, event: 'Product Viewed', properties: { product_id: `p${n++ % 7}` } }));
          expect((await ingest(s.url, '/v1/batch', { batch })).status, `client ${c}`).toBe(200);
        }
      });
      await new Promise((r) => setTimeout(r, 60));
      const erased = await api(s.url, 'DELETE', `/v1/profiles/${user}?suppress=true`);
      expect(erased.status).toBe(200);
      expect((await api(s.url, 'GET', `/v1/profiles/${user}`)).status, 'right after the erasure').toBe(404);
      await new Promise((r) => setTimeout(r, 60));
      sending = false;
      await Promise.all(senders);
      for (const id of [user, anon]) expect((await api(s.url, 'GET', `/v1/profiles/${id}`)).status, `${id} once the clients stopped`).toBe(404);
      s = await resources.restart(s);
      for (const id of [user, anon]) expect((await api(s.url, 'GET', `/v1/profiles/${id}`)).status, `${id} after a restart`).toBe(404);
      expect((await api(s.url, 'GET', `/v1/profiles/${user}/export`)).status).toBe(404);
    }
  });
});

describe('a compaction a crash interrupts', () => {
  const marked = async (dir: string): Promise<string> => {
    const store = new LmdbStore(dir);
    const secret = `erased-${token()}`;
    await store.commit('w', [{ table: 'items', key: 'kept', value: { name: 'kept' } }, { table: 'items', key: 'gone', value: { name: secret } }]);
    await store.commit('w', [{ table: 'items', key: 'gone' }]);
    await store.commit(INSTANCE, [{ table: 'meta', key: 'compaction-due', value: new Date().toISOString() }]);
    await store.close();
    return secret;
  };

  it('keeps the mark that a compaction is due until the compacted store replaces the old one', async () => {
    const dir = join(resources.dataDir(), 'store');
    const secret = await marked(dir);
    const store = new LmdbStore(dir);
    try {
      expect(await store.get(INSTANCE, 'meta', 'compaction-due')).toBeDefined();
      // a compaction that dies before its swap (here it throws where a kill would stop it) leaves the mark
      const dying = new Proxy(store, { get: (t, k) => (k === 'compact' ? async () => Promise.reject(new Error('killed')) : Reflect.get(t, k, t)) });
      await expect(compactStore(dying)).rejects.toThrow('killed');
      expect(await store.get(INSTANCE, 'meta', 'compaction-due'), 'the mark outlives a compaction that did not finish').toBeDefined();
      await compactStore(store);
      expect(await store.get(INSTANCE, 'meta', 'compaction-due')).toBeUndefined();
      expect(await store.get('w', 'items', 'kept')).toEqual({ name: 'kept' });
    } finally {
      await store.close();
    }
    expect(scanBytes(dir, [secret])).toEqual([]);
  });

  it('between its two renames: the next open puts the finished copy in place and removes the old files', async () => {
    const root = resources.dataDir();
    const dir = join(root, 'store');
    const secret = await marked(dir);
    // the finished copy, as compact() leaves it closed at `.compacting` before it renames anything
    const copy = new LmdbStore(join(root, 'copy'));
    await copy.commit('w', [{ table: 'items', key: 'kept', value: { name: 'kept' } }]);
    await copy.close();
    renameSync(join(root, 'copy'), `${dir}.compacting`);
    // the crash: the store was renamed to `.old`, the copy not yet to the store
    renameSync(dir, `${dir}.old`);
    expect(scanBytes(root, [secret]).length).toBeGreaterThan(0);
    const store = new LmdbStore(dir);
    try {
      expect(await store.get('w', 'items', 'kept')).toEqual({ name: 'kept' });
    } finally {
      await store.close();
    }
    expect(existsSync(`${dir}.old`) || existsSync(`${dir}.compacting`)).toBe(false);
    expect(scanBytes(root, [secret])).toEqual([]);
  });

  it('after its swap: an old store left behind is removed at the next open', async () => {
    const root = resources.dataDir();
    const dir = join(root, 'store');
    const secret = await marked(dir);
    cpSync(dir, join(root, 'before'), { recursive: true });
    const store = new LmdbStore(dir);
    await compactStore(store);
    await store.close();
    // the crash: the compacted store is in place, the old one not yet removed
    renameSync(join(root, 'before'), `${dir}.old`);
    expect(scanBytes(root, [secret]).length, 'the stale copy still holds it').toBeGreaterThan(0);
    await new LmdbStore(dir).close();
    expect(existsSync(`${dir}.old`)).toBe(false);
    expect(scanBytes(root, [secret])).toEqual([]);
  });
});

describe('consent preferences', () => {
  it('one dated ahead of its receipt does not outrank an opt-out stated after it', async () => {
    const s = await resources.server();
    const who = `c-${token()}`;
    const ahead = new Date(Date.now() + 20 * 3_600_000).toISOString();
    expect((await ingest(s.url, '/v1/track', { userId: who, event: 'Opted In', timestamp: ahead, context: { consent: { categoryPreferences: { Personalization: true } } } })).status).toBe(200);
    expect((await ingest(s.url, '/v1/track', { userId: who, event: 'Opted Out', context: { consent: { categoryPreferences: { Personalization: false } } } })).status).toBe(200);
    const profile = (await api(s.url, 'GET', `/v1/profiles/${who}`)).json;
    expect(profile.consent).toEqual({ categoryPreferences: { Personalization: false } });
  });

  it('a client clock an hour ahead cannot make what it sent while opted out count after it opts back in', async () => {
    const s = await resources.server();
    const ahead = (): string => new Date(Date.now() + 3_600_000).toISOString();
    const out = { consent: { categoryPreferences: { Personalization: false } } };
    const back = { consent: { categoryPreferences: { Personalization: true } } };
    // one at a time, as a server-side SDK sends them, each stamped by the fast clock
    const single = `skew-single-${token()}`;
    for (const e of [
      { event: 'Product Viewed', properties: { product_id: 'p-before' } },
      { event: 'Consent Updated', context: out },
      { event: 'Product Viewed', properties: { product_id: 'p-while-out' } },
      { event: 'Consent Updated', context: back },
    ]) {
      expect((await ingest(s.url, '/v1/track', { userId: single, timestamp: ahead(), ...e })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 5));
    }
    // in one batch whose sentAt shows the same clock: moved back by its lead, in their order
    const batched = `skew-batch-${token()}`;
    const t = Date.now() + 3_600_000;
    const batch = [
      { type: 'track', userId: batched, event: 'Product Viewed', properties: { product_id: 'p-before' }, timestamp: new Date(t - 4000).toISOString() },
      { type: 'track', userId: batched, event: 'Consent Updated', context: out, timestamp: new Date(t - 3000).toISOString() },
      { type: 'track', userId: batched, event: 'Product Viewed', properties: { product_id: 'p-while-out' }, timestamp: new Date(t - 2000).toISOString() },
      { type: 'track', userId: batched, event: 'Consent Updated', context: back, timestamp: new Date(t - 1000).toISOString() },
    ];
    expect((await ingest(s.url, '/v1/batch', { batch, sentAt: new Date(t).toISOString() })).status).toBe(200);
    for (const who of [single, batched]) {
      const profile = (await api(s.url, 'GET', `/v1/profiles/${who}`)).json;
      expect(profile.consent, who).toEqual({ categoryPreferences: { Personalization: true } });
      expect(profile.features.recentlyViewed.map((v: { itemId: string }) => v.itemId), who).toEqual(['p-before']);
    }
    // and nothing of theirs is dated after its receipt
    const exported = (await api(s.url, 'GET', `/v1/profiles/${batched}/export`)).text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    for (const r of exported.filter((x) => x.type === 'event')) expect(new Date(r.event.timestamp).getTime()).toBeLessThanOrEqual(new Date(r.event.receivedAt).getTime());
  });
});

describe('a client retrying an erased event', () => {
  it('is acknowledged and ignored, as a repeat, also after a restart', async () => {
    const dir = resources.dataDir();
    let s: TestServer = await resources.server(dir);
    const who = `retry-${token()}`;
    const event = { userId: who, event: 'Product Viewed', messageId: `m-${token()}`, properties: { product_id: 'p1' } };
    expect((await ingest(s.url, '/v1/track', event)).status).toBe(200);
    expect((await api(s.url, 'DELETE', `/v1/profiles/${who}`)).json).toMatchObject({ erased: true, events: 1 });
    expect((await ingest(s.url, '/v1/track', event)).status).toBe(200);
    expect((await api(s.url, 'GET', `/v1/profiles/${who}`)).status).toBe(404);
    s = await resources.restart(s);
    expect((await ingest(s.url, '/v1/batch', { batch: [{ ...event, type: 'track' }] })).status).toBe(200);
    expect((await api(s.url, 'GET', `/v1/profiles/${who}`)).status).toBe(404);
    // a new event of the id (without suppression) starts it afresh
    expect((await ingest(s.url, '/v1/track', { ...event, messageId: `m-${token()}` })).status).toBe(200);
    expect((await api(s.url, 'GET', `/v1/profiles/${who}`)).json.eventCount).toBe(1);
  });
});

describe('a crash between an event commit and the commit of what is derived from it', () => {
  it('is repaired at the next start: the conversion the event brought counts, once', async () => {
    const dir = resources.dataDir();
    let s = await resources.server(dir);
    const experiment = {
      placement: 'home', variants: [{ id: 'a', weight: 1, config: {} }, { id: 'b', weight: 1, config: {} }],
      holdoutPercent: 0, metrics: ['Signed Up'], status: 'running',
    };
    expect((await api(s.url, 'PUT', '/v1/experiments/crash', experiment)).status).toBe(200);
    const who = `crash-${token()}`;
    expect((await api(s.url, 'POST', '/v1/recommendations', { userId: who, context: { placement: 'home' } })).status).toBe(200);
    const conversions = async (t: TestServer): Promise<number> =>
      ((await api(t.url, 'GET', '/v1/experiments/crash/results')).json.variants as Array<{ metrics: Record<string, { conversions: number }> }>).reduce((n, v) => n + (v.metrics['Signed Up']?.conversions ?? 0), 0);
    await resources.stop(s);

    // the engine dies right after the event is durable: every later commit fails, as if killed there
    const config = loadConfig({ KAIROS_DATA_DIR: dir, LOG_LEVEL: 'silent' });
    const store = new LmdbStore(join(dir, 'store'));
    let killed = false;
    const dying = new Proxy(store, {
      get: (t, k) => (k === 'commit' ? (ws: string, mutations: readonly Mutation[]) => {
        if (killed) return Promise.reject(new Error('killed'));
        killed = mutations.some((m) => m.table === 'events');
        return t.commit(ws, mutations);
      } : Reflect.get(t, k, t)),
    });
    const caps = capabilities(config);
    const engine = await Engine.open({ config, store: dying, logger: pino({ level: 'silent' }), extensions: caps.extensions });
    const ws = engine.workspaces.get('default')!;
    await expect(engine.ingest(ws, { events: [{ type: 'track', userId: who, event: 'Signed Up', messageId: 'crash-signup' }] })).rejects.toThrow('killed');
    killed = false;
    await caps.stop?.();
    await engine.close();

    s = await resources.server(dir);
    expect((await api(s.url, 'GET', `/v1/profiles/${who}`)).json.eventCount).toBe(1);
    expect(await conversions(s)).toBe(1);
    // the client's retry is a repeat; a restart derives nothing twice
    expect((await ingest(s.url, '/v1/track', { userId: who, event: 'Signed Up', messageId: 'crash-signup' })).status).toBe(200);
    // a later batch's marks are removed by a clean stop, not left for the next start
    expect((await ingest(s.url, '/v1/track', { userId: who, event: 'Page Seen', messageId: 'crash-later' })).status).toBe(200);
    await resources.stop(s);
    expect(await recordsOf(dir, 'default', 'meta').then((r) => r.filter(([k]) => k.startsWith('deriving/')))).toEqual([]);
    s = await resources.server(dir);
    expect(await conversions(s)).toBe(1);
  });
});
