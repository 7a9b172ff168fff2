/** The EASE baseline for top-N: one row per person of their train items; popularity fills any gap. */
import { EaseModel, type EaseOptions } from '../../recommend/candidates/ease.ts';
import { groupBy, type Interaction } from '../dataset.ts';
import type { TopNCase, TopNPredictor } from '../driver.ts';
import type { PopularityBaseline } from './popularity.ts';

export class EaseBaseline implements TopNPredictor {
  readonly name = 'ease';
  readonly model: EaseModel;

  constructor(
    train: readonly Interaction[],
    options: Partial<EaseOptions>,
    private readonly popularity: PopularityBaseline,
  ) {
    const rows = [...groupBy(train, (x) => x.person).values()].map((events) => events.map((x) => x.item));
    this.model = EaseModel.fit(rows, options);
  }

  topN(c: TopNCase, count: number): string[] {
    const exclude = new Set(c.trainItems);
    const out = this.model.recommend(c.trainItems, count, exclude).map((s) => s.itemId);
    if (out.length < count) {
      for (const item of this.popularity.top(count, exclude)) {
        if (out.length >= count) break;
        if (!out.includes(item)) out.push(item);
      }
    }
    return out;
  }
}
