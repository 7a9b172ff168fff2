/**
 * What the protocols need of the system under test. The in-process driver and the HTTP driver both
 * implement it, so one protocol code path measures the engine either way.
 */
import type { CatalogEntry, Interaction } from './dataset.ts';

/** one person of a top-N evaluation */
export interface TopNCase {
  person: string;
  /** the person's train items, oldest first (never recommended) */
  trainItems: readonly string[];
  /** test items not among the train items */
  relevant: ReadonlySet<string>;
  /** when the person is asked for: just after their last train interaction */
  now: number;
}

export interface NextItemPredictor {
  readonly name: string;
  /** ranked candidates for the next item of `session`, whose events so far are `prefix` (oldest first) */
  nextItems(session: string, prefix: readonly Interaction[], now: number, count: number): string[] | Promise<string[]>;
  /** online mode: a test event happened; it is shown after the prediction it is the target of */
  observe?(x: Interaction): void | Promise<void>;
}

export interface TopNPredictor {
  readonly name: string;
  topN(c: TopNCase, count: number): string[] | Promise<string[]>;
}

export interface EngineDriver extends NextItemPredictor, TopNPredictor {
  /** catalog items, each created at `createdAt(itemId)` */
  loadCatalog(entries: readonly CatalogEntry[], createdAt: (itemId: string) => number): Promise<void>;
  /** bulk-load train interactions (time order) */
  ingest(list: readonly Interaction[], onProgress?: (done: number) => void): Promise<void>;
  close(): Promise<void>;
}
