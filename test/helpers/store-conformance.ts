/**
 * The storage conformance suite: every backend of the `Store` interface (embedded LMDB now; Redis,
 * PostgreSQL and NATS JetStream later) runs the same tests, so the core can rely on the interface
 * and nothing else. A backend joins by calling `describeStoreConformance(name, factory)`.
 *
 * Key order is Unicode code-point order (the byte order of UTF-8), the order LMDB, PostgreSQL with
 * the C collation and Redis lexicographic ranges agree on. It differs from JavaScript's default
 * string comparison (UTF-16 code units) only for characters above U+FFFF versus U+E000–U+FFFF.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Encoded, type Mutation, type Store, type Table } from '../../src/store/types.ts';
import { scenarios } from './store-scenarios.ts';

export interface StoreHarness {
  /** opens the backend's storage; called again after close() it must open the same data */
  open(): Promise<Store>;
  /**
   * the directory whose files hold everything the backend persists, for the byte-level residue
   * check after compaction; undefined for backends whose bytes live in another service
   */
  dataDir?: string;
  /** removes every trace of the storage (after the test) */
  destroy(): Promise<void>;
  /**
   * how a child process opens the same storage: a module exporting `exportName(dataDir)` that
   * resolves to the store. Scenarios that may take a process down run there.
   */
  isolated?: { module: string; exportName: string };
}

export type StoreFactory = () => Promise<StoreHarness>;

const SCENARIO = join(import.meta.dirname, 'store-scenario.ts');

/** Code-point order: compares the UTF-8 bytes. */
export const codePointOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

export async function collect<T>(store: Store, ws: string, table: Table, prefix?: string): Promise<Array<[string, T]>> {
  const out: Array<[string, T]> = [];
  for await (const entry of store.scan<T>(ws, table, prefix)) out.push(entry);
  return out;
}

const keysOf = (entries: ReadonlyArray<[string, unknown]>): string[] => entries.map(([k]) => k);

/** every file under `dir` whose bytes contain `needle` (UTF-8) */
export function filesContaining(dir: string, needle: string): string[] {
  const bytes = Buffer.from(needle, 'utf8');
  const hits: string[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile() && readFileSync(p).includes(bytes)) hits.push(p);
    }
  };
  if (existsSync(dir) && statSync(dir).isDirectory()) walk(dir);
  return hits;
}

