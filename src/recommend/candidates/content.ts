/**
 * Content similarity: TF-IDF cosine over catalog features (name words, category prefixes, brand,
 * tags), looked up through an inverted index. It needs no interactions, so it serves brand-new items.
 *
 * A query reads the postings of the anchor's rarest features first and stops before the postings
 * budget is spent; the commonest features (a top-level category shared by half the catalog) are
 * then only checked on the candidates already found. Which features are read depends only on their
 * document frequencies, never on insertion order, so the answer does not either.
 */
import type { Item } from '../../catalog/item.ts';
import type { ItemIds } from '../item-ids.ts';
import { LruCache } from '../lru-cache.ts';
import { recentInterest } from '../query-items.ts';
import { TopK } from '../top-k.ts';
import { grownLength, widened } from '../typed-arrays.ts';
import type { Candidate, CandidateGenerator, CatalogListener, RecommendQuery } from '../types.ts';
import { featuresOf, groupOf, type FeatureGroup } from './content-features.ts';
import { ScoreBoard } from './score-board.ts';

export interface ContentOptions {
  /** multiplier of each feature group's TF-IDF weight */
  groupWeights: Record<FeatureGroup, number>;
  /** postings read per anchor before the remaining (commonest) features are only checked on found candidates */
  postingBudget: number;
  /** recent items used as anchors when there is no context item */
  maxAnchors: number;
  /** the n-th most recent anchor weighs anchorDecay^n */
  anchorDecay: number;
  /**
   * most similar items read per anchor (more when a request asks for more candidates), remembered
   * until the catalog changes
   */
  cachedNeighbours: number;
  /** anchors whose similar items are remembered (least recently used are forgotten) */
  cachedAnchors: number;
}

export const DEFAULT_CONTENT_OPTIONS: ContentOptions = {
  groupWeights: { name: 1, category: 1, brand: 1, tag: 1 },
  postingBudget: 300,
  maxAnchors: 2,
  anchorDecay: 0.5,
  cachedNeighbours: 40,
  cachedAnchors: 10_000,
};

/** lists longer than this are computed for the request that needs them and not remembered */
const MAX_CACHED_NEIGHBOURS = 100;

interface SimilarList {
  version: number;
  /** how many were asked for: the list holds fewer only when fewer items are similar at all */
  size: number;
  handles: number[];
  scores: number[];
}

export class ContentModel implements CatalogListener, CandidateGenerator {
  readonly name = 'content';
  private readonly o: ContentOptions;
  private readonly featureIds = new Map<string, number>();
  private readonly featureWeight: number[] = [];
  private readonly postings: number[][] = [];
  /** item handle → its feature ids, ascending (an array: this is read for every candidate) */
  private readonly itemFeatures: Array<Int32Array | undefined> = [];
  /** where each item sits in the postings of each of its features (parallel to itemFeatures), so removal is O(1) per feature */
  private readonly postingSlots: Array<Int32Array | undefined> = [];
  private indexed = 0;
  /** anchor handle → its most similar items */
  private readonly similarCache: LruCache<number, SimilarList>;
  /** bumped by every catalog change: cached norms older than this are stale */
  private version = 1;
  private readonly squaredWeights: number[] = [];
  /** catalog size and document frequency each memoised squared weight was computed with */
  private readonly weightAtSize: number[] = [];
  private readonly weightAtDf: number[] = [];
  /**
   * per item handle, interleaved in one cache line's half: [4h] the anchor round that last found the
   * item, [4h + 1] its dot product with that anchor, [4h + 2] its norm, [4h + 3] the catalog version
   * the norm was computed at. An anchor reaches a few hundred items at random, and reads all four
   * for each.
   */
  private perItem = new Float64Array(0);
  private readonly board: ScoreBoard;
  /** the current anchor's round (a double: it never needs resetting) */
  private dotRound = 0;
  /**
   * features only checked on found candidates in the current query, ascending, with their squared
   * weights (only [0, checkedCount) belongs to the current anchor)
   */
  private readonly checkedFeature: number[] = [];
  private readonly checkedWeight: number[] = [];
  private readonly found: number[] = [];

  constructor(
    private readonly ids: ItemIds,
    options: Partial<ContentOptions> = {},
  ) {
    this.o = { ...DEFAULT_CONTENT_OPTIONS, ...options, groupWeights: { ...DEFAULT_CONTENT_OPTIONS.groupWeights, ...options.groupWeights } };
    this.board = new ScoreBoard(ids);
    this.similarCache = new LruCache(this.o.cachedAnchors);
  }

  get itemCount(): number {
    return this.indexed;
  }

