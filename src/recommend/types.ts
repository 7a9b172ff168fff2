/**
 * The seams of the recommender. The engine feeds models with sessions (a model is a function of the
 * set of usable sessions, so adding and removing a session are inverse operations: that is what makes
 * out-of-order events, identity merges, consent changes and erasure exact). Serving asks generators
 * for candidates, then ranks, applies rules and explains.
 */
import type { Item } from '../catalog/item.ts';
import type { InteractionKind } from '../ingest/interactions.ts';

export interface SessionItem {
  itemId: string;
  kind: InteractionKind;
  /** event time, ms since epoch */
  t: number;
  /** configured weight of the interaction kind */
  weight: number;
  /**
   * The item's handle in a recommender's ItemIds, memoised on first use (ItemIds.internItem checks
   * it against the id, so a memo set by another instance is never trusted). Generators read it on
   * every event that extends the session: one lookup per item instead of one per pair.
   */
  handle?: number;
}

/** One session of one person: consecutive usable item interactions with no gap over the session timeout. */
export interface SessionRecord {
  /** stable identity of the session: messageId of its first interaction */
  key: string;
  start: number;
  end: number;
  /**
   * The session's item interactions in time order: the first `size` entries of `items`. A session
   * that grows shares its predecessor's array and appends to it (a record never changes what its own
   * `size` entries are), so an event appended to a long session costs what it adds, not a copy of the
   * session. Read `size`, never `items.length`.
   */
  items: readonly SessionItem[];
  size: number;
}

/**
 * How a session's new record differs from its previous one: `next.items[0, at)` are
 * `prev.items[0, at)`, then come `added` new items, then `next.items[at + added, next.size)` are
 * `prev.items[at + removed, prev.size)`. An event appended to the open session is
 * `{ at: prev.size, removed: 0, added }` (added may be 0: a page view moves only the end); a late
 * event inside a session is `{ at, removed: 0, added }` with `at` before the end.
 */
export interface SessionChange {
  at: number;
  removed: number;
  added: number;
}

/** A model maintained incrementally from sessions. removeSession(s) undoes addSession(s) exactly. */
export interface SessionModel {
  addSession(s: SessionRecord): void;
  removeSession(s: SessionRecord): void;
  /**
   * Optional fast path for a session whose items changed in one place (`change`): events appended
   * to the open session, a late event inside a session, an identity merge that brings events into
   * one. The key, start and end may differ too (an event before the session's first one gives it a
   * new key). Must leave the model exactly as removeSession(prev) + addSession(next) would, at a
   * cost that follows the change rather than the session's length where the model can.
   */
  spliceSession?(prev: SessionRecord, next: SessionRecord, change: SessionChange): void;
  /**
   * Called after removeSession when the session left for privacy (its person was erased, or opted
   * out of personalization), not because it changed: a model that cannot take one session out of
   * what it learned (a trained model) must stop serving what the session taught it at once.
   */
  withdrawn?(s: SessionRecord): void;
}

/** Read access to the catalog, as models and rules need it. */
export interface CatalogView {
  get(itemId: string): Item | undefined;
  /** available and not deleted */
  isEligible(itemId: string): boolean;
  /** every item, newest first by createdAt */
  newest(): Iterable<Item>;
  size(): number;
}

/** Something that must hear about catalog changes (content index, category filters). */
export interface CatalogListener {
  upsertItem(item: Item): void;
  removeItem(itemId: string): void;
}

export const REASON_TYPES = [
  'viewed_together', 'bought_together', 'similar_session', 'similar_content', 'personal',
  'trending', 'popular', 'new', 'exploration', 'context', 'in_session', 'viewed_before',
] as const;
export type ReasonType = (typeof REASON_TYPES)[number];

export interface Reason {
  type: ReasonType;
  /** the anchor item the reason refers to ("because you viewed X") */
  itemId?: string;
  text: string;
}

/** A reason before it is put into words: the explain step renders text with catalog names. */
export interface RawReason {
  type: ReasonType;
  itemId?: string;
}

export interface Candidate {
  itemId: string;
  /** generator-specific score, larger is better; rank normalises per generator */
  score: number;
  reason: RawReason;
}

export interface RecommendQuery {
  /** ms since epoch */
  now: number;
  /** the current session, oldest first: stored events of the person plus inline request events */
  session: SessionItem[];
  /**
   * the person's usable interactions, oldest first (empty when not personalised): every one, or the
   * most recent ones when the server bounds it (see `purchased` for what is read from all of them);
   * shared by the requests of one person between two of their events, so never modified
   */
  history: readonly SessionItem[];
  /**
   * items the person ever bought in stored events (so every purchase in `history`), when `history`
   * may be only the recent part; purchase exclusion adds the purchases of `session` to it
   */
  purchased?: ReadonlySet<string>;
  contextItemId?: string;
  /**
   * false for a non-personalized answer (an opt-out, a holdout, a non-personalized variant): only
   * non-personal generators answer; purchases in the query are still left out
   */
  personalized: boolean;
}

export interface CandidateGenerator {
  readonly name: string;
  /** at most `limit` candidates, best first; must not throw on unknown items */
  generate(q: RecommendQuery, limit: number): Candidate[];
  /**
   * The share (0..1) of its placement weight the generator earns for this query, when that depends
   * on how much the query gives it to go on (absent: always all of it). 0 means it is not asked.
   */
  weightShare?(q: RecommendQuery): number;
}