export function describeStoreConformance(name: string, factory: StoreFactory): void {
  describe(`store conformance: ${name}`, () => {
    let harness: StoreHarness;
    let store: Store;

    beforeEach(async () => {
      harness = await factory();
      store = await harness.open();
    });

    afterEach(async () => {
      await store.close();
      await harness.destroy();
    });

    const reopen = async (): Promise<Store> => {
      await store.close();
      store = await harness.open();
      return store;
    };

    it('get answers undefined for a key never written', async () => {
      expect(await store.get('w', 'items', 'missing')).toBeUndefined();
      expect(await collect(store, 'w', 'items')).toEqual([]);
    });

    it('round-trips JSON-like values of every shape', async () => {
      const values: Record<string, unknown> = {
        object: { name: 'Trail Shoe', price: 89.5, tags: ['run', 'trail'], nested: { deep: [1, { x: true }] } },
        array: [1, 'two', null, { three: 3 }],
        string: 'plain',
        empty: '',
        zero: 0,
        negative: -12.25,
        big: Number.MAX_SAFE_INTEGER,
        yes: true,
        no: false,
        nothing: null,
        unicode: { 'ключ': 'значение', emoji: '😀🛒', rtl: 'שלום', nul: 'a\u0000b' },
      };
      await store.commit('w', Object.entries(values).map(([key, value]) => ({ table: 'items', key, value })));
      for (const [key, value] of Object.entries(values)) expect(await store.get('w', 'items', key), key).toEqual(value);
    });

    it('a value handed over already encoded (Encoded) reads back as the value, beside values the store encoded', async () => {
      // what bulk import's parsing thread hands over: MessagePack with record structures inline
      const packr = new Packr({ useRecords: true });
      const own = Array.from({ length: 40 }, (_, i) => ({ messageId: `own-${i}`, userId: `u${i % 3}`, properties: { product_id: `p${i}`, price: i / 4 } }));
      const encoded = Array.from({ length: 40 }, (_, i) => ({ messageId: `enc-${i}`, userId: `u${i % 3}`, properties: { product_id: `p${i}`, name: 'ключ 😀', tags: ['a', i] }, ...(i % 2 ? { context: { page: { url: 'https://shop.example/x' } } } : {}) }));
      // the store's own values first, so that any structures it shares are defined before the encoded ones
      await store.commit('w', [{ table: 'events', key: '000000000001', value: own }]);
      await store.commit('w', [
        { table: 'events', key: '000000000002', value: new Encoded(new Uint8Array(packr.pack(encoded))) },
        { table: 'events', key: '000000000003', value: own.slice(0, 5).map((e) => ({ ...e, extra: true })) },
      ]);
      const expected = [['000000000001', own], ['000000000002', encoded], ['000000000003', own.slice(0, 5).map((e) => ({ ...e, extra: true }))]];
      expect(await collect(store, 'w', 'events')).toEqual(expected);
      store = await reopen();
      expect(await store.get('w', 'events', '000000000002')).toEqual(encoded);
      expect(await collect(store, 'w', 'events')).toEqual(expected);
    });

    it('a resolved commit makes every mutation visible, across tables', async () => {
      const mutations: Mutation[] = [];
      for (let i = 0; i < 200; i++) mutations.push({ table: 'items', key: `item-${String(i).padStart(3, '0')}`, value: { i } });
      mutations.push({ table: 'events', key: '000000000001', value: [{ messageId: 'm1' }] });
      mutations.push({ table: 'keys', key: 'key_1', value: { scopes: ['read'] } });
      await store.commit('w', mutations);
      expect(await collect(store, 'w', 'items')).toHaveLength(200);
      expect(await store.get('w', 'events', '000000000001')).toEqual([{ messageId: 'm1' }]);
      expect(await store.get('w', 'keys', 'key_1')).toEqual({ scopes: ['read'] });
    });

    it('a reader never sees part of a commit', async () => {
      const n = 500;
      const mutations: Mutation[] = Array.from({ length: n }, (_, i) => ({ table: 'items', key: `batch/${String(i).padStart(4, '0')}`, value: { i, pad: 'x'.repeat(200) } }));
      const seen = new Set<number>();
      let done = false;
      const commit = store.commit('w', mutations).finally(() => (done = true));
      // keep taking snapshots while the commit is under way, and once after it resolved
      for (;;) {
        const finished = done;
        seen.add((await collect(store, 'w', 'items', 'batch/')).length);
        if (finished) break;
        // a macrotask turn, so the backend's I/O callbacks can complete the commit
        await new Promise((r) => setImmediate(r));
      }
      await commit;
      expect([...seen].every((count) => count === 0 || count === n), `partial counts seen: ${[...seen].join(', ')}`).toBe(true);
      expect(seen.has(n)).toBe(true);
    });

    it('a commit that fails applies none of its mutations', async () => {
      // a key far beyond what some backends accept (LMDB: 1978 bytes): the backend may refuse it,
      // but then it must refuse the whole commit
      const huge = 'k'.repeat(100_000);
      let failed = false;
      try {
        await store.commit('w', [
          { table: 'items', key: 'before-huge', value: 1 },
          { table: 'items', key: huge, value: 2 },
          { table: 'items', key: 'after-huge', value: 3 },
        ]);
      } catch {
        failed = true;
      }
      // a later commit flushes whatever a backend may still hold queued
      await store.commit('w', [{ table: 'items', key: 'later', value: 4 }]);
      const keys = keysOf(await collect(store, 'w', 'items'));
      if (failed) expect(keys).toEqual(['later']);
      else expect(keys.sort(codePointOrder)).toEqual(['after-huge', 'before-huge', huge, 'later'].sort(codePointOrder));
      store = await reopen();
      expect(keysOf(await collect(store, 'w', 'items'))).toEqual(failed ? ['later'] : [...keys]);
    });

    it('concurrent commits all land', async () => {
      await Promise.all(Array.from({ length: 50 }, (_, i) => store.commit('w', [
        { table: 'items', key: `c${String(i).padStart(2, '0')}-a`, value: i },
        { table: 'items', key: `c${String(i).padStart(2, '0')}-b`, value: -i },
      ])));
      const entries = await collect<number>(store, 'w', 'items');
      expect(entries).toHaveLength(100);
      for (const [key, value] of entries) expect(Math.abs(value)).toBe(Number(key.slice(1, 3)));
    });

    it('deletes remove entries; deleting a missing key is harmless', async () => {
      await store.commit('w', [
        { table: 'items', key: 'keep', value: 1 },
        { table: 'items', key: 'drop', value: 2 },
      ]);
      await store.commit('w', [{ table: 'items', key: 'drop' }, { table: 'items', key: 'never-written' }]);
      expect(await store.get('w', 'items', 'drop')).toBeUndefined();
      expect(await store.get('w', 'items', 'never-written')).toBeUndefined();
      expect(await collect(store, 'w', 'items')).toEqual([['keep', 1]]);
    });

    it('mutations of one commit apply in order', async () => {
      await store.commit('w', [
        { table: 'items', key: 'put-then-delete', value: 1 },
        { table: 'items', key: 'put-then-delete' },
        { table: 'items', key: 'delete-then-put' },
        { table: 'items', key: 'delete-then-put', value: 2 },
        { table: 'items', key: 'overwritten', value: 'first' },
        { table: 'items', key: 'overwritten', value: 'second' },
      ]);
      expect(await collect(store, 'w', 'items')).toEqual([
        ['delete-then-put', 2],
        ['overwritten', 'second'],
      ]);
    });

    it('prefix scans return exactly the keys with the prefix, in code-point order', async () => {
      const keys = [
        'a', 'a/1', 'a/10', 'a/2', 'a/\u0000', 'a/\u007f', 'a/é', 'a/\ue000', 'a/\uffff', 'a/😀', 'a/' + 'z'.repeat(300),
        'a0', 'a.', 'a/', 'b/1', '', 'A/1', '`a/1', 'a\u00ff',
      ];
      await store.commit('w', [...new Set(keys)].map((key, i) => ({ table: 'items', key, value: i })));
      await store.commit('w', [{ table: 'events', key: 'a/other-table', value: 0 }]);
      await store.commit('w2', [{ table: 'items', key: 'a/other-workspace', value: 0 }]);
      await store.commit('w/', [{ table: 'items', key: 'a/ws-with-slash', value: 0 }]);

      const scanned = keysOf(await collect(store, 'w', 'items', 'a/'));
      const expected = [...new Set(keys)].filter((k) => k.startsWith('a/')).sort(codePointOrder);
      expect(scanned).toEqual(expected);

      const everything = keysOf(await collect(store, 'w', 'items'));
      expect(everything).toEqual([...new Set(keys)].sort(codePointOrder));
      expect(keysOf(await collect(store, 'w', 'items', 'a/😀'))).toEqual(['a/😀']);
      expect(keysOf(await collect(store, 'w', 'items', 'nothing-here'))).toEqual([]);
      expect(keysOf(await collect(store, 'w', 'events', 'a/'))).toEqual(['a/other-table']);
    });

    it('keys of every length and content are scanned, ordered and kept by compaction alike', async () => {
      // lengths on both sides of 64 characters, control characters, astral characters
      const keys = new Set<string>();
      for (const len of [1, 2, 30, 55, 56, 60, 63, 64, 65, 100, 300, 500]) {
        keys.add(`len/${'m'.repeat(len)}`);
        keys.add(`ctl/${'c'.repeat(len)}\u0000${len}`);
        keys.add(`ctl/${'c'.repeat(len)}\u0004${len}`);
        keys.add(`astral/${'😀'.repeat(Math.ceil(len / 2))}`);
      }
      const all = [...keys].sort(codePointOrder);
      await store.commit('w', all.map((key, i) => ({ table: 'items', key, value: i })));
      const check = async (): Promise<void> => {
        expect(keysOf(await collect(store, 'w', 'items'))).toEqual(all);
        for (const prefix of ['len/', 'ctl/', 'astral/', 'len/mmmmmmmmmm', `ctl/${'c'.repeat(63)}`]) {
          expect(keysOf(await collect(store, 'w', 'items', prefix)), prefix).toEqual(all.filter((k) => k.startsWith(prefix)));
        }
        for (const [i, key] of all.entries()) expect(await store.get('w', 'items', key), key).toBe(i);
      };
      await check();
      await store.compact();
      await check();
      store = await reopen();
      await check();
    });

    it('a scan under way when compaction runs still yields every entry', async () => {
      const expected = Array.from({ length: 3000 }, (_, i) => i);
      const child = harness.isolated;
      if (child === undefined) {
        expect(await scenarios.scanAcrossCompaction(store)).toEqual(expected);
        return;
      }
      await store.close();
      // in a process of its own: a storage binding may fault natively here
      const run = spawnSync(process.execPath, ['--import', 'tsx', SCENARIO, child.module, child.exportName, harness.dataDir ?? '', 'scanAcrossCompaction'], { encoding: 'utf8', timeout: 60_000 });
      store = await harness.open();
      expect({ status: run.status, signal: run.signal }, run.stderr).toEqual({ status: 0, signal: null });
      const out = JSON.parse(run.stdout.trim().split('\n').pop()!) as { ok: boolean; result?: number[]; error?: string };
      expect(out.error).toBeUndefined();
      expect(out.result).toEqual(expected);
    });

    it('workspaces are isolated, including workspaces whose ids share a prefix', async () => {
      const spaces = ['ws', 'ws2', 'w', 'ws_other'];
      for (const ws of spaces) {
        await store.commit(ws, [
          { table: 'items', key: 'shared', value: { ws } },
          { table: 'items', key: `only-${ws}`, value: { ws } },
        ]);
      }
      for (const ws of spaces) {
        expect(await store.get(ws, 'items', 'shared')).toEqual({ ws });
        expect(await collect(store, ws, 'items')).toEqual([
          [`only-${ws}`, { ws }],
          ['shared', { ws }],
        ]);
      }
      await store.commit('ws', [{ table: 'items', key: 'shared' }]);
      expect(await store.get('ws', 'items', 'shared')).toBeUndefined();
      for (const ws of spaces.filter((w) => w !== 'ws')) expect(await store.get(ws, 'items', 'shared')).toEqual({ ws });
      expect(await store.get('_', 'items', 'shared')).toBeUndefined();
    });

    it('everything committed survives close and reopen', async () => {
      await store.commit('w', [
        { table: 'items', key: 'p1', value: { name: 'Trail Shoe' } },
        { table: 'items', key: 'gone', value: 1 },
        { table: 'events', key: '000000000001', value: [{ messageId: 'm1', userId: 'u1' }] },
      ]);
      await store.commit('w', [{ table: 'items', key: 'gone' }]);
      await store.commit('_', [{ table: 'workspaces', key: 'w', value: { id: 'w' } }]);
      store = await reopen();
      expect(await collect(store, 'w', 'items')).toEqual([['p1', { name: 'Trail Shoe' }]]);
      expect(await store.get('w', 'events', '000000000001')).toEqual([{ messageId: 'm1', userId: 'u1' }]);
      expect(await store.get('_', 'workspaces', 'w')).toEqual({ id: 'w' });
      await store.commit('w', [{ table: 'items', key: 'p2', value: 2 }]);
      expect(await store.get('w', 'items', 'p2')).toBe(2);
    });

    it('unicode keys are stored, read, scanned and deleted like any other', async () => {
      const keys = ['商品-42', 'café', 'cafe\u0301', 'שלום', '😀🛒', 'Ωmega', 'tab\tand\nnewline', 'nul\u0000inside', ' leading space'];
      await store.commit('w', keys.map((key) => ({ table: 'items', key, value: { key } })));
      for (const key of keys) expect(await store.get('w', 'items', key)).toEqual({ key });
      expect(keysOf(await collect(store, 'w', 'items'))).toEqual([...keys].sort(codePointOrder));
      // canonically equivalent but different strings are different keys
      expect(await store.get('w', 'items', 'café')).not.toEqual(await store.get('w', 'items', 'cafe\u0301'));
      await store.commit('w', [{ table: 'items', key: '😀🛒' }]);
      expect(await store.get('w', 'items', '😀🛒')).toBeUndefined();
      store = await reopen();
      expect(keysOf(await collect(store, 'w', 'items'))).toEqual(keys.filter((k) => k !== '😀🛒').sort(codePointOrder));
    });

    it('compaction keeps every live entry of every table and workspace', async () => {
      const live = new Map<string, unknown>();
      const tables: Table[] = ['events', 'items', 'keys', 'meta', 'audit'];
      for (const ws of ['w', 'w2']) {
        const mutations: Mutation[] = [];
        for (const table of tables) {
          for (let i = 0; i < 300; i++) {
            const key = `${table}-${String(i).padStart(4, '0')}`;
            const value = { ws, table, i, text: `value ${i} of ${table} in ${ws}`, list: Array.from({ length: i % 7 }, (_, j) => j) };
            mutations.push({ table, key, value });
            if (i % 3 !== 0) live.set(`${ws}|${table}|${key}`, value);
          }
        }
        await store.commit(ws, mutations);
        await store.commit(ws, mutations.filter((_, i) => i % 300 % 3 === 0).map(({ table, key }) => ({ table, key })));
      }
      const report = await store.compact();
      expect(report.entries).toBe(live.size);
      const check = async (): Promise<void> => {
        const found = new Map<string, unknown>();
        for (const ws of ['w', 'w2']) for (const table of tables) for (const [key, value] of await collect(store, ws, table)) found.set(`${ws}|${table}|${key}`, value);
        expect(found).toEqual(live);
      };
      await check();
      // the store stays fully usable after compaction, and its data survives a reopen
      await store.commit('w', [{ table: 'items', key: 'after-compaction', value: 1 }]);
      live.set('w|items|after-compaction', 1);
      store = await reopen();
      await check();
    });

    it('commits issued while compaction runs are kept', async () => {
      await store.commit('w', Array.from({ length: 2000 }, (_, i) => ({ table: 'items', key: `pre-${i}`, value: { i, pad: 'p'.repeat(100) } })));
      const compaction = store.compact();
      const during = Promise.all(Array.from({ length: 20 }, (_, i) => store.commit('w', [{ table: 'items', key: `during-${i}`, value: i }])));
      await Promise.all([compaction, during]);
      expect(await collect(store, 'w', 'items', 'pre-')).toHaveLength(2000);
      expect(await collect(store, 'w', 'items', 'during-')).toHaveLength(20);
      store = await reopen();
      expect(await collect(store, 'w', 'items', 'during-')).toHaveLength(20);
    });

    it('after deletes and compaction no byte of the deleted keys or values remains on disk', async (ctx) => {
      const dir = harness.dataDir;
      if (dir === undefined) ctx.skip();
      const tag = `${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
      const secrets = {
        key: `erase-key-${tag}`,
        value: `erase-value-${tag}`,
        event: `erase-event-${tag}`,
        keptNeighbour: `kept-${tag}`,
      };
      await store.commit('w', [
        { table: 'items', key: secrets.key, value: { email: `${secrets.value}@example.com` } },
        { table: 'items', key: 'neighbour', value: { note: secrets.keptNeighbour } },
        // a large event segment: the events table may compress values, the residue check must hold anyway
        { table: 'events', key: '000000000007', value: Array.from({ length: 300 }, (_, i) => ({ messageId: `m${i}`, userId: secrets.event, properties: { i } })) },
        { table: 'meta', key: `meta-${secrets.key}`, value: secrets.value },
      ]);
      // many other entries around them, so deleted bytes would sit in shared pages
      await store.commit('w', Array.from({ length: 1000 }, (_, i) => ({ table: 'items', key: `filler-${i}`, value: { i, text: 'f'.repeat(50) } })));
      await store.commit('w', [
        { table: 'items', key: secrets.key },
        { table: 'events', key: '000000000007' },
        { table: 'meta', key: `meta-${secrets.key}` },
      ]);
      // Before compaction a backend may still hold the deleted bytes: LMDB does (freed pages and the
      // slack of live pages keep them until they are reused), so only the state after compact() is
      // asserted.
      await store.compact();
      for (const needle of [secrets.key, secrets.value, secrets.event]) expect(filesContaining(dir!, needle), needle).toEqual([]);
      expect(filesContaining(dir!, secrets.keptNeighbour).length).toBeGreaterThan(0);
      expect(await store.get('w', 'items', 'neighbour')).toEqual({ note: secrets.keptNeighbour });
      expect(await collect(store, 'w', 'items', 'filler-')).toHaveLength(1000);
      // and still none after the store is closed and its files are final
      await store.close();
      for (const needle of [secrets.key, secrets.value, secrets.event]) expect(filesContaining(dir!, needle), needle).toEqual([]);
      store = await harness.open();
    });

    it('sizeBytes reports the space the store uses', async () => {
      expect(Number.isFinite(store.sizeBytes())).toBe(true);
      expect(store.sizeBytes()).toBeGreaterThanOrEqual(0);
      await store.commit('w', Array.from({ length: 2000 }, (_, i) => ({ table: 'items', key: `size-${i}`, value: { text: `${i}`.repeat(100) } })));
      // a backend whose bytes are on this machine's disk reports them
      if (harness.dataDir !== undefined) expect(store.sizeBytes()).toBeGreaterThan(0);
    });
  });
}
