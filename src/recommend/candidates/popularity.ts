/**
 * Popular and trending items, overall and per top-level category.
 *
 * Every interest interaction adds its weight to two decayed sums per item: a short one (trending
 * half-life, a day) and a long one (popular half-life, a month). "Popular" ranks by the long sum.
 * "Trending" ranks by how far the short sum exceeds what the item's long-term rate predicts for it,
 * in Poisson standard deviations with a smoothing prior: a steady seller scores about zero, a rising
 * item scores high, and one lucky view of an obscure item does not.
 *
 * Ranked lists hold every item's score read at one time, `computedAt`. New interactions are applied
 * to them when they are next read: only the items they touch are scored again (at `computedAt`, like
 * the rest), so a list is always what a full computation at `computedAt` would give, at a cost
 * proportional to what changed. A full computation happens when trending lists are older than
 * `maxAgeMs` (decay alone reorders trending items as time passes; it never reorders popular ones, as
 * one rate scales every score alike) and, at most once per `refreshMs`, after a removal or a catalog
 * change. An item whose interactions are removed (erasure, consent withdrawn) is scored again at the
 * next read, and leaves the lists at once when none is left: nothing may call it popular on the
 * strength of data that is gone. (Until the recompute, only which items sit at the very end of a long
 * list may differ from a full computation.)
 */
import { DecayClock, DecayedSums, DECAY_EPSILON } from '../decay.ts';
import type { ItemIds } from '../item-ids.ts';
import { showsInterest } from '../query-items.ts';
import { rankOrder, TopK } from '../top-k.ts';
import { categoryKey, type Item } from '../../catalog/item.ts';
import type { Candidate, CandidateGenerator, CatalogView, RecommendQuery, SessionChange, SessionModel, SessionRecord } from '../types.ts';
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
  /** after a removal or a catalog change, ranked lists are recomputed at most this often */
  refreshMs: number;
  /** trending lists are recomputed when older than this even without changes */
  maxAgeMs: number;
}

export const DEFAULT_POPULARITY_OPTIONS: PopularityOptions = {
  trendingHalfLifeDays: 1,
  popularHalfLifeDays: 30,
  trendingSmoothing: 2,
  listSize: 1000,
  categoryListSize: 300,
  refreshMs: 1000,
  // ten minutes of decay move short sums against long ones by 0.5% with the 1-day trending half-life
  maxAgeMs: 600_000,
};

export type RankingKind = 'trending' | 'popular';

/** lower-cased top-level category: the key of per-category lists */

interface RankedLists {
  computedAt: number;
  /** the model's structural version (removals, catalog changes) the lists were computed at */
  version: number;
  /** items that lost their last interaction since these lists were computed, still to be dropped from them */
  vanished: Set<string>;
  overall: Candidate[];
  byCategory: Map<string, Candidate[]>;
}

