/**
 * The storage seam. The core needs very little from storage: durable atomic batches of puts and
 * deletes, point reads, and ordered prefix scans, all scoped by workspace. The embedded (LMDB)
 * backend is the default; cluster backends implement the same interface and pass the same
 * conformance suite (test/store-conformance.test.ts).
 */

/** Tables, each an ordered map from string keys to JSON-like values. */
export const TABLES = [
  /**
   * stored events in segments: key = zero-padded commit sequence, value = the events one commit made
   * durable. Appends are sequential (dense pages, one put per request); erasure rewrites only the
   * segments that hold the person's events.
   */
  'events',
  /** catalog items, key = itemId */
  'items',
  /** API keys, key = key id, value = { hash, scopes, name, createdAt } */
  'keys',
  /** workspace records (workspace '_' only), key = workspace id */
  'workspaces',
  /** per-workspace settings and secrets, key = name */
  'meta',
  /** erased/suppressed identities, key = keyed hash of the id */
  'tombstones',
  /** served recommendations and decisions, for attribution */
  'impressions',
  /** actions, decisions, bandit state, experiments, assignments, outbox (decide/experiments issues) */
  'actions',
  'decisions',
  'experiments',
  'assignments',
  'outbox',
  /** audit entries: who asked for what, never the erased data */
  'audit',
] as const;
export type Table = (typeof TABLES)[number];

/** The workspace id of instance-wide records. */
export const INSTANCE = '_';

/**
 * A value already encoded as MessagePack (msgpackr's record extension allowed, its structures
 * defined inline). Bulk import encodes event segments off the main thread and hands the bytes over:
 * a backend that stores MessagePack keeps them as they are, any other decodes them first. Reads
 * return the decoded value, never this wrapper.
 */
export class Encoded {
  constructor(readonly bytes: Uint8Array) {}
}

export interface Put {
  table: Table;
  key: string;
  value: unknown;
  /**
   * for erasure only, never stored: a number the extension changes whenever it writes the record
   * again, so an erasure that removed it looks again when it was written back meanwhile
   */
  rev?: number;
}
export interface Delete {
  table: Table;
  key: string;
  value?: undefined;
  /** as Put.rev */
  rev?: number;
}
export type Mutation = Put | Delete;

export interface CompactionReport {
  bytesBefore: number;
  bytesAfter: number;
  entries: number;
}

export interface Store {
  readonly kind: string;
  get<T>(ws: string, table: Table, key: string): Promise<T | undefined>;
  /** entries whose key starts with `prefix`, in key order */
  scan<T>(ws: string, table: Table, prefix?: string): AsyncIterable<[key: string, value: T]>;
  /** applies every mutation or none; resolves once they are durable (fsync'd) */
  commit(ws: string, mutations: readonly Mutation[]): Promise<void>;
  /**
   * Rewrites storage so that deleted data leaves no bytes behind. The `drop` entries are left out of
   * the rewrite, so they are gone exactly when the rewritten storage replaces the old one (a mark
   * that a compaction is due goes with the compaction it asked for, even across a crash).
   */
  compact(drop?: ReadonlyArray<{ ws: string; table: Table; key: string }>): Promise<CompactionReport>;
  sizeBytes(): number;
  close(): Promise<void>;
}
