import { describe, expect, it } from 'vitest';
import { LinUcbBandit } from '../src/decide/bandit.ts';
import { buildFeatures } from '../src/decide/features.ts';
import { seededRandom } from '../src/decide/random.ts';
import { RidgeRegression, toSparse } from '../src/decide/ridge.ts';

const DIMS = 16;
const x = (segment: string): number[] => buildFeatures({ segments: [segment] }, { dims: DIMS });
const candidates = (...ids: string[]) => ids.map((actionId) => ({ actionId }));

describe('ridge regression', () => {
  it('matches the closed-form ridge solution', () => {
    // y = 1 + 2·x1 observed at x1 = 0 and x1 = 1, λ = 1: A = [[3,1],[1,2]], b = [4,3], θ = A⁻¹b = [1, 1]
    const m = new RidgeRegression(2, { ridge: 1, priorMean: 0 });
    m.add(toSparse([1, 0]), 1);
    m.add(toSparse([1, 1]), 3);
    expect(m.predict(toSparse([1, 0]))).toBeCloseTo(1, 12);
    expect(m.predict(toSparse([1, 1]))).toBeCloseTo(2, 12);
    // xᵀA⁻¹x at x = [1, 0]: A⁻¹ = [[2,−1],[−1,3]]/5 → 2/5
    expect(m.uncertainty(toSparse([1, 0]))).toBeCloseTo(Math.sqrt(2 / 5), 12);
  });

  it('an untrained model predicts the prior mean with prior uncertainty', () => {
    const m = new RidgeRegression(4, { ridge: 2, priorMean: 0.3 });
    expect(m.predict(toSparse([1, 0, 0, 0]))).toBeCloseTo(0.3, 12);
    expect(m.uncertainty(toSparse([1, 0, 0, 0]))).toBeCloseTo(Math.sqrt(1 / 2), 12);
  });

  it('remove undoes add', () => {
    const random = seededRandom('ridge');
    const m = new RidgeRegression(DIMS, { ridge: 1, priorMean: 0 });
    const keep = Array.from({ length: 50 }, () => ({ x: toSparse(x(`s${Math.floor(random() * 5)}`)), r: random() }));
    for (const o of keep) m.add(o.x, o.r);
    const before = m.toState();
    const extra = toSparse(x('s9'));
    m.add(extra, 1);
    m.remove(extra, 1);
    const after = m.toState();
    after.A.forEach((v, i) => expect(v).toBeCloseTo(before.A[i]!, 10));
    after.b.forEach((v, i) => expect(v).toBeCloseTo(before.b[i]!, 10));
    expect(m.n).toBe(50);
  });

  it('refuses to forget what it never learned', () => {
    const m = new RidgeRegression(2, { ridge: 1, priorMean: 0 });
    m.add(toSparse([1, 0]), 1);
    m.add(toSparse([1, 0]), 1);
    expect(() => m.remove(toSparse([0, 5]), 1)).toThrow(/never learned/);
    expect(m.predict(toSparse([1, 0]))).toBeCloseTo(2 / 3, 12);
  });

  it('stays exact over many updates (periodic re-inversion)', () => {
    const random = seededRandom('drift');
    const m = new RidgeRegression(DIMS, { ridge: 1, priorMean: 0 });
    for (let i = 0; i < 10_000; i++) m.add(toSparse(x(`s${Math.floor(random() * 8)}`)), random() < 0.3 ? 1 : 0);
    const fresh = RidgeRegression.fromState(DIMS, { ridge: 1, priorMean: 0 }, m.toState());
    for (let s = 0; s < 8; s++) {
      const v = toSparse(x(`s${s}`));
      expect(m.predict(v)).toBeCloseTo(fresh.predict(v), 9);
      expect(m.uncertainty(v)).toBeCloseTo(fresh.uncertainty(v), 9);
    }
  });
});