export class PopularityModel implements SessionModel {
  private readonly o: PopularityOptions;
  private readonly short: DecayedSums;
  private readonly long: DecayedSums;
  /** bumped by removals and catalog changes, which call for a full computation */
  private version = 0;
  /** per item handle, what the catalog last said of it that the ranked lists depend on (eligible, top category) */
  private readonly listedAs = new Map<number, string>();
  private readonly lists = new Map<RankingKind, RankedLists>();
  /** per kind, items whose sums grew since its lists were last brought up to date */
  private readonly dirty = new Map<RankingKind, Set<number>>();
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
    this.addItems(s, 0, s.size);
  }

  removeSession(s: SessionRecord): void {
    this.removeItems(s, 0, s.size);
  }

  /** counts are sums over items: only the removed and the added ones change them */
  spliceSession(prev: SessionRecord, next: SessionRecord, change: SessionChange): void {
    if (change.removed > 0) this.removeItems(prev, change.at, change.at + change.removed);
    this.addItems(next, change.at, change.at + change.added);
  }

  private addItems(s: SessionRecord, from: number, to: number): void {
    for (let i = from; i < to; i++) {
      const it = s.items[i]!;
      if (!showsInterest(it)) continue;
      const h = this.ids.internItem(it);
      this.short.add(h, it.weight, it.t);
      this.long.add(h, it.weight, it.t);
      for (const kind of this.lists.keys()) this.dirtyOf(kind).add(h);
    }
  }

  private dirtyOf(kind: RankingKind): Set<number> {
    let set = this.dirty.get(kind);
    if (!set) this.dirty.set(kind, (set = new Set()));
    return set;
  }

  private removeItems(s: SessionRecord, from: number, to: number): void {
    for (let i = from; i < to; i++) {
      const it = s.items[i]!;
      if (!showsInterest(it)) continue;
      const h = this.ids.findItem(it);
      if (h === undefined) continue;
      this.short.subtract(h, it.weight, it.t);
      if (this.long.subtract(h, it.weight, it.t)) for (const l of this.lists.values()) l.vanished.add(it.itemId);
      // scored again at the next read, like an addition: removed data (an erasure, a withdrawn
      // consent) props up no item from the next request on, even before the lists are recomputed
      for (const kind of this.lists.keys()) this.dirtyOf(kind).add(h);
    }
    this.version++;
  }

  /**
   * Categories and eligibility feed the ranked lists: an item change that alters either for an item
   * with interactions makes them stale. Everything else (prices, names, stock counts while
   * available) leaves them as they are, so a catalog that changes all the time does not make every
   * request recompute them.
   */
  itemChanged(item: Item | undefined, itemId: string): void {
    const h = item ? this.ids.intern(itemId) : this.ids.find(itemId);
    if (h === undefined) return;
    // '' when not eligible; otherwise the top category's key after a marker (items without one: the marker alone)
    const listed = item?.available === true ? `+${item.categoryPath[0] === undefined ? '' : categoryKey(item.categoryPath[0])}` : '';
    const before = this.listedAs.get(h);
    if (item) this.listedAs.set(h, listed);
    else this.listedAs.delete(h);
    // an item nobody interacted with is in no ranked list, now or after this change
    if (before === listed || !this.long.has(h)) return;
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
   * The list is shared and brought up to date in place when the model is next read: callers must
   * neither change it nor keep it beyond the request.
   */
  /** the keys of the categories that have a ranked list of this kind, sorted */
  categoryKeys(kind: RankingKind, now: number): string[] {
    return [...this.listsAt(kind, now).byCategory.keys()].sort();
  }

  ranked(kind: RankingKind, now: number, category?: string): readonly Candidate[] {
    const lists = this.listsAt(kind, now);
    return category === undefined ? lists.overall : (lists.byCategory.get(categoryKey(category)) ?? []);
  }

  private listsAt(kind: RankingKind, now: number): RankedLists {
    const cached = this.lists.get(kind);
    if (cached) {
      const age = Math.abs(now - cached.computedAt);
      // time alone reorders trending (two decay rates) but never popular (one rate scales every
      // score alike, and the blend normalises scores per generator)
      const fresh = cached.version === this.version ? kind === 'popular' || age < this.o.maxAgeMs : age < this.o.refreshMs;
      if (fresh) {
        const pruned = cached.vanished.size === 0 ? cached : this.pruned(kind, cached);
        return this.dirty.get(kind)?.size ? this.updated(kind, pruned) : pruned;
      }
    }
    this.dirty.get(kind)?.clear();
    const computed = this.compute(kind, now);
    this.lists.set(kind, computed);
    return computed;
  }

  /** the score `compute` gives an item at `at` */
  private scoreAt(kind: RankingKind, h: number, at: number): number {
    return kind === 'popular' ? this.long.valueAt(h, at) : this.trendOf(this.short.valueAt(h, at), this.long.valueAt(h, at));
  }

  /**
   * The lists with the items whose sums changed scored again at `computedAt`: exactly what `compute`
   * would give at that time, since every other item kept its score. Lists are updated in place:
   * callers only read them within one synchronous request, and updates happen when lists are read.
   */
  private updated(kind: RankingKind, lists: RankedLists): RankedLists {
    const dirty = this.dirty.get(kind)!;
    for (const h of dirty) {
      const itemId = this.ids.idOf(h);
      const item = this.catalog.get(itemId);
      const score = this.scoreAt(kind, h, lists.computedAt);
      const kept = score > DECAY_EPSILON && item !== undefined && this.catalog.isEligible(itemId) ? score : undefined;
      this.rerank(lists.overall, h, kept, this.o.listSize, { type: kind });
      const top = item?.categoryPath[0];
      if (top === undefined) continue;
      const key = categoryKey(top);
      let list = lists.byCategory.get(key);
      if (!list) {
        if (kept === undefined) continue;
        lists.byCategory.set(key, (list = []));
      }
      this.rerank(list, h, kept, this.o.categoryListSize, { type: kind, category: top });
    }
    dirty.clear();
    return lists;
  }

  /** item ids of a ranked list, built on first use and kept up to date by `rerank` */
  private readonly members = new WeakMap<Candidate[], Set<string>>();
  private membersOf(list: Candidate[]): Set<string> {
    let set = this.members.get(list);
    if (!set) this.members.set(list, (set = new Set(list.map((c) => c.itemId))));
    return set;
  }

  /** puts one item at its rank in a list (or takes it out when `score` is undefined), keeping at most `size` */
  private rerank(list: Candidate[], h: number, score: number | undefined, size: number, reason: ExplainableReason): void {
    const itemId = this.ids.idOf(h);
    const members = this.membersOf(list);
    const had = members.has(itemId);
    if (score === undefined) {
      if (had) {
        list.splice(list.findIndex((c) => c.itemId === itemId), 1);
        members.delete(itemId);
      }
      return;
    }
    // first position whose entry does not rank before (score, item)
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = list[mid]!;
      if (c.itemId !== itemId && rankOrder(c.score, score, this.ids.compare(this.ids.find(c.itemId)!, h)) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (had) {
      // a grown sum moves an item up, so its old entry is usually at or after `lo`
      let at = lo;
      while (at < list.length && list[at]!.itemId !== itemId) at++;
      if (at === list.length) at = list.findIndex((c) => c.itemId === itemId);
      list.splice(at, 1);
      if (at < lo) lo--;
    }
    if (lo >= size) {
      members.delete(itemId);
      return;
    }
    // entries of one list share its reason (a category list names the category as first spelt)
    list.splice(lo, 0, { itemId, score, reason: list[0]?.reason ?? reason });
    members.add(itemId);
    if (list.length > size) members.delete(list.pop()!.itemId);
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
