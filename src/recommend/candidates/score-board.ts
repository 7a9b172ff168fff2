/**
 * Per-query scratch space for item scores, indexed by item handle. It is reused across queries
 * (a round counter marks what belongs to the current one) so a query allocates nothing
 * proportional to the catalog. Besides the total it remembers which anchor contributed most to
 * each item, so the reason can name it.
 */
import type { ItemIds } from '../item-ids.ts';
import { rankScore, TopK } from '../top-k.ts';
import { grownLength, widened } from '../typed-arrays.ts';
import type { Candidate, ReasonType } from '../types.ts';

const NO_ANCHOR = -1;
/** stamps are 32-bit: past this the arrays are cleared and rounds restart */
export const ROUND_LIMIT = 0x7fffffff;

export class ScoreBoard {
  private round = 0;
  private stamp = new Int32Array(0);
  private excludedStamp = new Int32Array(0);
  private total = new Float64Array(0);
  private bestPart = new Float64Array(0);
  private bestAnchor = new Int32Array(0);
  private bestTag = new Int8Array(0);
  /** items scored in this query: the first `touchedLength` entries (the array is reused) */
  private readonly touched: number[] = [];
  private touchedLength = 0;

  constructor(private readonly ids: ItemIds) {}

  /** starts a query; forgets every score of the previous one */
  begin(): void {
    const need = this.ids.size;
    if (this.stamp.length < need) this.grow(grownLength(this.stamp.length, need));
    if (this.round === ROUND_LIMIT) {
      this.stamp.fill(0);
      this.excludedStamp.fill(0);
      this.round = 0;
    }
    this.round++;
    this.touchedLength = 0;
  }

  private grow(n: number): void {
    this.stamp = widened(this.stamp, n);
    this.excludedStamp = widened(this.excludedStamp, n);
    this.total = widened(this.total, n);
    this.bestPart = widened(this.bestPart, n);
    this.bestAnchor = widened(this.bestAnchor, n);
    this.bestTag = widened(this.bestTag, n);
  }

  /** the item never becomes a candidate in this query (e.g. it is one of the anchors) */
  exclude(item: number): void {
    this.excludedStamp[item] = this.round;
  }

  /** adds `part` to the item's score; `tag` tells the reason type apart when a generator has several */
  add(item: number, part: number, anchor = NO_ANCHOR, tag = 0): void {
    if (this.excludedStamp[item] === this.round || !(part > 0)) return;
    if (this.stamp[item] !== this.round) {
      this.stamp[item] = this.round;
      this.total[item] = 0;
      this.bestPart[item] = -1;
      this.touched[this.touchedLength++] = item;
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

  /**
   * The best `limit` items as candidates. `reasonOf` turns the winning tag into a reason type;
   * `namesAnchor` says whether that reason names its anchor item.
   */
  top(limit: number, reasonOf: (tag: number) => ReasonType, namesAnchor = true): Candidate[] {
    const best = new TopK(limit, this.ids.compare);
    for (let i = 0; i < this.touchedLength; i++) {
      const item = this.touched[i]!;
      best.push(item, this.total[item]!);
    }
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
