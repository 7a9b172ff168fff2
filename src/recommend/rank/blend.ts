/**
 * Blends candidates of several generators into one ranking. Each generator's scores are divided by
 * its own maximum (generators score on unrelated scales), weighted by the placement's weight for
 * that generator, and summed per item. An item keeps every reason that contributed, strongest first.
 */
import { rankOrder, rankScore } from '../top-k.ts';
import type { Candidate, RawReason } from '../types.ts';

/** weight per generator name; a generator absent or weighted 0 is not asked */
export type GeneratorWeights = Record<string, number>;

export const DEFAULT_PLACEMENT = 'default';

/**
 * Weights per placement (`context.placement` of the request); unknown placements use `default`.
 * `in-session` reminds of the items the person viewed in this session (and before): on for general
 * placements, where going back to an item is a common next step, off on product, cart and similar-item
 * placements, which are about other items. By default the last viewed item is outranked by an item
 * that co-visitation and session-kNN agree on; shops where people mostly go back (Yoochoose: a third
 * of next clicks) weigh reminders higher, as `kairos tune` finds (4 there). `collaborative` (the EASE
 * model, src/recommend/model/) gets its weight in full only for a person with 20 items of interest,
 * a linear share below (`matrix.fullWeightAt`): 2 in `default`, with that share, raised validation
 * scores of MovieLens (temporal and random splits) and of Yoochoose sessions over the earlier 0.75
 * at full weight (docs/evaluation.md); `home` follows `default`, and the other placements' values
 * are judgement, not measured.
 */
export const DEFAULT_PLACEMENT_WEIGHTS: Readonly<Record<string, GeneratorWeights>> = {
  default: { 'in-session': 1.5, 'session-knn': 1, covisit: 1, collaborative: 2, content: 0.4, trending: 0.15, popular: 0.1 },
  home: { 'in-session': 1, 'session-knn': 1, covisit: 0.6, collaborative: 2, content: 0.2, trending: 0.4, popular: 0.25 },
  product_page: { covisit: 1, 'session-knn': 0.7, collaborative: 0.4, content: 0.6, trending: 0.1, popular: 0.05 },
  cart: { covisit: 1.2, 'session-knn': 0.6, collaborative: 0.4, content: 0.2, trending: 0.1, popular: 0.1 },
  similar: { content: 1, covisit: 0.8, 'session-knn': 0.3, trending: 0.05, popular: 0.05 },
};

export function weightsFor(placement: string | undefined, table: Readonly<Record<string, GeneratorWeights>>): GeneratorWeights {
  // own keys only: a placement named "constructor" or "toString" is a placement like any other
  return (placement !== undefined && Object.hasOwn(table, placement) ? table[placement] : undefined) ?? table[DEFAULT_PLACEMENT] ?? DEFAULT_PLACEMENT_WEIGHTS.default!;
}

export interface GeneratorOutput {
  generator: string;
  weight: number;
  candidates: readonly Candidate[];
}

export interface Contribution {
  generator: string;
  reason: RawReason;
  amount: number;
  /** the generator's normalised score for the item (amount ÷ weight): what feedback learning weighs */
  signal: number;
}

export interface BlendedCandidate {
  itemId: string;
  /** weighted sum of normalised scores divided by the total weight: within [0, 1] */
  score: number;
  /** strongest first */
  contributions: Contribution[];
}

const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The blended ranking. Callers usually read only its head, so it is ordered as it is read (a heap
 * yields the next best entry in O(log n)), and an item's contributions are put together when it is
 * read, not for every candidate; everything else lives in flat arrays.
 */
export class BlendedRanking implements Iterable<BlendedCandidate> {
  /** entries in rank order, the first `sorted` of them known */
  private readonly order: Int32Array;
  private sorted = 0;
  /** the entries not yet ordered, as a heap whose root ranks best: the first `heapSize` of `heap` */
  private readonly heap: Int32Array;
  private heapSize: number;
  /** totals at ranking precision */
  private readonly keys: Float64Array;

