import { describe, expect, it } from 'vitest';
import { LinUcbBandit } from '../src/decide/bandit.ts';
import { crossFit, evaluateLog, foldOf, parsePolicy, selectLog, targetDistributions, type LogRecord } from '../src/decide/ope-log.ts';
import { doublyRobust, ips } from '../src/decide/ope.ts';

const X1 = [1, 1, 0];
const X2 = [1, 0, 1];

/** a one-slot record */
const rec = (id: string, actionId: string, propensity: number, reward: number | undefined, over: Partial<LogRecord> = {}): LogRecord => ({
  decisionId: id,
  placement: 'home',
  at: 1000,
  x: [...X1],
  actions: [{ actionId, propensity }],
  candidates: ['a', 'b'],
  ...(reward !== undefined ? { rewards: { [actionId]: reward } } : {}),
  ...over,
});

/** ids in fold 0 and fold 1, found once so the tests do not depend on the hash's values */
const ids = (fold: 0 | 1, n: number): string[] => {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (foldOf(`dec_${i}`) === fold) out.push(`dec_${i}`);
  return out;
};

describe('selecting the decision log', () => {
  it('keeps slot 1 as the draw, skips opted-out records and repeated slots, trains on every fresh slot', () => {
    const records: LogRecord[] = [
      rec('d1', 'a', 0.5, 1),
      // opted out: no x
      { ...rec('d2', 'a', 0.5, 1), x: undefined },
      // slot 1 repeats an earlier draw; slot 2 is fresh
      rec('d3', 'a', 1, 0, { actions: [{ actionId: 'a', propensity: 1, repeatOf: 'd1' }, { actionId: 'b', propensity: 0.9 }], rewards: { b: 1 } }),
      // two fresh slots: slot 1 is evaluated, both train; no reward recorded = 0
      rec('d4', 'b', 0.25, undefined, { actions: [{ actionId: 'b', propensity: 0.25 }, { actionId: 'a', propensity: 0.95 }], x: [...X2] }),
      rec('other', 'a', 0.5, 1, { placement: 'email' }),
      rec('late', 'a', 0.5, 1, { at: 5000 }),
    ];
    const s = selectLog(records, { placement: 'home', until: 5000 });
    expect(s.records).toBe(6);
    expect(s.skipped).toEqual({ outsideFilter: 2, optedOut: 1, repeated: 1, otherDims: 0 });
    expect(s.dims).toBe(3);
    expect(s.decisions.map((d) => [d.decisionId, d.action, d.propensity, d.reward])).toEqual([
      ['d1', 'a', 0.5, 1],
      ['d4', 'b', 0.25, 0],
    ]);
    expect(s.training.map((o) => [o.actionId, o.reward])).toEqual([
      ['a', 1],
      ['b', 1],
      ['b', 0],
      ['a', 0],
    ]);
    expect(s.decisions[0]!.fold).toBe(foldOf('d1'));
  });

  it('adds the served action to the candidates when the record lacks it, and keeps the most common vector length', () => {
    const s = selectLog([rec('d1', 'c', 0.5, 1), rec('d2', 'a', 0.5, 0), rec('d3', 'a', 0.5, 0, { x: [1, 0] })]);
    expect(s.decisions[0]!.candidates).toEqual(['a', 'b', 'c']);
    expect(s.skipped.otherDims).toBe(1);
    expect(s.decisions).toHaveLength(2);
  });

  it('gives each decision its own vector even when records share one', () => {
    const shared = [1, 1, 0];
    const s = selectLog([rec('d1', 'a', 0.5, 1, { x: shared }), rec('d2', 'a', 0.5, 1, { x: shared })]);
    expect(s.decisions[0]!.x).not.toBe(s.decisions[1]!.x);
    expect(s.decisions[1]!.x).toEqual(shared);
  });
});