describe('LinUCB bandit', () => {
  it('propensities are an exact distribution with an ε/K floor', () => {
    const bandit = new LinUcbBandit({ dims: DIMS, epsilon: 0.1 });
    for (let i = 0; i < 50; i++) bandit.update('a', x('s'), 1);
    for (let i = 0; i < 50; i++) bandit.update('b', x('s'), 0);
    for (let i = 0; i < 50; i++) bandit.update('c', x('s'), 0);
    const estimates = bandit.estimate(x('s'), candidates('a', 'b', 'c'));
    expect(estimates.reduce((s, e) => s + e.probability, 0)).toBeCloseTo(1, 12);
    const p = bandit.probabilities(x('s'), candidates('a', 'b', 'c'));
    expect(p.get('a')).toBeCloseTo(0.9 + 0.1 / 3, 12);
    expect(p.get('b')).toBeCloseTo(0.1 / 3, 12);
  });

  it('the logged propensity matches the observed choice frequency', () => {
    const bandit = new LinUcbBandit({ dims: DIMS, epsilon: 0.2 });
    for (let i = 0; i < 30; i++) bandit.update('a', x('s'), 1);
    for (let i = 0; i < 30; i++) bandit.update('b', x('s'), 0.5);
    const random = seededRandom('frequency');
    const counts = new Map<string, number>();
    const propensity = new Map<string, number>();
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const c = bandit.choose(x('s'), candidates('a', 'b', 'c', 'd'), random)!;
      counts.set(c.actionId, (counts.get(c.actionId) ?? 0) + 1);
      propensity.set(c.actionId, c.propensity);
    }
    for (const [id, count] of counts) {
      const p = propensity.get(id)!;
      expect(Math.abs(count / n - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));
    }
  });

  it('new actions are explored: the prior gives them the widest optimism', () => {
    const bandit = new LinUcbBandit({ dims: DIMS, epsilon: 0 });
    for (let i = 0; i < 200; i++) bandit.update('old', x('s'), i % 10 === 0 ? 1 : 0);
    const choice = bandit.choose(x('s'), candidates('old', 'brand_new'), seededRandom(1))!;
    expect(choice.actionId).toBe('brand_new');
    expect(choice.explored).toBe(true);
    expect(choice.propensity).toBe(1);
  });

  it('ties between untried actions are split evenly', () => {
    const bandit = new LinUcbBandit({ dims: DIMS, epsilon: 0.05 });
    const p = bandit.probabilities(x('s'), candidates('a', 'b', 'c', 'd'));
    for (const v of p.values()) expect(v).toBeCloseTo(0.25, 12);
  });

  it('learns which action suits which context', () => {
    const bandit = new LinUcbBandit({ dims: DIMS });
    const random = seededRandom('learn');
    const rate: Record<string, Record<string, number>> = { young: { a: 0.3, b: 0.05 }, old: { a: 0.05, b: 0.3 } };
    for (let i = 0; i < 4000; i++) {
      const seg = random() < 0.5 ? 'young' : 'old';
      const c = bandit.choose(x(seg), candidates('a', 'b'), random)!;
      bandit.update(c.actionId, x(seg), random() < rate[seg]![c.actionId]! ? 1 : 0);
    }
    expect(bandit.expectedReward('a', x('young'))).toBeGreaterThan(bandit.expectedReward('b', x('young')));
    expect(bandit.expectedReward('b', x('old'))).toBeGreaterThan(bandit.expectedReward('a', x('old')));
    expect(bandit.expectedReward('a', x('young'))).toBeCloseTo(0.3, 1);
  });

  it('value weighs the ranking', () => {
    const bandit = new LinUcbBandit({ dims: DIMS, epsilon: 0, alpha: 0 });
    for (let i = 0; i < 100; i++) {
      bandit.update('cheap', x('s'), i % 10 === 0 ? 1 : 0);
      bandit.update('premium', x('s'), i % 20 === 0 ? 1 : 0);
    }
    const plain = bandit.choose(x('s'), [{ actionId: 'cheap' }, { actionId: 'premium' }], seededRandom(1))!;
    const valued = bandit.choose(x('s'), [{ actionId: 'cheap', value: 1 }, { actionId: 'premium', value: 5 }], seededRandom(1))!;
    expect(plain.actionId).toBe('cheap');
    expect(valued.actionId).toBe('premium');
  });

  it('round-trips through JSON and keeps deciding the same way', () => {
    const bandit = new LinUcbBandit({ dims: DIMS, alpha: 0.4, epsilon: 0.1 });
    const random = seededRandom('json');
    for (let i = 0; i < 500; i++) bandit.update(['a', 'b', 'c'][i % 3]!, x(`s${i % 4}`), random() < 0.2 ? 1 : 0);
    const restored = LinUcbBandit.fromJSON(JSON.parse(JSON.stringify(bandit)));
    expect(restored.options).toEqual(bandit.options);
    for (let s = 0; s < 4; s++) {
      const before = bandit.estimate(x(`s${s}`), candidates('a', 'b', 'c', 'new'));
      const after = restored.estimate(x(`s${s}`), candidates('a', 'b', 'c', 'new'));
      after.forEach((e, i) => {
        expect(e.score).toBeCloseTo(before[i]!.score, 9);
        expect(e.probability).toBeCloseTo(before[i]!.probability, 12);
      });
    }
    expect(JSON.stringify(restored)).toBe(JSON.stringify(LinUcbBandit.fromJSON(restored.toJSON())));
  });

  it('refuses a state it cannot trust', () => {
    expect(() => LinUcbBandit.fromJSON({ kind: 'thompson' })).toThrow(/not a LinUCB bandit state/);
    const state = new LinUcbBandit({ dims: 4 }).toJSON();
    expect(() => LinUcbBandit.fromJSON({ ...state, actions: { a: { A: [1, 2], b: [0], n: 1 } } })).toThrow(/does not match 4 dimensions/);
    expect(() => LinUcbBandit.fromJSON({ ...state, options: { ...state.options, epsilon: 2 } })).toThrow(/epsilon/);
  });

  it('forget undoes update, and an action forgotten entirely is new again', () => {
    const bandit = new LinUcbBandit({ dims: DIMS });
    bandit.update('a', x('s'), 1);
    bandit.forget('a', x('s'), 1);
    expect(bandit.toJSON().actions).toEqual({});
    expect(bandit.expectedReward('a', x('s'))).toBe(0);
  });

  it('no candidates, no choice; a wrong vector length is a programming error', () => {
    const bandit = new LinUcbBandit({ dims: DIMS });
    expect(bandit.choose(x('s'), [], seededRandom(1))).toBeUndefined();
    expect(() => bandit.choose([1, 0], candidates('a'), seededRandom(1))).toThrow(/expects 16/);
    expect(() => bandit.choose(x('s'), candidates('a', 'a'), seededRandom(1))).toThrow(/distinct/);
  });
});
