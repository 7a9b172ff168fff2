import { describe, expect, it } from 'vitest';
import { assign, expectedShares, isHeldOut, stickyAssignment, variantAt, type AssignableExperiment } from '../src/experiments/assign.ts';
import { chiSquareSurvival } from '../src/experiments/distributions.ts';

const experiment: AssignableExperiment = {
  id: 'exp-home',
  variants: [
    { id: 'control', weight: 50 },
    { id: 'blend_a', weight: 30 },
    { id: 'blend_b', weight: 20 },
  ],
  holdoutPercent: 5,
};

const ids = (n: number, prefix = 'user-'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('assignment', () => {
  const N = 100_000;
  const counts = new Map<string, number>();
  for (const id of ids(N)) {
    const v = assign(experiment, id).variant;
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }

  it('holds the weights within statistical tolerance over 100k ids (χ² test)', () => {
    const shares = expectedShares(experiment);
    let chi = 0;
    for (const [variant, share] of Object.entries(shares)) chi += ((counts.get(variant) ?? 0) - share * N) ** 2 / (share * N);
    // a fair split fails this 0.1% of the time; a biased hash fails it always
    expect(chiSquareSurvival(chi, Object.keys(shares).length - 1)).toBeGreaterThan(0.001);
    for (const [variant, share] of Object.entries(shares)) {
      const sd = Math.sqrt(N * share * (1 - share));
      expect(Math.abs((counts.get(variant) ?? 0) - share * N)).toBeLessThan(4 * sd);
    }
  });

  it('puts about holdoutPercent of people in the holdout', () => {
    const held = counts.get('holdout')! / N;
    expect(Math.abs(held - 0.05)).toBeLessThan(4 * Math.sqrt((0.05 * 0.95) / N));
  });

  it('the same id always gets the same variant', () => {
    for (const id of ids(1000, 'anon-')) expect(assign(experiment, id)).toEqual(assign({ ...experiment }, id));
  });

  it('the seed, not the experiment id, decides when given', () => {
    const renamed = { ...experiment, id: 'other', seed: 'exp-home' };
    for (const id of ids(200)) expect(assign(renamed, id).variant).toBe(assign(experiment, id).variant);
  });

  it('different seeds split people independently', () => {
    const other = { ...experiment, seed: 'another-seed' };
    const agree = ids(20_000).filter((id) => assign(other, id).variant === assign(experiment, id).variant).length / 20_000;
    // independent splits agree with probability 0.05 + 0.95²·(0.5² + 0.3² + 0.2²) ≈ 0.391
    expect(agree).toBeCloseTo(0.05 + 0.95 ** 2 * 0.38, 1);
  });

  it('the holdout is the same people in every experiment (global), nested across percents', () => {
    const other: AssignableExperiment = { id: 'exp-email', variants: [{ id: 'x', weight: 1 }], holdoutPercent: 10 };
    for (const id of ids(5000)) {
      if (assign(experiment, id).holdout) expect(assign(other, id).holdout).toBe(true);
    }
    expect(isHeldOut('someone', 0)).toBe(false);
  });

  it('defaults to a 5% holdout', () => {
    const { holdoutPercent: _h, ...noHoldout } = experiment;
    const held = ids(40_000).filter((id) => assign(noHoldout, id).holdout).length / 40_000;
    expect(held).toBeCloseTo(0.05, 2);
  });

  it('variants of zero weight are never assigned', () => {
    const e: AssignableExperiment = { id: 'z', variants: [{ id: 'off', weight: 0 }, { id: 'on', weight: 1 }], holdoutPercent: 0 };
    expect(new Set(ids(2000).map((id) => assign(e, id).variant))).toEqual(new Set(['on']));
    expect(variantAt(e.variants, 0)).toBe('on');
    expect(variantAt(e.variants, 0.9999999999999999)).toBe('on');
  });
});

describe('sticky assignment', () => {
  it('a persisted first exposure wins over a fresh hash (e.g. after an identity merge)', () => {
    const persisted = { experimentId: experiment.id, variant: 'blend_b', holdout: false };
    const mergedId = ids(50).find((id) => assign(experiment, id).variant !== 'blend_b')!;
    expect(stickyAssignment(experiment, mergedId, persisted)).toEqual({ assignment: persisted, fresh: false });
  });

  it('a persisted assignment survives a weight change', () => {
    const persisted = { experimentId: experiment.id, variant: 'blend_b', holdout: false };
    const reweighted = { ...experiment, variants: experiment.variants.map((v) => ({ ...v, weight: v.id === 'blend_b' ? 0 : v.weight })) };
    expect(stickyAssignment(reweighted, 'u1', persisted).assignment.variant).toBe('blend_b');
  });

  it('without a persisted assignment, or with a stale one, assigns afresh and says so', () => {
    expect(stickyAssignment(experiment, 'user-1')).toEqual({ assignment: assign(experiment, 'user-1'), fresh: true });
    const removedVariant = { experimentId: experiment.id, variant: 'retired', holdout: false };
    expect(stickyAssignment(experiment, 'user-1', removedVariant).fresh).toBe(true);
    const otherExperiment = { experimentId: 'else', variant: 'control', holdout: false };
    expect(stickyAssignment(experiment, 'user-1', otherExperiment).fresh).toBe(true);
  });
});

describe('expected shares', () => {
  it('splits the non-holdout traffic by weight', () => {
    const s = expectedShares(experiment);
    expect(s.holdout).toBeCloseTo(0.05, 12);
    expect(s.control).toBeCloseTo(0.475, 12);
    expect(s.blend_a).toBeCloseTo(0.285, 12);
    expect(s.blend_b).toBeCloseTo(0.19, 12);
  });
});
