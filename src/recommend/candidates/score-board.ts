/**
 * Per-query scratch space for item scores, indexed by item handle. It is reused across queries
 * (a round counter marks what belongs to the current one) so a query allocates nothing
 * proportional to the catalog. Besides the total it remembers which anchor contributed most to
 * each item, so the reason can name it.
 */
import type { ItemIds } from '../item-ids.ts';
import { rankScore, TopK } from '../top-k.ts';
import type { Candidate, ReasonType } from '../types.ts';

const NO_ANCHOR = -1;

export class ScoreBoard {
  private round = 0;
  private stamp = new Int32Array(0);
  private excludedStamp = new Int32Array(0);
  private total = new Float64Array(0);
  private bestPart = new Float64Array(0);
  private bestAnchor = new Int32Array(0);
  private bestTag = new Int8Array(0);
  private touched: number[] = [];

  constructor(private readonly ids: ItemIds) {}

  /** starts a query; forgets every score of the previous one */
  begin(): void {
    const need = this.ids.size;
    if (this.stamp.length < need) this.grow(Math.max(need, this.stamp.length * 2, 1024));
    this.round++;
    this.touched = [];
  }

  private grow(n: number): void {
    const widen = <T extends Int32Array | Float64Array | Int8Array>(old: T, make: (n: number) => T): T => {
      const next = make(n);
      next.set(old);
      return next;
    };
    this.stamp = widen(this.stamp, (k) => new Int32Array(k));
    this.excludedStamp = widen(this.excludedStamp, (k) => new Int32Array(k));
    this.total = widen(this.total, (k) => new Float64Array(k));
    this.bestPart = widen(this.bestPart, (k) => new Float64Array(k));
    this.bestAnchor = widen(this.bestAnchor, (k) => new Int32Array(k));
    this.bestTag = widen(this.bestTag, (k) => new Int8Array(k));
  }

  /** the item never becomes a candidate in this query (e.g. it is one of the anchors) */
  exclude(item: number): void {
    this.excludedStamp[item] = this.round;
  }

  isExcluded(item: number): boolean {
    return this.excludedStamp[item] === this.round;
  }

  /** adds `part` to the item's score; `tag` tells the reason type apart when a generator has several */
  add(item: number, part: number, anchor = NO_ANCHOR, tag = 0): void {
    if (this.excludedStamp[item] === this.round || !(part > 0)) return;
    if (this.stamp[item] !== this.round) {
      this.stamp[item] = this.round;
      this.total[item] = 0;
      this.bestPart[item] = -1;
      this.touched.push(item);
    }
    this.total[item]! += part;
    // compared at ranking precision so near-equal parts pick the same anchor whatever the summation order
    const key = rankScore(part);
    if (key > this.bestPart[item]! || (key === this.bestPart[item]! && anchor !== NO_ANCHOR && this.tieBefore(anchor, this.bestAnchor[item]!))) {
      this.bestPart[item] = key;
      this.bestAnchor[item] = anchor;
      this.bestTag[item] = tag;
    }
  }

  private tieBefore(a: number, b: number): boolean {
    return b === NO_ANCHOR || this.ids.compare(a, b) < 0;
  }

  get touchedCount(): number {
    return this.touched.length;
  }

  /**
   * The best `limit` items as candidates. `reasonOf` turns the winning tag into a reason type;
   * `namesAnchor` says whether that reason names its anchor item.
   */
  top(limit: number, reasonOf: (tag: number) => ReasonType, namesAnchor = true): Candidate[] {
    const best = new TopK(limit, this.ids.compare);
    for (const item of this.touched) best.push(item, this.total[item]!);
    const { handles, scores } = best.drain();
    return handles.map((item, i) => {
      const anchor = this.bestAnchor[item]!;
      const type = reasonOf(this.bestTag[item]!);
      return {
        itemId: this.ids.idOf(item),
        score: scores[i]!,
        reason: namesAnchor && anchor !== NO_ANCHOR ? { type, itemId: this.ids.idOf(anchor) } : { type },
      };
    });
  }
}
