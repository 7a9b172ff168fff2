import { describe, expect, it } from 'vitest';
import { InSessionGenerator } from '../src/recommend/candidates/in-session.ts';
import { query } from './recommend-fixtures.ts';

const scores = (g: InSessionGenerator, q: ReturnType<typeof query>, limit = 10) =>
  g.generate(q, limit).map((c) => [c.itemId, Number(c.score.toFixed(6))]);

describe('in-session reminders', () => {
  it('scores by recency rank and summed interaction weight', () => {
    const g = new InSessionGenerator({ recencyDecay: 1, frequencyExponent: 0.5, historyWeight: 0 });
    // most recent first: b (rank 0, weight 1), a (rank 1, viewed twice: weight 2), c (rank 2, added to cart: weight 3)
    const out = scores(g, query({ session: [['c', 'add'], 'a', 'a', 'b'] }));
    expect(out).toEqual([
      ['b', 1], // e^0 · 1^0.5
      ['a', Number((Math.exp(-1) * Math.SQRT2).toFixed(6))], // 0.520260
      ['c', Number((Math.exp(-2) * Math.sqrt(3)).toFixed(6))], // 0.234400
    ]);
  });

  it('names the item itself in an in_session reason', () => {
    const g = new InSessionGenerator();
    expect(g.generate(query({ session: ['a'] }), 5)).toEqual([{ itemId: 'a', score: 1, reason: { type: 'in_session', itemId: 'a' } }]);
  });

  it('never offers the context item, which takes recency rank 0', () => {
    const g = new InSessionGenerator({ recencyDecay: 2, frequencyExponent: 0, historyWeight: 0 });
    expect(scores(g, query({ session: ['a', 'b'], context: 'b' }))).toEqual([['a', Number(Math.exp(-0.5).toFixed(6))]]);
    // a context item the session does not hold still counts as the most recent view
    expect(scores(g, query({ session: ['a'], context: 'x' }))).toEqual([['a', Number(Math.exp(-0.5).toFixed(6))]]);
  });

  it('drops an item whose latest interaction removed it from the cart', () => {
    const g = new InSessionGenerator({ historyWeight: 0 });
    const out = g.generate(query({ session: [['a', 'add'], 'b', ['a', 'remove']] }), 10);
    expect(out.map((c) => c.itemId)).toEqual(['b']);
    // b keeps rank 1: the removal was the most recent interaction
    expect(out[0]!.score).toBeCloseTo(Math.exp(-1), 9);
  });

  it('ignores interactions that show no interest', () => {
    const g = new InSessionGenerator({ historyWeight: 0 });
    expect(g.generate(query({ session: ['a', ['s', 'search'], ['p', 'promo_view']] }), 10).map((c) => c.itemId)).toEqual(['a']);
  });

  it('adds earlier sessions scaled by historyWeight, with their own ranks and reason', () => {
    const g = new InSessionGenerator({ recencyDecay: 1, frequencyExponent: 0, historyWeight: 0.25 });
    const q = query({ history: ['old1', 'old2', 'a'], session: ['a', 'b'] });
    expect(scores(g, q)).toEqual([
      ['b', 1],
      ['a', Number(Math.exp(-1).toFixed(6))],
      ['old2', 0.25], // rank 0 of the history once the session's items are left out
      ['old1', Number((0.25 * Math.exp(-1)).toFixed(6))],
    ]);
    expect(g.generate(q, 10)[2]!.reason).toEqual({ type: 'viewed_before', itemId: 'old2' });
    expect(new InSessionGenerator({ historyWeight: 0 }).generate(q, 10).map((c) => c.itemId)).toEqual(['b', 'a']);
  });

  it('keeps at most maxItems distinct session items and `limit` candidates', () => {
    const g = new InSessionGenerator({ maxItems: 2, historyWeight: 0 });
    expect(g.generate(query({ session: ['a', 'b', 'c', 'b'] }), 10).map((c) => c.itemId)).toEqual(['b', 'c']);
    expect(g.generate(query({ session: ['a', 'b', 'c'] }), 1).map((c) => c.itemId)).toEqual(['c']);
    expect(g.generate(query(), 10)).toEqual([]);
  });
});
