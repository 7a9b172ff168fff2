/**
 * Embedded backend on LMDB (lmdb-js): memory-mapped B+trees, one named database per table,
 * transactions batched per event turn and fsync'd before a commit resolves (group commit).
 *
 * Deleted data can survive in LMDB's free pages and in the slack of live pages, so `compact()`
 * does not use LMDB's own copy: it writes every live entry into a brand-new environment and swaps
 * directories, so the new files only ever held live bytes.
 */
import { asBinary, open, type Database, type RootDatabase } from 'lmdb';
import { existsSync, mkdirSync, renameSync, rmSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Encoded, TABLES, type CompactionReport, type Mutation, type Store, type Table } from '../types.ts';

/**
 * Keys are raw UTF-8 bytes `workspace 0x00 key` (binary key encoding): they sort by byte order at
 * every length, and 0xFF, which UTF-8 never contains, closes every prefix range.
 */
const SEP = Buffer.from([0]);
const HIGH = Buffer.from([0xff]);
/** lmdb-js refuses longer keys */
export const MAX_KEY_BYTES = 1978;
const SCAN_CHUNK = 1000;

type Tables = Record<Table, Database<unknown, Buffer>>;

const keyOf = (ws: string, key: string): Buffer => Buffer.concat([Buffer.from(ws, 'utf8'), SEP, Buffer.from(key, 'utf8')]);

/**
 * Finishes or undoes a compaction a crash interrupted. compact() writes the copy to `.compacting`,
 * closes it, renames the store to `.old`, renames the copy to the store, then removes `.old`. With
 * the store missing, the crash fell between the two renames: the closed copy is complete and takes
 * its place. With the store present, a copy is unfinished and an old environment is stale, and
 * either still holds bytes a compaction was to remove: both go.
 */
function recoverCompaction(path: string): void {
  const copy = `${path}.compacting`;
  const old = `${path}.old`;
  if (!existsSync(path)) {
    if (existsSync(copy)) renameSync(copy, path);
    else if (existsSync(old)) renameSync(old, path);
  }
  rmSync(copy, { recursive: true, force: true });
  rmSync(old, { recursive: true, force: true });
}

function dirBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  let total = 0;
  for (const f of readdirSync(dir)) total += statSync(join(dir, f)).size;
  return total;
}

function openEnv(path: string, readOnly = false): { root: RootDatabase<unknown, Buffer>; tables: Tables } {
  if (!readOnly) mkdirSync(path, { recursive: true });
  const root = open<unknown, Buffer>({
    path,
    noSubdir: false,
    maxDbs: TABLES.length + 4,
    keyEncoding: 'binary',
    ...(readOnly ? { readOnly: true } : { overlappingSync: true, noMemInit: false }),
  });
  // event segments are large and repetitive: LZ4 (off the main thread) shrinks them several-fold
  const tables = Object.fromEntries(
    TABLES.map((t) => [t, root.openDB<unknown, Buffer>({ name: t, keyEncoding: 'binary', ...(t === 'events' ? { compression: true } : {}) })]),
  ) as Tables;
  return { root, tables };
}

export class LmdbStore implements Store {
  readonly kind = 'lmdb';
  private root: RootDatabase<unknown, Buffer>;
  private tables: Tables;
  /** set while a compaction swaps environments; everything else waits for it */
  private compacting: Promise<void> | null = null;
  private closed = false;
  /** commits under way, which compaction must let finish before it copies */
  private readonly inflight = new Set<Promise<void>>();

  /**
   * `readOnly` opens the environment as an LMDB reader beside whichever process writes it (a running
   * server): no lock is taken, nothing is created or cleaned up, and writes are refused. Each read
   * sees a consistent snapshot; a compaction by the writer meanwhile leaves this reader on the
   * environment it opened.
   */
  constructor(
    private readonly path: string,
    private readonly options: { readOnly?: boolean } = {},
  ) {
    if (!options.readOnly) recoverCompaction(path);
    ({ root: this.root, tables: this.tables } = openEnv(path, options.readOnly));
  }

  private writable(what: string): void {
    if (this.options.readOnly) throw new Error(`cannot ${what}: the store is open read-only`);
  }

  async get<T>(ws: string, table: Table, key: string): Promise<T | undefined> {
    await this.idle();
    return this.tables[table].get(keyOf(ws, key)) as T | undefined;
  }

  /**
   * Reads in chunks, each read synchronously into memory: no LMDB cursor stays open while the
   * consumer awaits, so a compaction may swap environments between two chunks (the next chunk then
   * continues after the last key in the new one).
   */
  async *scan<T>(ws: string, table: Table, prefix = ''): AsyncIterable<[string, T]> {
    const headBytes = Buffer.byteLength(ws, 'utf8') + 1;
    const first = keyOf(ws, prefix);
    const end = Buffer.concat([first, HIGH]);
    let start = first;
    for (;;) {
      while (this.compacting) await this.compacting;
      const chunk: Array<[Buffer, unknown]> = [];
      for (const { key, value } of this.tables[table].getRange({ start, end, limit: SCAN_CHUNK })) chunk.push([key, value]);
      for (const [key, value] of chunk) yield [key.subarray(headBytes).toString('utf8'), value as T];
      if (chunk.length < SCAN_CHUNK) return;
      // the smallest key after the last one read
      start = Buffer.concat([chunk[chunk.length - 1]![0], SEP]);
    }
  }

  async commit(ws: string, mutations: readonly Mutation[]): Promise<void> {
    this.writable('commit');
    if (mutations.length === 0) return;
    while (this.compacting) await this.compacting; // inline: no turn may pass between this check and the writes below
    if (this.closed) throw new Error('store is closed');
    const { tables, root } = this;
    // checked before the first write: a refused key must not leave the other writes half-applied
    const keys = mutations.map((m) => keyOf(ws, m.key));
    const tooLong = keys.findIndex((k) => k.length > MAX_KEY_BYTES);
    if (tooLong >= 0) throw new RangeError(`store key of ${keys[tooLong]!.length} bytes exceeds ${MAX_KEY_BYTES} (table ${mutations[tooLong]!.table})`);
    // Writes issued in one event turn land in one LMDB transaction (lmdb-js event-turn batching):
    // that makes this commit atomic and lets concurrent requests share a transaction and an fsync.
    let last: Promise<boolean> | undefined;
    mutations.forEach((m, i) => {
      // pre-encoded MessagePack is stored as it is: the table's decoder reads it like its own
      if (m.value === undefined) last = tables[m.table].remove(keys[i]!);
      else last = tables[m.table].put(keys[i]!, m.value instanceof Encoded ? asBinary(m.value.bytes) : m.value);
    });
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

  async compact(drop: ReadonlyArray<{ ws: string; table: Table; key: string }> = []): Promise<CompactionReport> {
    this.writable('compact');
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
        const dropped = new Set(drop.filter((d) => d.table === t).map((d) => keyOf(d.ws, d.key).toString('latin1')));
        const batch: Array<[Buffer, unknown]> = [];
        const flush = () => {
          fresh.root.transactionSync(() => {
            for (const [k, v] of batch) fresh.tables[t].putSync(k, v);
          });
          batch.length = 0;
        };
        for (const { key, value } of this.tables[t].getRange({ snapshot: true })) {
          if (dropped.size > 0 && dropped.has((key as Buffer).toString('latin1'))) continue;
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
