/**
 * A Store held in memory: for the evaluation harness and benchmarks that replay data through the
 * engine without disk I/O. Same semantics as the embedded backend except durability.
 */
import { unpack } from 'msgpackr';
import { Encoded, type CompactionReport, type Mutation, type Store, type Table } from '../types.ts';

export class MemoryStore implements Store {
  readonly kind = 'memory';
  private readonly data = new Map<string, Map<string, unknown>>();

  private tableOf(ws: string, table: Table): Map<string, unknown> {
    const name = `${ws}\u0000${table}`;
    let t = this.data.get(name);
    if (!t) this.data.set(name, (t = new Map()));
    return t;
  }

  async get<T>(ws: string, table: Table, key: string): Promise<T | undefined> {
    return structuredClone(this.tableOf(ws, table).get(key)) as T | undefined;
  }

  async *scan<T>(ws: string, table: Table, prefix = ''): AsyncIterable<[string, T]> {
    const t = this.tableOf(ws, table);
    // UTF-8 byte order, as LMDB sorts its keys
    const keys = [...t.keys()].filter((k) => k.startsWith(prefix)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const k of keys) if (t.has(k)) yield [k, structuredClone(t.get(k)) as T];
  }

  async commit(ws: string, mutations: readonly Mutation[]): Promise<void> {
    // copy first so that a value that cannot be cloned fails the whole commit, as a transaction would
    const staged = mutations.map((m) => ({ ...m, value: m.value === undefined ? undefined : m.value instanceof Encoded ? unpack(m.value.bytes) : structuredClone(m.value) }));
    for (const m of staged) {
      const t = this.tableOf(ws, m.table);
      if (m.value === undefined) t.delete(m.key);
      else t.set(m.key, m.value);
    }
  }

  async compact(drop: ReadonlyArray<{ ws: string; table: Table; key: string }> = []): Promise<CompactionReport> {
    for (const d of drop) this.tableOf(d.ws, d.table).delete(d.key);
    let entries = 0;
    for (const t of this.data.values()) entries += t.size;
    return { bytesBefore: 0, bytesAfter: 0, entries };
  }

  sizeBytes(): number {
    return 0;
  }

  async close(): Promise<void> {}
}
