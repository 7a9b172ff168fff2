/**
 * Accuracy and beyond-accuracy metrics of ranked lists, as pure functions, and the accumulators the
 * protocols average them with. Definitions:
 *
 * - next-item (one target per prediction), as session-rec's evaluation/metrics: HitRate@k is 1 when
 *   the target is in the first k; MRR@k is 1/rank when it is, else 0. Coverage@k is the share of
 *   train items that appear in at least one top-k list; Popularity@k is, per list, the mean over its
 *   distinct top-k items of train count ÷ the largest train count, averaged over lists.
 * - top-N (a set of relevant items per person): Recall@k = hits in the first k ÷ |relevant|;
 *   NDCG@k = DCG@k ÷ IDCG@k with binary gains and log2(rank + 1) discounts; HR@k is 1 when any
 *   relevant item is in the first k; MAP@k averages AP@k = Σ precision@i over relevant ranks i ≤ k,
 *   divided by min(k, |relevant|); Coverage@k is the share of the catalog recommended to anyone.
 */

/** 1 when `target` is among the first `k` items of `ranked`, else 0 */
export function hitAt(ranked: readonly string[], target: string, k: number): number {
  const n = Math.min(k, ranked.length);
  for (let i = 0; i < n; i++) if (ranked[i] === target) return 1;
  return 0;
}

/** 1/rank of `target` when it is among the first `k` items, else 0 */
export function reciprocalRankAt(ranked: readonly string[], target: string, k: number): number {
  const n = Math.min(k, ranked.length);
  for (let i = 0; i < n; i++) if (ranked[i] === target) return 1 / (i + 1);
  return 0;
}

function hitsAt(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  let hits = 0;
  const n = Math.min(k, ranked.length);
  for (let i = 0; i < n; i++) if (relevant.has(ranked[i]!)) hits++;
  return hits;
}

export function recallAt(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  return relevant.size === 0 ? 0 : hitsAt(ranked, relevant, k) / relevant.size;
}

/** 1 when any relevant item is among the first `k` */
export function anyHitAt(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  return hitsAt(ranked, relevant, k) > 0 ? 1 : 0;
}

export function ndcgAt(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  let dcg = 0;
  const n = Math.min(k, ranked.length);
  for (let i = 0; i < n; i++) if (relevant.has(ranked[i]!)) dcg += 1 / Math.log2(i + 2);
  let ideal = 0;
  const m = Math.min(k, relevant.size);
  for (let i = 0; i < m; i++) ideal += 1 / Math.log2(i + 2);
  return ideal === 0 ? 0 : dcg / ideal;
}

export function averagePrecisionAt(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  let hits = 0;
  let sum = 0;
  const n = Math.min(k, ranked.length);
  for (let i = 0; i < n; i++) {
    if (!relevant.has(ranked[i]!)) continue;
    hits++;
    sum += hits / (i + 1);
  }
  const denominator = Math.min(k, relevant.size);
  return denominator === 0 ? 0 : sum / denominator;
}

export type Metrics = Record<string, number>;

/** Averages next-item metrics over predictions (session-rec's HitRate, MRR, Coverage, Popularity). */
export class NextItemMetrics {
  private predictions = 0;
  private readonly hits: number[];
  private readonly reciprocalRanks: number[];
  private readonly covered = new Set<string>();
  private popularitySum = 0;
  private readonly maxCount: number;

  constructor(
    private readonly cutoffs: readonly number[],
    /** train events per item */
    private readonly trainCounts: ReadonlyMap<string, number>,
    /** the cut-off of Coverage and Popularity */
    private readonly beyondAt = 20,
  ) {
    this.hits = cutoffs.map(() => 0);
    this.reciprocalRanks = cutoffs.map(() => 0);
    let max = 0;
    for (const c of trainCounts.values()) max = Math.max(max, c);
    this.maxCount = max;
  }

  add(ranked: readonly string[], target: string): void {
    this.predictions++;
    this.cutoffs.forEach((k, i) => {
      this.hits[i]! += hitAt(ranked, target, k);
      this.reciprocalRanks[i]! += reciprocalRankAt(ranked, target, k);
    });
    const top = new Set(ranked.slice(0, this.beyondAt));
    let pop = 0;
    for (const item of top) {
      this.covered.add(item);
      pop += (this.trainCounts.get(item) ?? 0) / (this.maxCount || 1);
    }
    if (top.size > 0) this.popularitySum += pop / top.size;
  }

  get count(): number {
    return this.predictions;
  }

  result(): Metrics {
    const n = Math.max(1, this.predictions);
    const out: Metrics = {};
    this.cutoffs.forEach((k, i) => {
      out[`HR@${k}`] = this.hits[i]! / n;
      out[`MRR@${k}`] = this.reciprocalRanks[i]! / n;
    });
    out[`Coverage@${this.beyondAt}`] = this.trainCounts.size === 0 ? 0 : this.covered.size / this.trainCounts.size;
    out[`Popularity@${this.beyondAt}`] = this.popularitySum / n;
    return out;
  }
}

/** Averages top-N metrics over people. */
export class TopNMetrics {
  private people = 0;
  private readonly sums = new Map<string, number>();
  private readonly covered = new Set<string>();

  constructor(
    /** items that could be recommended (the coverage denominator) */
    private readonly catalogSize: number,
    private readonly coverageAt = 20,
  ) {}

  add(ranked: readonly string[], relevant: ReadonlySet<string>): void {
    this.people++;
    const add = (name: string, v: number) => this.sums.set(name, (this.sums.get(name) ?? 0) + v);
    for (const k of [10, 20]) {
      add(`Recall@${k}`, recallAt(ranked, relevant, k));
      add(`NDCG@${k}`, ndcgAt(ranked, relevant, k));
    }
    add('HR@10', anyHitAt(ranked, relevant, 10));
    add('MAP@10', averagePrecisionAt(ranked, relevant, 10));
    for (const item of ranked.slice(0, this.coverageAt)) this.covered.add(item);
  }

  get count(): number {
    return this.people;
  }

  result(): Metrics {
    const n = Math.max(1, this.people);
    const out: Metrics = {};
    for (const name of ['Recall@10', 'Recall@20', 'NDCG@10', 'NDCG@20', 'HR@10', 'MAP@10']) out[name] = (this.sums.get(name) ?? 0) / n;
    out[`Coverage@${this.coverageAt}`] = this.catalogSize === 0 ? 0 : this.covered.size / this.catalogSize;
    return out;
  }
}
