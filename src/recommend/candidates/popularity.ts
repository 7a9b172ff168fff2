/**
 * Popular and trending items, overall and per top-level category.
 *
 * Every interest interaction adds its weight to two decayed sums per item: a short one (trending
 * half-life, a day) and a long one (popular half-life, a month). "Popular" ranks by the long sum.
 * "Trending" ranks by how far the short sum exceeds what the item's long-term rate predicts for it,
 * in Poisson standard deviations with a smoothing prior: a steady seller scores about zero, a rising
 * item scores high, and one lucky view of an obscure item does not.
 *
 * Ranked lists are recomputed lazily: after a change at most once per `refreshMs`, and in any case
 * when older than `maxAgeMs`, since decay alone reorders trending items as time passes. An item
 * whose last interaction is removed (erasure, consent withdrawn) leaves the lists at once, though:
 * nothing may call it popular on the strength of data that is gone.
 */
import { DecayClock, DecayedSums, DECAY_EPSILON } from '../decay.ts';
import type { ItemIds } from '../item-ids.ts';
import { showsInterest } from '../query-items.ts';
import { TopK } from '../top-k.ts';
import type { Candidate, CandidateGenerator, CatalogView, RecommendQuery, SessionModel, SessionRecord } from '../types.ts';
import type { ExplainableReason } from '../explain/reasons.ts';

const DAY_MS = 86_400_000;

export interface PopularityOptions {
  trendingHalfLifeDays: number;
  popularHalfLifeDays: number;
  /** prior added to the expected short-term count, in interactions: larger values favour volume over growth */
  trendingSmoothing: number;
  /** items kept in the overall ranked lists */
  listSize: number;
  /** items kept in each top-level category's ranked lists */
  categoryListSize: number;
  /** after a change, ranked lists are recomputed at most this often */
  refreshMs: number;
  /** ranked lists are recomputed when older than this even without changes */
  maxAgeMs: number;
}

export const DEFAULT_POPULARITY_OPTIONS: PopularityOptions = {
  trendingHalfLifeDays: 1,
  popularHalfLifeDays: 30,
  trendingSmoothing: 2,
  listSize: 1000,
  categoryListSize: 300,
  refreshMs: 1000,
  maxAgeMs: 60_000,
};

export type RankingKind = 'trending' | 'popular';

/** lower-cased top-level category: the key of per-category lists */
export const categoryKey = (name: string): string => name.normalize('NFKC').trim().toLowerCase();

interface RankedLists {
  computedAt: number;
  version: number;
  /** items that lost their last interaction since these lists were computed, still to be dropped from them */
  vanished: Set<string>;
  overall: Candidate[];
  byCategory: Map<string, Candidate[]>;
}

export class PopularityModel implements SessionModel {
  private readonly o: PopularityOptions;
  private readonly short: DecayedSums<number>;
  private readonly long: DecayedSums<number>;
  private version = 0;
  private readonly lists = new Map<RankingKind, RankedLists>();
  readonly trending: CandidateGenerator;
  readonly popular: CandidateGenerator;

  constructor(
    private readonly ids: ItemIds,
    private readonly catalog: CatalogView,
    options: Partial<PopularityOptions> = {},
  ) {
    this.o = { ...DEFAULT_POPULARITY_OPTIONS, ...options };
    this.short = new DecayedSums(new DecayClock(this.o.trendingHalfLifeDays * DAY_MS));
    this.long = new DecayedSums(new DecayClock(this.o.popularHalfLifeDays * DAY_MS));
    this.trending = { name: 'trending', generate: (q, limit) => this.generate('trending', q, limit) };
    this.popular = { name: 'popular', generate: (q, limit) => this.generate('popular', q, limit) };
  }

  addSession(s: SessionRecord): void {
    this.addItems(s, 0);
  }

  /** `next` is `prev` with items appended: only those count anew */
  extendSession(prev: SessionRecord, next: SessionRecord): void {
    this.addItems(next, prev.items.length);
  }

  private addItems(s: SessionRecord, from: number): void {
    for (let i = from; i < s.items.length; i++) {
      const it = s.items[i]!;
      if (!showsInterest(it)) continue;
      const h = this.ids.intern(it.itemId);
      this.short.add(h, it.weight, it.t);
      this.long.add(h, it.weight, it.t);
    }
    this.version++;
  }

  removeSession(s: SessionRecord): void {
    for (const it of s.items) {
      if (!showsInterest(it)) continue;
      const h = this.ids.find(it.itemId);
      if (h === undefined) continue;
      this.short.subtract(h, it.weight, it.t);
      if (this.long.subtract(h, it.weight, it.t)) for (const l of this.lists.values()) l.vanished.add(it.itemId);
    }
    this.version++;
  }

