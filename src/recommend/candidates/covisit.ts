/**
 * Item co-visitation: items seen close together in the same session ("viewed together") and items
 * bought in the same session ("bought together"), both decayed over time. Serving looks up the
 * strongest neighbours of the person's recent items.
 */
import { DecayClock } from '../decay.ts';
import type { InteractionKind } from '../../ingest/interactions.ts';
import type { ItemIds } from '../item-ids.ts';
import { LruCache } from '../lru-cache.ts';
import { grownLength } from '../typed-arrays.ts';
import { recentInterest } from '../query-items.ts';
import { TopK } from '../top-k.ts';
import type { Candidate, CandidateGenerator, RecommendQuery, SessionChange, SessionItem, SessionModel, SessionRecord } from '../types.ts';
import { PairCounts } from './pair-counts.ts';
import { ScoreBoard } from './score-board.ts';

const DAY_MS = 86_400_000;
const VIEW_KINDS: ReadonlySet<InteractionKind> = new Set<InteractionKind>(['view', 'click', 'add', 'wishlist']);

export interface CovisitOptions {
  /** half-life of co-visitation weights, in days */
  halfLifeDays: number;
  /** a view is paired with this many neighbouring positions on each side */
  window: number;
  /** distinct purchased items of one session considered for bought-together (bounds the pair count of huge orders) */
  maxBasket: number;
  /** strongest neighbours of an anchor used at query time */
  neighboursPerItem: number;
  /** anchors whose strongest neighbours are remembered until they change (least recently used are forgotten) */
  cachedAnchors: number;
  /** recent items of the query used as anchors */
  maxAnchors: number;
  /** the n-th most recent anchor (0 = most recent) weighs anchorDecay^n */
  anchorDecay: number;
  /** weight of bought-together relative to viewed-together */
  boughtTogetherWeight: number;
  /**
   * added to an anchor's strongest neighbour weight before dividing by it, in units of one fresh
   * view-view pair: an anchor seen together with others only once or twice should not speak as
   * loudly as one with a long record
   */
  shrinkage: number;
}

export const DEFAULT_COVISIT_OPTIONS: CovisitOptions = {
  halfLifeDays: 14,
  window: 3,
  maxBasket: 30,
  neighboursPerItem: 50,
  cachedAnchors: 20_000,
  maxAnchors: 10,
  anchorDecay: 0.75,
  boughtTogetherWeight: 1,
  shrinkage: 1,
};

export type CovisitKind = 'viewed' | 'bought';

interface NeighbourList {
  handles: number[];
  stored: number[];
}

/** one matrix with its cache of each item's strongest neighbours */
class CovisitMatrix {
  readonly pairs: PairCounts;
  private readonly topCache: LruCache<number, NeighbourList>;

  constructor(
    halfLifeMs: number,
    private readonly ids: ItemIds,
    private readonly keep: number,
    cachedAnchors: number,
  ) {
    this.topCache = new LruCache(cachedAnchors);
    const clock = new DecayClock(halfLifeMs);
    this.pairs = new PairCounts(clock);
    this.pairs.onChange((item) => this.topCache.delete(item));
    clock.onRebase(() => this.topCache.clear());
  }

  strongest(item: number): NeighbourList {
    let list = this.topCache.get(item);
    if (!list) {
      const best = new TopK(this.keep, this.ids.compare);
      this.pairs.forEachNeighbour(item, (n, stored) => best.push(n, stored));
      const { handles, scores } = best.drain();
      list = { handles, stored: scores };
      this.topCache.set(item, list);
    }
    return list;
  }
}

/** a pair of a session's items, by their positions in `SessionRecord.items` */
type PairVisitor = (i: number, j: number, weight: number, t: number) => void;

export class CovisitModel implements SessionModel, CandidateGenerator {
  readonly name = 'covisit';
  private readonly o: CovisitOptions;
  private readonly viewed: CovisitMatrix;
  private readonly bought: CovisitMatrix;
  private readonly board: ScoreBoard;