  upsertItem(item: Item): void {
    const h = this.ids.intern(item.itemId);
    const fs = featuresOf(item).map((f) => this.featureId(f));
    fs.sort((a, b) => a - b);
    const old = this.itemFeatures[h];
    // a catalog re-sync mostly repeats what is known: an unchanged item costs no re-indexing (unindex
    // is linear in the postings of its features) and keeps the similar-items cache valid
    if (old && old.length === fs.length && old.every((f, i) => f === fs[i])) return;
    if (this.unindex(h)) this.version++;
    // an item with nothing to compare (an event named only its id) is not a document of the index: it
    // changes no weight, so it leaves every cached similar list valid (events bring such items often)
    if (fs.length === 0) return;
    const features = Int32Array.from(fs);
    const slots = new Int32Array(features.length);
    for (let i = 0; i < features.length; i++) {
      const list = this.postings[features[i]!]!;
      slots[i] = list.length;
      list.push(h);
    }
    this.itemFeatures[h] = features;
    this.postingSlots[h] = slots;
    this.indexed++;
    this.version++;
  }

  removeItem(itemId: string): void {
    const h = this.ids.find(itemId);
    if (h !== undefined && this.unindex(h)) this.version++;
  }

  private unindex(h: number): boolean {
    const old = this.itemFeatures[h];
    if (!old) return false;
    const slots = this.postingSlots[h]!;
    for (let i = 0; i < old.length; i++) {
      const f = old[i]!;
      const list = this.postings[f]!;
      const at = slots[i]!;
      const last = list.pop()!;
      if (last === h) continue;
      // the last entry moves into the hole: record its new slot (its features are sorted)
      list[at] = last;
      this.postingSlots[last]![sortedIndexOf(this.itemFeatures[last]!, f)] = at;
    }
    this.itemFeatures[h] = undefined;
    this.postingSlots[h] = undefined;
    this.indexed--;
    return true;
  }

  private featureId(feature: string): number {
    let f = this.featureIds.get(feature);
    if (f === undefined) {
      f = this.postings.length;
      this.featureIds.set(feature, f);
      this.postings.push([]);
      this.featureWeight.push(this.o.groupWeights[groupOf(feature)]);
      this.squaredWeights.push(0);
      this.weightAtSize.push(-1);
      this.weightAtDf.push(-1);
    }
    return f;
  }

  /** squared TF-IDF weight of a feature, memoised until its document frequency or the catalog size changes */
  private squaredWeight(f: number): number {
    const df = this.postings[f]!.length;
    const size = this.indexed;
    if (this.weightAtDf[f] !== df || this.weightAtSize[f] !== size) {
      const w = this.featureWeight[f]! * Math.log(1 + size / Math.max(1, df));
      this.squaredWeights[f] = w * w;
      this.weightAtDf[f] = df;
      this.weightAtSize[f] = size;
    }
    return this.squaredWeights[f]!;
  }

  private ensureScratch(): void {
    const need = this.ids.size;
    if (this.perItem.length >= 4 * need) return;
    this.perItem = widened(this.perItem, 4 * grownLength(this.perItem.length / 4, need));
  }

  private norm(h: number, features: Int32Array): number {
    const at = 4 * h;
    if (this.perItem[at + 3] !== this.version) {
      let sum = 0;
      for (const f of features) sum += this.squaredWeight(f);
      this.perItem[at + 2] = Math.sqrt(sum);
      this.perItem[at + 3] = this.version;
    }
    return this.perItem[at + 2]!;
  }

