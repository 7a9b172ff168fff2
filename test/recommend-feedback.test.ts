import { describe, expect, it } from 'vitest';
import { BlendLearner, FeedbackLearning, type FeedbackExample } from '../src/recommend/serving/feedback.ts';

const base = { covisit: 1, popular: 1 };
// people keep choosing the item co-viewed with what they saw, shown next to merely popular ones
const coviewWins: FeedbackExample = { chosen: { covisit: 0.9, popular: 0.1 }, others: [{ covisit: 0.1, popular: 0.9 }, { popular: 1 }], weight: 1 };

describe('blend learning from attributed feedback', () => {
  it('serves the configured weights until there is enough feedback', () => {
    const l = new BlendLearner(base, { learningRate: 0.1, prior: 0, minExamples: 3 });
    l.learn(coviewWins);
    l.learn(coviewWins);
    expect(l.weights()).toEqual(base);
    l.learn(coviewWins);
    expect(l.weights().covisit).toBeGreaterThan(l.weights().popular!);
  });

  it('one step is the pairwise logistic gradient (hand-computed)', () => {
    const l = new BlendLearner({ a: 1, b: 1 }, { learningRate: 0.5, prior: 0, minExamples: 0 });
    // margin = 1·(1 − 0) + 1·(0 − 1) = 0 → σ = 0.5, pull 0.5; Δa = 0.5·0.5·1, Δb = 0.5·0.5·(−1)
    l.learn({ chosen: { a: 1 }, others: [{ b: 1 }], weight: 1 });
    expect(l.weights()).toEqual({ a: 1.25, b: 0.75 });
  });

  it('keeps weights at or above zero and pulls them back toward the configured ones', () => {
    const l = new BlendLearner(base, { learningRate: 1, prior: 0, minExamples: 0 });
    for (let i = 0; i < 200; i++) l.learn(coviewWins);
    expect(l.weights().popular).toBe(0);
    const pulled = new BlendLearner(base, { learningRate: 1, prior: 0.5, minExamples: 0 });
    for (let i = 0; i < 200; i++) pulled.learn(coviewWins);
    expect(pulled.weights().popular).toBeGreaterThan(0);
    expect(pulled.weights().covisit).toBeGreaterThan(pulled.weights().popular!);
  });

  it('is a function of the examples in order (replay gives the same weights)', () => {
    const a = new BlendLearner(base);
    const b = new BlendLearner(base);
    const other: FeedbackExample = { chosen: { popular: 1 }, others: [{ covisit: 1 }], weight: 2 };
    for (const l of [a, b]) for (let i = 0; i < 60; i++) l.learn(i % 3 ? coviewWins : other);
    expect(a.weights()).toEqual(b.weights());
  });

  it('ignores generators the placement does not weigh', () => {
    const l = new BlendLearner({ covisit: 1 }, { learningRate: 1, prior: 0, minExamples: 0 });
    l.learn({ chosen: { covisit: 1, content: 1 }, others: [{ content: 0 }], weight: 1 });
    expect(Object.keys(l.weights())).toEqual(['covisit']);
  });
});

describe('the learned blends as GET /v1/models lists them', () => {
  it('come in placement order, not in the order feedback first reached them', () => {
    const learning = new FeedbackLearning(() => ({ covisit: 1, popular: 1 }));
    const example: FeedbackExample = { chosen: { covisit: 1 }, others: [{ popular: 1 }], weight: 1 };
    for (const [k, placement] of ['zeta', 'alpha', 'mid'].entries()) {
      learning.offer({ recommendationId: `r${k}`, placement, ids: ['u'], itemId: 'i', t: k, messageId: `m${k}`, example });
    }
    expect(learning.status().map((b) => b.placement)).toEqual(['alpha', 'mid', 'zeta']);
  });
});
