/**
 * Serves a trained item-item model (EASE) as a candidate generator. A person's scores are computed at
 * request time from the query's items (context item, current session, then history, most recent
 * first), so the model keeps nothing per person: a new event counts at the next request, and an
 * erased person leaves nothing behind in it. Scratch arrays are reused across queries.
 */
import { recentInterest } from '../query-items.ts';
import { rankScore, TopK } from '../top-k.ts';
import type { Candidate, RecommendQuery } from '../types.ts';
import type { SparseItemModel } from './ease-train.ts';

const NO_ANCHOR = -1;

export class ItemModelScorer {
  private readonly index: Map<string, number>;
  private round = 0;
  private readonly stamp: Int32Array;
  private readonly excluded: Int32Array;
  private readonly total: Float64Array;
  private readonly bestPart: Float64Array;
  private readonly anchor: Int32Array;
  private readonly touched: Int32Array;

  constructor(readonly model: SparseItemModel) {
    const n = model.itemIds.length;
    this.index = new Map(model.itemIds.map((id, i) => [id, i]));
    this.stamp = new Int32Array(n);
    this.excluded = new Int32Array(n);
    this.total = new Float64Array(n);
    this.bestPart = new Float64Array(n);
    this.anchor = new Int32Array(n);
    this.touched = new Int32Array(n);
  }

  get size(): number {
    return this.model.itemIds.length;
  }

  has(itemId: string): boolean {
    return this.index.has(itemId);
  }

  /**
   * At most `limit` items by summed weights from the person's `historyItems` most recent distinct
   * items of interest (those excluded), each with the item that contributed most as its anchor.
   * Items `masked` selects are neither scored from nor offered.
   */
  generate(q: RecommendQuery, limit: number, historyItems: number, halfLife = 0, masked?: (itemId: string) => boolean): Candidate[] {
    if (limit <= 0 || this.size === 0) return [];
    const anchors: number[] = [];
    for (const id of recentInterest(q, historyItems)) {
      const h = this.index.get(id);
      if (h !== undefined && !masked?.(id)) anchors.push(h);
    }
    if (anchors.length === 0) return [];
    if (++this.round === 0x7fffffff) {
      this.stamp.fill(0);
      this.excluded.fill(0);
      this.round = 1;
    }
    const round = this.round;
    const { offsets, neighbours, weights, itemIds } = this.model;
    for (const a of anchors) this.excluded[a] = round;
    let touched = 0;
    for (let p = 0; p < anchors.length; p++) {
      const a = anchors[p]!;
      // the p-th most recent item counts 2^(−p / halfLife) (halfLife 0: every item counts fully)
      const f = halfLife > 0 ? 2 ** (-p / halfLife) : 1;
      for (let k = offsets[a]!; k < offsets[a + 1]!; k++) {
        const j = neighbours[k]!;
        if (this.excluded[j] === round) continue;
        const w = f * weights[k]!;
        if (this.stamp[j] !== round) {
          this.stamp[j] = round;
          this.total[j] = 0;
          this.bestPart[j] = 0;
          this.anchor[j] = NO_ANCHOR;
          this.touched[touched++] = j;
        }
        this.total[j]! += w;
        // anchors come most recent first: an equal part keeps the more recent anchor
        if (w > this.bestPart[j]!) {
          this.bestPart[j] = w;
          this.anchor[j] = a;
        }
      }
    }
    const top = new TopK(limit, (x, y) => (itemIds[x]! < itemIds[y]! ? -1 : itemIds[x]! > itemIds[y]! ? 1 : 0));
    for (let t = 0; t < touched; t++) {
      const j = this.touched[t]!;
      const score = this.total[j]!;
      if (rankScore(score) > 0 && this.anchor[j] !== NO_ANCHOR && !masked?.(itemIds[j]!)) top.push(j, score);
    }
    const { handles, scores } = top.drain();
    return handles.map((j, i) => ({ itemId: itemIds[j]!, score: scores[i]!, reason: { type: 'personal', itemId: itemIds[this.anchor[j]!]! } }));
  }
}