  /** calls `visit` with the cosine similarity of every item found similar to `anchor` */
  private forEachSimilar(anchor: number, visit: (item: number, cosine: number) => void): void {
    const features = this.itemFeatures[anchor];
    if (!features || features.length === 0) return;
    this.ensureScratch();
    const anchorNorm = this.norm(anchor, features);
    if (!(anchorNorm > 0)) return;
    const byRarity = [...features].sort((a, b) => this.postings[a]!.length - this.postings[b]!.length || a - b);
    const round = ++this.dotRound;
    const perItem = this.perItem;
    // scratch reused across anchors (only [0, foundCount) belongs to this one)
    const found = this.found;
    let foundCount = 0;
    const checkedFeature = this.checkedFeature;
    const checkedWeight = this.checkedWeight;
    let checkedCount = 0;
    let spent = 0;
    for (const f of byRarity) {
      const list = this.postings[f]!;
      if (foundCount > 0 && spent + list.length > this.o.postingBudget) {
        checkedFeature[checkedCount] = f;
        checkedWeight[checkedCount++] = this.squaredWeight(f);
        continue;
      }
      // the rarest shared feature is still common (no rare feature at all): read an even sample of its
      // postings, budget-sized, offset by the anchor so different anchors see different samples. A
      // sampled feature only finds candidates; like the checked ones, it is then scored on every
      // candidate found, so a candidate the sample skipped but a later list found still gets its weight
      const step = list.length > this.o.postingBudget ? Math.ceil(list.length / this.o.postingBudget) : 1;
      spent += Math.ceil(list.length / step);
      const sampled = step > 1;
      if (sampled) {
        checkedFeature[checkedCount] = f;
        checkedWeight[checkedCount++] = this.squaredWeight(f);
      }
      const w = sampled ? 0 : this.squaredWeight(f);
      for (let k = sampled ? anchor % step : 0; k < list.length; k += step) {
        const item = list[k]!;
        if (item === anchor) continue;
        if (perItem[4 * item] !== round) {
          perItem[4 * item] = round;
          perItem[4 * item + 1] = 0;
          found[foundCount++] = item;
        }
        perItem[4 * item + 1]! += w;
      }
    }
    // ascending, like every item's features, so each found item is checked by one merge that stops at
    // the last checked feature (the commonest features were met early: their ids are small) and adds
    // the weights in the same order a scan of its features would
    for (let i = 1; i < checkedCount; i++) {
      const f = checkedFeature[i]!;
      const w = checkedWeight[i]!;
      let j = i - 1;
      for (; j >= 0 && checkedFeature[j]! > f; j--) {
        checkedFeature[j + 1] = checkedFeature[j]!;
        checkedWeight[j + 1] = checkedWeight[j]!;
      }
      checkedFeature[j + 1] = f;
      checkedWeight[j + 1] = w;
    }
    const lastChecked = checkedCount > 0 ? checkedFeature[checkedCount - 1]! : -1;
    for (let k = 0; k < foundCount; k++) {
      const item = found[k]!;
      const fs = this.itemFeatures[item]!;
      let dot = perItem[4 * item + 1]!;
      for (let i = 0, c = 0; c < checkedCount && i < fs.length; i++) {
        const f = fs[i]!;
        if (f > lastChecked) break;
        while (checkedFeature[c]! < f) c++;
        if (checkedFeature[c] === f) dot += checkedWeight[c++]!;
      }
      visit(item, dot / (anchorNorm * this.norm(item, fs)));
    }
  }

  generate(q: RecommendQuery, limit: number): Candidate[] {
    if (limit <= 0) return [];
    const anchors = this.anchorsOf(q);
    if (anchors.length === 0) return [];
    this.board.begin();
    for (const a of anchors) this.board.exclude(a);
    let weight = 1;
    for (const a of anchors) {
      const { handles, scores, length } = this.similarList(a, limit);
      for (let k = 0; k < length; k++) this.board.add(handles[k]!, weight * scores[k]!, a);
      weight *= this.o.anchorDecay;
    }
    return this.board.top(limit, () => 'similar_content');
  }

  /**
   * The most similar items of an anchor, best first: the first max(need, cachedNeighbours) of them,
   * from the cache while the catalog is unchanged. How many are read depends on `need` alone, never
   * on what earlier requests left in the cache, so the same state and request give the same answer.
   */
  private similarList(anchor: number, need: number): { handles: number[]; scores: number[]; length: number } {
    const size = Math.max(need, this.o.cachedNeighbours);
    if (size > MAX_CACHED_NEIGHBOURS) {
      const list = this.computeSimilar(anchor, size);
      return { ...list, length: list.handles.length };
    }
    let list = this.similarCache.get(anchor);
    // a remembered list serves if it was asked for at least as many, or holds every similar item
    if (!list || list.version !== this.version || (list.size < size && list.handles.length === list.size)) {
      list = this.computeSimilar(anchor, size);
      this.similarCache.set(anchor, list);
    }
    return { handles: list.handles, scores: list.scores, length: Math.min(size, list.handles.length) };
  }

  private computeSimilar(anchor: number, size: number): SimilarList {
    const best = new TopK(size, this.ids.compare);
    this.forEachSimilar(anchor, (item, cosine) => best.push(item, cosine));
    return { version: this.version, size, ...best.drain() };
  }

  private anchorsOf(q: RecommendQuery): number[] {
    const context = q.contextItemId === undefined ? undefined : this.ids.find(q.contextItemId);
    if (context !== undefined && this.itemFeatures[context]) return [context];
    const out: number[] = [];
    for (const id of recentInterest(q, this.o.maxAnchors)) {
      const h = this.ids.find(id);
      if (h !== undefined && this.itemFeatures[h]) out.push(h);
    }
    return out;
  }

  /** the items most similar to one item by content, best first */
  similarTo(itemId: string, limit: number): Array<{ itemId: string; score: number }> {
    const h = this.ids.find(itemId);
    if (h === undefined || limit <= 0) return [];
    const { handles, scores, length } = this.similarList(h, limit);
    return handles.slice(0, Math.min(limit, length)).map((item, i) => ({ itemId: this.ids.idOf(item), score: scores[i]! }));
  }
}

/** index of `value` in a sorted array that holds it */
function sortedIndexOf(sorted: Int32Array, value: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
