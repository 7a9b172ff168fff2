/**
 * Embedded backend on LMDB (lmdb-js): memory-mapped B+trees, one named database per table,
 * transactions batched per event turn and fsync'd before a commit resolves (group commit).
 *
 * Deleted data can survive in LMDB's free pages and in the slack of live pages, so `compact()`
 * does not use LMDB's own copy: it writes every live entry into a brand-new environment and swaps
 * directories, so the new files only ever held live bytes.
 */
import { open, type Database, type RootDatabase } from 'lmdb';
import { existsSync, mkdirSync, renameSync, rmSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TABLES, type CompactionReport, type Mutation, type Store, type Table } from '../types.ts';

const SEP = '\u0000';
/** sorts after every key that starts with the same prefix */
const HIGH = '\u{10FFFF}';

type Tables = Record<Table, Database<unknown, string>>;

function dirBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  let total = 0;
  for (const f of readdirSync(dir)) total += statSync(join(dir, f)).size;
  return total;
}

function openEnv(path: string): { root: RootDatabase<unknown, string>; tables: Tables } {
  mkdirSync(path, { recursive: true });
  const root = open<unknown, string>({ path, noSubdir: false, maxDbs: TABLES.length + 4, overlappingSync: true, noMemInit: false });
  // event segments are large and repetitive: LZ4 (off the main thread) shrinks them several-fold
  const tables = Object.fromEntries(TABLES.map((t) => [t, root.openDB<unknown, string>({ name: t, ...(t === 'events' ? { compression: true } : {}) })])) as Tables;
  return { root, tables };
}

export class LmdbStore implements Store {
  readonly kind = 'lmdb';
  private root: RootDatabase<unknown, string>;
  private tables: Tables;
  /** set while a compaction swaps environments; everything else waits for it */
  private compacting: Promise<void> | null = null;
  private closed = false;
  /** commits under way, which compaction must let finish before it copies */
  private readonly inflight = new Set<Promise<void>>();

  constructor(private readonly path: string) {
    const leftover = `${path}.compacting`;
    if (existsSync(leftover)) rmSync(leftover, { recursive: true, force: true });
    ({ root: this.root, tables: this.tables } = openEnv(path));
  }

  async get<T>(ws: string, table: Table, key: string): Promise<T | undefined> {
    await this.idle();
    return this.tables[table].get(ws + SEP + key) as T | undefined;
  }

  async *scan<T>(ws: string, table: Table, prefix = ''): AsyncIterable<[string, T]> {
    await this.idle();
    const head = ws + SEP;
    const range = this.tables[table].getRange({ start: head + prefix, end: head + prefix + HIGH, snapshot: true });
    for (const { key, value } of range) yield [key.slice(head.length), value as T];
  }

  async commit(ws: string, mutations: readonly Mutation[]): Promise<void> {
    if (mutations.length === 0) return;
    await this.idle();
    if (this.closed) throw new Error('store is closed');
    const { tables, root } = this;
    const head = ws + SEP;
    // Writes issued in one event turn land in one LMDB transaction (lmdb-js event-turn batching):
    // that makes this commit atomic and lets concurrent requests share a transaction and an fsync.
    let last: Promise<boolean> | undefined;
    for (const m of mutations) {
      last = m.value === undefined ? tables[m.table].remove(head + m.key) : tables[m.table].put(head + m.key, m.value);
    }
    const done = (async () => {
      await last;
      await root.flushed;
    })();
    this.inflight.add(done);
    try {
      await done;
    } finally {
      this.inflight.delete(done);
    }
  }

  private async idle(): Promise<void> {
    while (this.compacting) await this.compacting;
  }

  async compact(): Promise<CompactionReport> {
    await this.idle();
    let release!: () => void;
    this.compacting = new Promise((r) => (release = r));
    try {
      await Promise.allSettled([...this.inflight]);
      const bytesBefore = this.sizeBytes();
      const tmp = `${this.path}.compacting`;
      rmSync(tmp, { recursive: true, force: true });
      const fresh = openEnv(tmp);
      let entries = 0;
      for (const t of TABLES) {
        const batch: Array<[string, unknown]> = [];
        const flush = () => {
          fresh.root.transactionSync(() => {
            for (const [k, v] of batch) fresh.tables[t].putSync(k, v);
          });
          batch.length = 0;
        };
        for (const { key, value } of this.tables[t].getRange({ snapshot: true })) {
          batch.push([key, value]);
          entries++;
          if (batch.length >= 10_000) flush();
        }
        flush();
      }
      await fresh.root.flushed;
      await fresh.root.close();
      await this.root.close();
      const old = `${this.path}.old`;
      rmSync(old, { recursive: true, force: true });
      renameSync(this.path, old);
      renameSync(tmp, this.path);
      rmSync(old, { recursive: true, force: true });
      ({ root: this.root, tables: this.tables } = openEnv(this.path));
      return { bytesBefore, bytesAfter: this.sizeBytes(), entries };
    } finally {
      this.compacting = null;
      release();
    }
  }

  sizeBytes(): number {
    return dirBytes(this.path);
  }

  async close(): Promise<void> {
    await this.idle();
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inflight]);
    await this.root.flushed;
    await this.root.close();
  }
}
