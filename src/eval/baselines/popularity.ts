/**
 * The popularity baseline: items by train interaction count (ties by first appearance), the same list
 * for everyone minus what the person already has. In online mode each observed event counts too.
 */
import type { Interaction } from '../dataset.ts';
import type { NextItemPredictor, TopNCase, TopNPredictor } from '../driver.ts';

export class PopularityBaseline implements NextItemPredictor, TopNPredictor {
  readonly name = 'popularity';
  private readonly counts = new Map<string, number>();
  /** items, most popular first, kept sorted as counts grow */
  private readonly ranked: string[] = [];
  private readonly position = new Map<string, number>();

  constructor(train: readonly Interaction[]) {
    for (const x of train) this.counts.set(x.item, (this.counts.get(x.item) ?? 0) + 1);
    // Map order is first appearance; sort is stable
    this.ranked.push(...[...this.counts.keys()].sort((a, b) => this.counts.get(b)! - this.counts.get(a)!));
    this.ranked.forEach((item, i) => this.position.set(item, i));
  }

  /** the `count` most popular items not in `exclude` */
  top(count: number, exclude?: ReadonlySet<string>): string[] {
    const out: string[] = [];
    for (const item of this.ranked) {
      if (out.length >= count) break;
      if (!exclude?.has(item)) out.push(item);
    }
    return out;
  }

  nextItems(_session: string, _prefix: readonly Interaction[], _now: number, count: number): string[] {
    return this.top(count);
  }

  topN(c: TopNCase, count: number): string[] {
    return this.top(count, new Set(c.trainItems));
  }

  /** one more event: the item moves up past items it now outnumbers */
  observe(x: Interaction): void {
    const c = (this.counts.get(x.item) ?? 0) + 1;
    this.counts.set(x.item, c);
    let at = this.position.get(x.item);
    if (at === undefined) {
      at = this.ranked.length;
      this.ranked.push(x.item);
    }
    while (at > 0 && this.counts.get(this.ranked[at - 1]!)! < c) {
      const prev = this.ranked[at - 1]!;
      this.ranked[at] = prev;
      this.position.set(prev, at);
      at--;
    }
    this.ranked[at] = x.item;
    this.position.set(x.item, at);
  }
}