  /** categories and eligibility feed the ranked lists: a catalog change makes them stale */
  catalogChanged(): void {
    this.version++;
  }

  /** the decayed interaction weight of an item at `now` over the popular half-life */
  popularity(itemId: string, now: number): number {
    const h = this.ids.find(itemId);
    return h === undefined ? 0 : this.long.valueAt(h, now);
  }

  /** the trending score of an item at `now` (≤ 0 when not rising) */
  trendingScore(itemId: string, now: number): number {
    const h = this.ids.find(itemId);
    if (h === undefined) return 0;
    return this.trendOf(this.short.valueAt(h, now), this.long.valueAt(h, now));
  }

  private trendOf(shortSum: number, longSum: number): number {
    const expected = (longSum * this.o.trendingHalfLifeDays) / this.o.popularHalfLifeDays;
    return (shortSum - expected) / Math.sqrt(expected + this.o.trendingSmoothing);
  }

  /**
   * Ranked candidates of one kind, best first: overall, or within a top-level category (any case).
   * The list is shared; callers must not change it.
   */
  ranked(kind: RankingKind, now: number, category?: string): readonly Candidate[] {
    const lists = this.listsAt(kind, now);
    return category === undefined ? lists.overall : (lists.byCategory.get(categoryKey(category)) ?? []);
  }

  private listsAt(kind: RankingKind, now: number): RankedLists {
    const cached = this.lists.get(kind);
    if (cached) {
      const age = Math.abs(now - cached.computedAt);
      // with no change, time alone reorders trending (two decay rates) but never popular (one rate
      // scales every score alike, and the blend normalises scores per generator)
      const fresh = cached.version === this.version ? kind === 'popular' || age < this.o.maxAgeMs : age < this.o.refreshMs;
      if (fresh) return cached.vanished.size === 0 ? cached : this.pruned(kind, cached);
    }
    const computed = this.compute(kind, now);
    this.lists.set(kind, computed);
    return computed;
  }

  /** the lists without the items that vanished since they were computed */
  private pruned(kind: RankingKind, lists: RankedLists): RankedLists {
    const keep = (c: Candidate): boolean => !lists.vanished.has(c.itemId);
    const byCategory = new Map<string, Candidate[]>();
    for (const [key, list] of lists.byCategory) byCategory.set(key, list.filter(keep));
    const pruned = { ...lists, vanished: new Set<string>(), overall: lists.overall.filter(keep), byCategory };
    this.lists.set(kind, pruned);
    return pruned;
  }

  private compute(kind: RankingKind, now: number): RankedLists {
    const overall = new TopK(this.o.listSize, this.ids.compare);
    const perCategory = new Map<string, { best: TopK; name: string }>();
    const shortFactor = this.short.clock.factorAt(now);
    const longFactor = this.long.clock.factorAt(now);
    const consider = (h: number, score: number): void => {
      if (!(score > DECAY_EPSILON)) return;
      const itemId = this.ids.idOf(h);
      const item = this.catalog.get(itemId);
      if (!item || !this.catalog.isEligible(itemId)) return;
      overall.push(h, score);
      const top = item.categoryPath[0];
      if (top === undefined) return;
      const key = categoryKey(top);
      let entry = perCategory.get(key);
      if (!entry) {
        entry = { best: new TopK(this.o.categoryListSize, this.ids.compare), name: top };
        perCategory.set(key, entry);
      }
      entry.best.push(h, score);
    };
    if (kind === 'popular') {
      this.long.forEachStored((h, stored) => consider(h, stored * longFactor));
    } else {
      this.short.forEachStored((h, stored) => consider(h, this.trendOf(stored * shortFactor, this.long.valueAt(h, now))));
    }
    const toCandidates = (best: TopK, category?: string): Candidate[] => {
      const { handles, scores } = best.drain();
      const reason: ExplainableReason = category === undefined ? { type: kind } : { type: kind, category };
      return handles.map((h, i) => ({ itemId: this.ids.idOf(h), score: scores[i]!, reason }));
    };
    const byCategory = new Map<string, Candidate[]>();
    for (const [key, { best, name }] of perCategory) byCategory.set(key, toCandidates(best, name));
    return { computedAt: now, version: this.version, vanished: new Set(), overall: toCandidates(overall), byCategory };
  }

  /** within the context item's top-level category when it has ranked items, else overall */
  private generate(kind: RankingKind, q: RecommendQuery, limit: number): Candidate[] {
    const category = q.contextItemId === undefined ? undefined : this.catalog.get(q.contextItemId)?.categoryPath[0];
    const scoped = category === undefined ? [] : this.ranked(kind, q.now, category);
    return (scoped.length > 0 ? scoped : this.ranked(kind, q.now)).slice(0, limit);
  }
}