  constructor(
    private readonly ids: ItemIds,
    options: Partial<CovisitOptions> = {},
  ) {
    this.o = { ...DEFAULT_COVISIT_OPTIONS, ...options };
    const halfLifeMs = this.o.halfLifeDays * DAY_MS;
    this.viewed = new CovisitMatrix(halfLifeMs, ids, this.o.neighboursPerItem, this.o.cachedAnchors);
    this.bought = new CovisitMatrix(halfLifeMs, ids, this.o.neighboursPerItem, this.o.cachedAnchors);
    this.board = new ScoreBoard(ids);
  }

  addSession(s: SessionRecord): void {
    this.views(s, 0, s.size, this.adder(this.viewed, s));
    forEachBasketPair(s.items, s.size, this.o.maxBasket, 0, this.adder(this.bought, s));
  }

  removeSession(s: SessionRecord): void {
    this.views(s, 0, s.size, this.subtracter(this.viewed, s));
    forEachBasketPair(s.items, s.size, this.o.maxBasket, 0, this.subtracter(this.bought, s));
  }

  /**
   * Only the pairs that touch or span the change differ: viewed-together pairs within the window of
   * it (pairs spanning it change distance), and bought-together pairs when a purchase came or went.
   * Events appended to a session add the pairs of the new items; an event inside a long session
   * costs a few pairs, not the session's.
   */
  spliceSession(prev: SessionRecord, next: SessionRecord, change: SessionChange): void {
    const { at, removed, added } = change;
    this.views(prev, at, at + removed, this.subtracter(this.viewed, prev));
    this.views(next, at, at + added, this.adder(this.viewed, next));
    if (removed === 0 && at === prev.size) {
      // appended: the basket so far is unchanged, only pairs with a new purchase are new
      forEachBasketPair(next.items, next.size, this.o.maxBasket, at, this.adder(this.bought, next));
    } else if (hasPurchase(prev.items, at, at + removed) || hasPurchase(next.items, at, at + added)) {
      forEachBasketPair(prev.items, prev.size, this.o.maxBasket, 0, this.subtracter(this.bought, prev));
      forEachBasketPair(next.items, next.size, this.o.maxBasket, 0, this.adder(this.bought, next));
    }
  }

  /** viewed-together pairs of `s` whose later item sits at `lo` or after and whose earlier one before `hi` */
  private views(s: SessionRecord, lo: number, hi: number, visit: PairVisitor): void {
    forEachViewPair(s.items, s.size, this.o.window, lo, hi, visit);
  }

  private adder(m: CovisitMatrix, s: SessionRecord): PairVisitor {
    const items = s.items;
    return (i, j, weight, t) => m.pairs.add(this.ids.internItem(items[i]!), this.ids.internItem(items[j]!), weight, t);
  }

  private subtracter(m: CovisitMatrix, s: SessionRecord): PairVisitor {
    const items = s.items;
    return (i, j, weight, t) => {
      const x = this.ids.findItem(items[i]!);
      const y = this.ids.findItem(items[j]!);
      if (x !== undefined && y !== undefined) m.pairs.subtract(x, y, weight, t);
    };
  }

  generate(q: RecommendQuery, limit: number): Candidate[] {
    const anchors: number[] = [];
    for (const id of recentInterest(q, this.o.maxAnchors)) {
      const h = this.ids.find(id);
      if (h !== undefined) anchors.push(h);
    }
    if (anchors.length === 0 || limit <= 0) return [];
    this.board.begin();
    for (const a of anchors) this.board.exclude(a);
    const matrices = [
      { m: this.viewed, weight: 1, tag: 0 },
      { m: this.bought, weight: this.o.boughtTogetherWeight, tag: 1 },
    ];
    let anchorWeight = 1;
    for (const a of anchors) {
      for (const { m, weight, tag } of matrices) {
        if (weight <= 0) continue;
        const list = m.strongest(a);
        if (list.handles.length === 0) continue;
        const prior = this.o.shrinkage / m.pairs.clock.factorAt(q.now);
        const norm = list.stored[0]! + (Number.isFinite(prior) ? prior : 0);
        for (let k = 0; k < list.handles.length; k++) this.board.add(list.handles[k]!, (anchorWeight * weight * list.stored[k]!) / norm, a, tag);
      }
      anchorWeight *= this.o.anchorDecay;
    }
    return this.board.top(limit, (tag) => (tag === 0 ? 'viewed_together' : 'bought_together'));
  }

