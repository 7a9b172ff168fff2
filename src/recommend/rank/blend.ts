/**
 * Blends candidates of several generators into one ranking. Each generator's scores are divided by
 * its own maximum (generators score on unrelated scales), weighted by the placement's weight for
 * that generator, and summed per item. An item keeps every reason that contributed, strongest first.
 */
import { rankOrder } from '../top-k.ts';
import type { Candidate, RawReason } from '../types.ts';

/** weight per generator name; a generator absent or weighted 0 is not asked */
export type GeneratorWeights = Record<string, number>;

export const DEFAULT_PLACEMENT = 'default';

/** Weights per placement (`context.placement` of the request); unknown placements use `default`. */
export const DEFAULT_PLACEMENT_WEIGHTS: Readonly<Record<string, GeneratorWeights>> = {
  default: { 'session-knn': 1, covisit: 1, content: 0.4, trending: 0.15, popular: 0.1 },
  home: { 'session-knn': 1, covisit: 0.6, content: 0.2, trending: 0.4, popular: 0.25 },
  product_page: { covisit: 1, 'session-knn': 0.7, content: 0.6, trending: 0.1, popular: 0.05 },
  cart: { covisit: 1.2, 'session-knn': 0.6, content: 0.2, trending: 0.1, popular: 0.1 },
  similar: { content: 1, covisit: 0.8, 'session-knn': 0.3, trending: 0.05, popular: 0.05 },
};

export function weightsFor(placement: string | undefined, table: Readonly<Record<string, GeneratorWeights>>): GeneratorWeights {
  return (placement !== undefined ? table[placement] : undefined) ?? table[DEFAULT_PLACEMENT] ?? DEFAULT_PLACEMENT_WEIGHTS.default!;
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
 * The blended ranking. Callers usually read only its head, so an item's contributions are put
 * together when it is read, not for every candidate; everything else lives in flat arrays.
 */
export class BlendedRanking implements Iterable<BlendedCandidate> {
  constructor(
    private readonly outputs: readonly GeneratorOutput[],
    private readonly itemIds: readonly string[],
    private readonly totals: Float64Array,
    private readonly totalWeight: number,
    private readonly order: Int32Array,
    private readonly contributions: ContributionTable,
  ) {}

  get length(): number {
    return this.order.length;
  }

  /** the candidate at a rank (0 = best) */
  at(rank: number): BlendedCandidate {
    const e = this.order[rank]!;
    const { amount, output, candidate, previous, last } = this.contributions;
    const contributions: Contribution[] = [];
    for (let c = last[e]!; c >= 0; c = previous[c]!) {
      const out = this.outputs[output[c]!]!;
      contributions.push({ generator: out.generator, reason: out.candidates[candidate[c]!]!.reason, amount: amount[c]! });
    }
    if (contributions.length > 1) contributions.sort((x, y) => rankOrder(x.amount, y.amount, byId(x.generator, y.generator)));
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
  const order = new Int32Array(itemIds.length);
  for (let e = 0; e < order.length; e++) order[e] = e;
  order.sort((a, b) => rankOrder(totals[a]!, totals[b]!, byId(itemIds[a]!, itemIds[b]!)));
  return new BlendedRanking(outputs, itemIds, totals, totalWeight, order, table);
}