describe('target policies', () => {
  it('parses the policy names and rejects others', () => {
    expect(parsePolicy('fixed:spring-sale')).toEqual({ name: 'fixed:spring-sale', kind: 'fixed', actionId: 'spring-sale' });
    expect(parsePolicy('bandit', { alpha: 0.5 })).toEqual({ name: 'bandit', kind: 'bandit', alpha: 0.5 });
    expect(() => parsePolicy('fixed:')).toThrow(/unknown policy/);
    expect(() => parsePolicy('thompson')).toThrow(/uniform, greedy, bandit or fixed/);
  });

  it('uniform spreads over the candidates; fixed falls back to uniform when its action is not a candidate', () => {
    const s = selectLog([rec('d1', 'a', 0.5, 1), rec('d2', 'a', 0.5, 1, { candidates: ['a', 'b', 'c'] }), rec('d3', 'a', 1, 1, { candidates: ['a'] })]);
    const models = crossFit(s);
    const uniform = targetDistributions(s, models, parsePolicy('uniform'));
    expect(s.decisions.map((d) => Object.fromEntries(uniform.get(d)!))).toEqual([{ a: 0.5, b: 0.5 }, { a: 1 / 3, b: 1 / 3, c: 1 / 3 }, { a: 1 }]);
    const fixed = targetDistributions(s, models, parsePolicy('fixed:b'));
    expect(s.decisions.map((d) => Object.fromEntries(fixed.get(d)!))).toEqual([{ b: 1 }, { b: 1 }, { a: 1 }]);
  });

  it('greedy and bandit are trained on the other fold only (cross-fitting)', () => {
    const [f0, f1] = [ids(0, 20), ids(1, 20)];
    // fold 0 says a is good, fold 1 says b is good
    const records = [...f0.map((id) => rec(id, 'a', 0.5, 1)), ...f0.map((id) => rec(`${id}`, 'b', 0.5, 0)), ...f1.map((id) => rec(id, 'b', 0.5, 1)), ...f1.map((id) => rec(id, 'a', 0.5, 0))];
    const s = selectLog(records);
    const models = crossFit(s);
    const greedy = targetDistributions(s, models, parsePolicy('greedy'));
    for (const d of s.decisions) expect(greedy.get(d)!.get(d.fold === 0 ? 'b' : 'a')).toBe(1);
    // the model that evaluates fold 0 is exactly a bandit trained on fold 1's observations
    const reference = new LinUcbBandit({ dims: 3 });
    for (let i = 0; i < f1.length; i++) {
      reference.update('b', X1, 1);
      reference.update('a', X1, 0);
    }
    expect(models.get('home')![0].expectedReward('b', X1)).toBeCloseTo(reference.expectedReward('b', X1), 12);
    expect(models.get('home')![0].expectedReward('a', X1)).toBeCloseTo(reference.expectedReward('a', X1), 12);
    // the bandit target mixes ε-uniform exploration over the candidates
    const bandit = targetDistributions(s, models, parsePolicy('bandit', { epsilon: 0.2 }));
    const d0 = s.decisions.find((d) => d.fold === 0)!;
    expect(Object.fromEntries(bandit.get(d0)!)).toEqual({ a: 0.1, b: 0.9 });
  });

  it('ranks by estimated reward × value', () => {
    const [f0, f1] = [ids(0, 10), ids(1, 10)];
    const records = [...f0, ...f1].flatMap((id) => [rec(id, 'a', 0.5, 1), rec(id, 'b', 0.5, 0.6)]);
    const s = selectLog(records);
    const greedy = targetDistributions(s, crossFit(s), parsePolicy('greedy'), new Map([['b', 2]]));
    for (const d of s.decisions) expect(greedy.get(d)!.get('b')).toBe(1);
  });
});