  /** the strongest neighbours of an item with their decayed weight at `now` (for inspection and tests) */
  neighbours(itemId: string, kind: CovisitKind, now: number): Array<{ itemId: string; weight: number }> {
    const h = this.ids.find(itemId);
    if (h === undefined) return [];
    const m = kind === 'viewed' ? this.viewed : this.bought;
    const factor = m.pairs.clock.factorAt(now);
    const list = m.strongest(h);
    return list.handles.map((n, k) => ({ itemId: this.ids.idOf(n), weight: list.stored[k]! * factor }));
  }

  /** number of distinct item pairs held, per matrix */
  pairCount(kind: CovisitKind): number {
    return (kind === 'viewed' ? this.viewed : this.bought).pairs.pairCount;
  }
}

const isView = (it: SessionItem): boolean => it.weight > 0 && VIEW_KINDS.has(it.kind);

/** positions of the view-like items being paired, reused across calls (this runs for every event) */
let viewPositions = new Int32Array(64);

/**
 * Visits the view-like interactions of items[0, size) paired with their neighbours within `window`
 * view positions, closer pairs weighing more, that have their later item at `lo` or after and their
 * earlier one before `hi`. Only the items such pairs can involve are read: from `window` view-like
 * items before `lo` to `window` of them from `hi` on.
 */
function forEachViewPair(items: readonly SessionItem[], size: number, window: number, lo: number, hi: number, visit: PairVisitor): void {
  if (lo >= size || hi <= 0) return;
  let start = Math.max(0, Math.min(lo, size));
  for (let before = 0; start > 0 && before < window; ) if (isView(items[--start]!)) before++;
  let end = Math.max(start, Math.min(hi, size));
  for (let after = 0; end < size && after < window; ) if (isView(items[end++]!)) after++;
  if (viewPositions.length < end - start) viewPositions = new Int32Array(grownLength(viewPositions.length, end - start));
  const seq = viewPositions;
  let n = 0;
  for (let i = start; i < end; i++) if (isView(items[i]!)) seq[n++] = i;
  for (let p = 0; p < n && seq[p]! < hi; p++) {
    const x = items[seq[p]!]!;
    for (let q = p + 1; q < n && q - p <= window; q++) {
      const y = items[seq[q]!]!;
      if (seq[q]! >= lo && x.itemId !== y.itemId) visit(seq[p]!, seq[q]!, Math.sqrt(x.weight * y.weight) / (q - p), Math.max(x.t, y.t));
    }
  }
}

/** whether items[from, to) hold a purchase */
function hasPurchase(items: readonly SessionItem[], from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (items[i]!.kind === 'purchase') return true;
  return false;
}

/** every pair of distinct items purchased in the session, visited when its later purchase sits at `from` or after */
function forEachBasketPair(items: readonly SessionItem[], size: number, maxBasket: number, from: number, visit: PairVisitor): void {
  // a new pair needs a purchase at `from` or after
  if (!hasPurchase(items, Math.max(0, from), size)) return;
  const firstPurchase = new Map<string, number>();
  for (let i = 0; i < size; i++) {
    const it = items[i]!;
    if (it.kind === 'purchase' && it.weight > 0 && !firstPurchase.has(it.itemId) && firstPurchase.size < maxBasket) firstPurchase.set(it.itemId, i);
  }
  const basket = [...firstPurchase.values()];
  for (let p = 0; p < basket.length; p++) {
    for (let q = p + 1; q < basket.length; q++) {
      if (basket[q]! < from) continue;
      const x = items[basket[p]!]!;
      const y = items[basket[q]!]!;
      visit(basket[p]!, basket[q]!, Math.sqrt(x.weight * y.weight), Math.max(x.t, y.t));
    }
  }
}
