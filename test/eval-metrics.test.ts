import { describe, expect, it } from 'vitest';
import {
  anyHitAt,
  averagePrecisionAt,
  hitAt,
  ndcgAt,
  NextItemMetrics,
  recallAt,
  reciprocalRankAt,
  TopNMetrics,
} from '../src/eval/metrics.ts';

const log2 = Math.log2;

describe('next-item metrics (session-rec definitions)', () => {
  const ranked = ['a', 'b', 'c', 'd'];

  it('HitRate@k counts the target only within the first k', () => {
    expect(hitAt(ranked, 'c', 2)).toBe(0);
    expect(hitAt(ranked, 'c', 3)).toBe(1);
    expect(hitAt(ranked, 'z', 20)).toBe(0);
  });

  it('MRR@k is 1/rank within the first k, else 0', () => {
    expect(reciprocalRankAt(ranked, 'a', 5)).toBe(1);
    expect(reciprocalRankAt(ranked, 'c', 5)).toBeCloseTo(1 / 3, 12);
    expect(reciprocalRankAt(ranked, 'd', 3)).toBe(0);
  });

  it('averages HR and MRR over predictions, with coverage and popularity over the top items', () => {
    // train counts: a 4, b 2, c 1, d 1 (max 4)
    const m = new NextItemMetrics([1, 2], new Map([['a', 4], ['b', 2], ['c', 1], ['d', 1]]), 2);
    m.add(['a', 'b', 'c'], 'b'); // rank 2: HR@1 0, HR@2 1, MRR@2 1/2; popularity of {a, b} = (4/4 + 2/4) / 2
    m.add(['c', 'a'], 'c'); // rank 1; popularity of {c, a} = (1/4 + 4/4) / 2
    m.add(['b', 'b'], 'z'); // miss; duplicates count once: popularity of {b} = 2/4
    const r = m.result();
    expect(r['HR@1']).toBeCloseTo(1 / 3, 12);
    expect(r['HR@2']).toBeCloseTo(2 / 3, 12);
    expect(r['MRR@1']).toBeCloseTo(1 / 3, 12);
    expect(r['MRR@2']).toBeCloseTo((0.5 + 1) / 3, 12);
    expect(r['Coverage@2']).toBeCloseTo(3 / 4, 12); // a, b, c of 4 train items (c at rank 3 in the first list is beyond 2)
    expect(r['Popularity@2']).toBeCloseTo((0.75 + 0.625 + 0.5) / 3, 12);
  });
});

describe('top-N metrics', () => {
  // relevant at ranks 2 and 5, one relevant item never ranked
  const ranked = ['a', 'b', 'c', 'd', 'e'];
  const relevant = new Set(['b', 'e', 'z']);

  it('Recall@k divides hits by the number of relevant items', () => {
    expect(recallAt(ranked, relevant, 5)).toBeCloseTo(2 / 3, 12);
    expect(recallAt(ranked, relevant, 1)).toBe(0);
  });

  it('NDCG@k uses binary gains, log2(rank + 1) discounts and the ideal ordering of min(k, |relevant|) hits', () => {
    const dcg = 1 / log2(3) + 1 / log2(6);
    const ideal = 1 + 1 / log2(3) + 1 / log2(4);
    expect(ndcgAt(ranked, relevant, 5)).toBeCloseTo(dcg / ideal, 12);
    expect(ndcgAt(['b'], new Set(['b']), 10)).toBe(1);
    expect(ndcgAt(ranked, new Set(), 10)).toBe(0);
  });

  it('AP@k sums precision at each relevant rank, divided by min(k, |relevant|)', () => {
    expect(averagePrecisionAt(ranked, relevant, 5)).toBeCloseTo((1 / 2 + 2 / 5) / 3, 12);
    expect(averagePrecisionAt(ranked, relevant, 2)).toBeCloseTo(1 / 2 / 2, 12);
  });

  it('HR@k is 1 when any relevant item is in the first k', () => {
    expect(anyHitAt(ranked, relevant, 1)).toBe(0);
    expect(anyHitAt(ranked, relevant, 2)).toBe(1);
  });

  it('averages over people and measures catalog coverage of the top lists', () => {
    const m = new TopNMetrics(10, 2);
    m.add(['a', 'b', 'c'], new Set(['a']));
    m.add(['c', 'd'], new Set(['x']));
    const r = m.result();
    expect(r['HR@10']).toBe(0.5);
    expect(r['Recall@10']).toBe(0.5);
    expect(r['NDCG@10']).toBe(0.5);
    expect(r['MAP@10']).toBe(0.5);
    expect(r['Coverage@2']).toBeCloseTo(4 / 10, 12); // a, b, c, d
  });
});
