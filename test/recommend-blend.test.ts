import { describe, expect, it } from 'vitest';
import { blend, DEFAULT_PLACEMENT_WEIGHTS, weightsFor } from '../src/recommend/rank/blend.ts';

describe('blending generators', () => {
  it("takes a placement's weights from its own entry only: names of Object.prototype members are placements like any other", () => {
    for (const placement of ['constructor', 'toString', '__proto__', 'valueOf', 'hasOwnProperty', 'no-such-placement']) {
      expect(weightsFor(placement, DEFAULT_PLACEMENT_WEIGHTS), placement).toEqual(DEFAULT_PLACEMENT_WEIGHTS.default);
    }
    expect(weightsFor('similar', DEFAULT_PLACEMENT_WEIGHTS)).toEqual(DEFAULT_PLACEMENT_WEIGHTS.similar);
  });

  it('normalises each generator by its maximum and sums the weighted scores', () => {
    const out = [...blend([
      { generator: 'covisit', weight: 1, candidates: [
        { itemId: 'a', score: 10, reason: { type: 'viewed_together', itemId: 'x' } },
        { itemId: 'b', score: 5, reason: { type: 'viewed_together', itemId: 'x' } },
      ] },
      { generator: 'trending', weight: 0.5, candidates: [
        { itemId: 'b', score: 0.2, reason: { type: 'trending' } },
        { itemId: 'c', score: 0.1, reason: { type: 'trending' } },
      ] },
    ])];
    // a: 1·10/10 = 1; b: 1·5/10 + 0.5·0.2/0.2 = 1; c: 0.5·0.1/0.2 = 0.25; divided by the total weight 1.5
    expect(out.map((b) => [b.itemId, Number(b.score.toFixed(6))])).toEqual([['a', 0.666667], ['b', 0.666667], ['c', 0.166667]]);
  });

  it('keeps every reason of an item, strongest contribution first', () => {
    const out = [...blend([
      { generator: 'covisit', weight: 1, candidates: [{ itemId: 'a', score: 1, reason: { type: 'viewed_together', itemId: 'x' } }, { itemId: 'z', score: 4, reason: { type: 'viewed_together', itemId: 'x' } }] },
      { generator: 'content', weight: 1, candidates: [{ itemId: 'a', score: 3, reason: { type: 'similar_content', itemId: 'y' } }] },
    ])];
    const a = out.find((b) => b.itemId === 'a')!;
    expect(a.contributions.map((c) => c.reason)).toEqual([{ type: 'similar_content', itemId: 'y' }, { type: 'viewed_together', itemId: 'x' }]);
    expect(a.contributions.map((c) => c.generator)).toEqual(['content', 'covisit']);
  });

  it('ignores generators weighted zero and non-positive scores', () => {
    const out = [...blend([
      { generator: 'popular', weight: 0, candidates: [{ itemId: 'a', score: 1, reason: { type: 'popular' } }] },
      { generator: 'trending', weight: 1, candidates: [{ itemId: 'b', score: 0, reason: { type: 'trending' } }, { itemId: 'c', score: 2, reason: { type: 'trending' } }] },
    ])];
    expect(out.map((b) => b.itemId)).toEqual(['c']);
  });

  it('chooses weights by placement, falling back to the default placement', () => {
    expect(weightsFor('product_page', DEFAULT_PLACEMENT_WEIGHTS)).toBe(DEFAULT_PLACEMENT_WEIGHTS.product_page);
    expect(weightsFor('unknown', DEFAULT_PLACEMENT_WEIGHTS)).toBe(DEFAULT_PLACEMENT_WEIGHTS.default);
    expect(weightsFor(undefined, { default: { covisit: 2 } })).toEqual({ covisit: 2 });
  });
});