  constructor(
    private readonly outputs: readonly GeneratorOutput[],
    private readonly itemIds: readonly string[],
    private readonly totals: Float64Array,
    private readonly totalWeight: number,
    private readonly contributions: ContributionTable,
  ) {
    const n = itemIds.length;
    this.order = new Int32Array(n);
    this.keys = new Float64Array(n);
    this.heap = new Int32Array(n);
    for (let e = 0; e < n; e++) {
      this.keys[e] = rankScore(totals[e]!);
      this.heap[e] = e;
    }
    this.heapSize = n;
    for (let i = (n >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  get length(): number {
    return this.order.length;
  }

  /** true when entry a ranks before entry b: larger total, then smaller id */
  private before(a: number, b: number): boolean {
    const ka = this.keys[a]!;
    const kb = this.keys[b]!;
    return ka !== kb ? ka > kb : this.itemIds[a]! < this.itemIds[b]!;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = this.heapSize;
    const e = heap[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.before(heap[r]!, heap[l]!) ? r : l;
      if (!this.before(heap[c]!, e)) break;
      heap[i] = heap[c]!;
      i = c;
    }
    heap[i] = e;
  }

  /** the entry at a rank, ordering the ranking up to it first */
  private entryAt(rank: number): number {
    while (this.sorted <= rank) {
      this.order[this.sorted++] = this.heap[0]!;
      this.heap[0] = this.heap[--this.heapSize]!;
      if (this.heapSize > 0) this.siftDown(0);
    }
    return this.order[rank]!;
  }

  /** the candidate at a rank (0 = best) */
  at(rank: number): BlendedCandidate {
    if (!(rank >= 0 && rank < this.order.length)) throw new RangeError(`rank ${rank} outside 0..${this.order.length - 1}`);
    const e = this.entryAt(rank);
    const { amount, output, candidate, previous, last } = this.contributions;
    const contributions: Contribution[] = [];
    for (let c = last[e]!; c >= 0; c = previous[c]!) {
      const out = this.outputs[output[c]!]!;
      contributions.push({ generator: out.generator, reason: out.candidates[candidate[c]!]!.reason, amount: amount[c]!, signal: out.weight > 0 ? amount[c]! / out.weight : 0 });
    }
    // a handful per item: insertion sort, which (unlike Array#sort) allocates nothing
    for (let i = 1; i < contributions.length; i++) {
      const x = contributions[i]!;
      let j = i - 1;
      for (; j >= 0 && rankOrder(contributions[j]!.amount, x.amount, byId(contributions[j]!.generator, x.generator)) > 0; j--) contributions[j + 1] = contributions[j]!;
      contributions[j + 1] = x;
    }
    return { itemId: this.itemIds[e]!, score: this.totals[e]! / this.totalWeight, contributions };
  }

  *[Symbol.iterator](): Iterator<BlendedCandidate> {
    for (let rank = 0; rank < this.order.length; rank++) yield this.at(rank);
  }
}

/** every contribution, in flat arrays; each item's contributions chain from `last[item]` through `previous` */
interface ContributionTable {
  amount: Float64Array;
  output: Int32Array;
  candidate: Int32Array;
  previous: Int32Array;
  last: Int32Array;
}

export function blend(outputs: readonly GeneratorOutput[]): BlendedRanking {
  let size = 0;
  for (const out of outputs) size += out.candidates.length;
  const table: ContributionTable = {
    amount: new Float64Array(size),
    output: new Int32Array(size),
    candidate: new Int32Array(size),
    previous: new Int32Array(size),
    last: new Int32Array(size),
  };
  const totals = new Float64Array(size);
  const entryOf = new Map<string, number>();
  const itemIds: string[] = [];
  let contributions = 0;
  let totalWeight = 0;
  for (let o = 0; o < outputs.length; o++) {
    const out = outputs[o]!;
    if (!(out.weight > 0)) continue;
    totalWeight += out.weight;
    // a non-finite score (decay overflow on a far-future event) must not poison the whole blend
    let max = 0;
    for (const c of out.candidates) if (c.score > max && Number.isFinite(c.score)) max = c.score;
    if (!(max > 0)) continue;
    for (let k = 0; k < out.candidates.length; k++) {
      const c = out.candidates[k]!;
      if (!(c.score > 0) || !Number.isFinite(c.score)) continue;
      const amount = (out.weight * c.score) / max;
      let e = entryOf.get(c.itemId);
      if (e === undefined) {
        e = itemIds.length;
        entryOf.set(c.itemId, e);
        itemIds.push(c.itemId);
        table.last[e] = -1;
      }
      totals[e]! += amount;
      const n = contributions++;
      table.amount[n] = amount;
      table.output[n] = o;
      table.candidate[n] = k;
      table.previous[n] = table.last[e]!;
      table.last[e] = n;
    }
  }
  return new BlendedRanking(outputs, itemIds, totals, totalWeight, table);
}