describe('evaluating the log', () => {
  it('matches hand-computed IPS, SNIPS and the logged mean', () => {
    // uniform target over {a, b}: π = 0.5 each
    const s = selectLog([rec('d1', 'a', 0.5, 1), rec('d2', 'b', 0.25, 1), rec('d3', 'a', 0.5, 0), rec('d4', 'b', 0.8, 0)]);
    const r = evaluateLog(s, { policies: [parsePolicy('uniform'), parsePolicy('fixed:a')] });
    expect(r.decisions).toBe(4);
    expect(r.logged.meanReward).toBeCloseTo(0.5, 12);
    // weights 1, 2, 1, 0.625; w·r = 1, 2, 0, 0 → IPS 0.75; SNIPS 3 / 4.625
    expect(r.policies.uniform!.ips.estimate).toBeCloseTo(0.75, 12);
    expect(r.policies.uniform!.snips!.estimate).toBeCloseTo(3 / 4.625, 12);
    expect(r.policies.uniform!.effectiveSampleSize).toBeCloseTo(4.625 ** 2 / (1 + 4 + 1 + 0.390625), 12);
    expect(r.policies.uniform!.maxWeight).toBe(2);
    // fixed:a: weights 2, 0, 2, 0; w·r = 2, 0, 0, 0 → IPS 0.5, SNIPS 2 / 4
    expect(r.policies['fixed:a']!.ips.estimate).toBeCloseTo(0.5, 12);
    expect(r.policies['fixed:a']!.snips!.estimate).toBeCloseTo(0.5, 12);
    const ci = r.policies['fixed:a']!.ips.ci95;
    expect(ci[0]).toBeLessThan(0.5);
    expect(ci[1]).toBeGreaterThan(0.5);
  });

  it('doubly robust uses the ridge reward model of the other fold (hand-computed)', () => {
    const [[z], [o1, o2, o3]] = [ids(0, 1), ids(1, 3)];
    const s = selectLog([rec(z!, 'b', 0.5, 0), rec(o1!, 'a', 0.5, 1), rec(o2!, 'a', 0.5, 0), rec(o3!, 'b', 0.5, 1)]);
    // ridge with λ = 1, μ₀ = 0 and n observations at x (|x|² = 2) with rewards summing to S predicts S·2/(1 + 2n)
    // fold 0 is scored by fold 1's model: q̂(a) = 1·2/5 = 0.4 and q̂(b) = 1·2/3; fold 1 by fold 0's: q̂(a) = 0 (untrained), q̂(b) = 0
    const models = crossFit(s);
    expect(models.get('home')![0].expectedReward('a', X1)).toBeCloseTo(0.4, 12);
    expect(models.get('home')![0].expectedReward('b', X1)).toBeCloseTo(2 / 3, 12);
    expect(models.get('home')![1].expectedReward('a', X1)).toBe(0);
    const r = evaluateLog(s, { policies: [parsePolicy('fixed:a')] });
    // terms q̂(a) + w·(r − q̂(logged)): fold 0: 0.4 + 0; fold 1: 0 + 2·(1 − 0), 0 + 2·(0 − 0), 0 + 0
    expect(r.policies['fixed:a']!.dr.estimate).toBeCloseTo(2.4 / 4, 12);
    expect(r.policies['fixed:a']!.ips.estimate).toBeCloseTo(2 / 4, 12);
    // the same as calling the estimators of ope.ts with that model
    const dist = targetDistributions(s, models, parsePolicy('fixed:a'));
    const byX = new Map(s.decisions.map((d) => [d.x, d]));
    const expected = doublyRobust(s.decisions, (d) => dist.get(d as never)!, (x, a) => models.get('home')![byX.get(x)!.fold].expectedReward(a, x));
    expect(r.policies['fixed:a']!.dr.ci95).toEqual(expected.ci95);
    expect(ips(s.decisions, (d) => dist.get(d as never)!).estimate).toBeCloseTo(0.5, 12);
  });

  it('reports SNIPS as undefined when the target never chooses a logged action, and truth when rates are known', () => {
    const s = selectLog([rec('d1', 'a', 0.5, 1), rec('d2', 'a', 0.5, 0)]);
    const r = evaluateLog(s, { policies: [parsePolicy('fixed:b')], expectedReward: (_d, a) => (a === 'b' ? 0.3 : 0.1) });
    expect(r.policies['fixed:b']!.snips).toBeNull();
    expect(r.policies['fixed:b']!.ips.estimate).toBe(0);
    expect(r.policies['fixed:b']!.effectiveSampleSize).toBe(0);
    expect(r.policies['fixed:b']!.truth).toBeCloseTo(0.3, 12);
  });

  it('refuses an empty log', () => {
    expect(() => evaluateLog(selectLog([]), { policies: [parsePolicy('uniform')] })).toThrow(/no logged decision/);
  });
});
