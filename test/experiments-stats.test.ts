import { describe, expect, it } from 'vitest';
import { seededRandom } from '../src/decide/random.ts';
import { chiSquareSurvival, lnGamma, normalCdf, twoSidedNormalPValue, Z95 } from '../src/experiments/distributions.ts';
import {
  alwaysValidPValue,
  conversionRate,
  DEFAULT_MIXING_EFFECT_SIZE,
  fixedHorizonPValue,
  msprtPValue,
  relativeLift,
  sampleMean,
  sampleRatioMismatch,
} from '../src/experiments/stats.ts';

describe('distribution functions', () => {
  it.each([
    [0, 0.5],
    [Z95, 0.975],
    [1, 0.8413447460685429],
    [-3, 0.0013498980316301],
    [-8, 6.22096057427178e-16],
  ])('Φ(%d) = %d', (z, p) => {
    expect(normalCdf(z)).toBeCloseTo(p, 14);
  });

  it.each([
    // χ² critical values at 5% and P(χ²₁ ≥ 4) = P(|Z| ≥ 2); for 2 df the tail is exactly e^(−x/2)
    [3.841458820694124, 1, 0.05],
    [5.991464547107979, 2, 0.05],
    [4, 1, 0.04550026389635842],
    [10, 2, Math.exp(-5)],
    [20, 10, 0.02925268807696113],
  ])('P(χ² ≥ %d | %d df) = %d', (x, df, p) => {
    expect(chiSquareSurvival(x, df)).toBeCloseTo(p, 12);
  });

  it('two-sided normal p-values and ln Γ', () => {
    expect(twoSidedNormalPValue(Z95)).toBeCloseTo(0.05, 14);
    expect(twoSidedNormalPValue(-2)).toBeCloseTo(0.04550026389635842, 14);
    expect(lnGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(lnGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 12);
  });
});

describe('means and lift', () => {
  const control = conversionRate(1000, 100);
  const treatment = conversionRate(1000, 120);

  it('conversion rate and its variance p(1 − p)/n', () => {
    expect(control.mean).toBe(0.1);
    expect(control.variance).toBeCloseTo(0.09 / 1000, 15);
    expect(conversionRate(0, 0)).toEqual({ n: 0, mean: 0, variance: 0, observationVariance: 0 });
  });

  it('revenue per person from n, Σx and Σx²', () => {
    // people with 1, 2, 3, 4: mean 2.5, s² = (30 − 4·2.5²)/3 = 5/3
    const m = sampleMean(4, 10, 30);
    expect(m.mean).toBe(2.5);
    expect(m.observationVariance).toBeCloseTo(5 / 3, 14);
    expect(m.variance).toBeCloseTo(5 / 12, 14);
  });

  it('relative lift of conversion with the delta-method interval (hand-computed)', () => {
    // L = 0.12/0.10 − 1 = 0.2; Var = 1.056e-4/0.01 + 0.0144·9e-5/1e-4 = 0.02352; SE = 0.1533623…
    const lift = relativeLift(treatment, control)!;
    expect(lift.estimate).toBeCloseTo(0.2, 14);
    expect(lift.ci95[0]).toBeCloseTo(-0.10058461614448239, 12);
    expect(lift.ci95[1]).toBeCloseTo(0.5005846161444825, 12);
  });

  it('relative lift of revenue per person (hand-computed)', () => {
    // treatment 0, 0, 10, 30: mean 10, s² = (1000 − 400)/3 = 200, Var(mean) = 50
    // control 0, 10, 10, 0: mean 5, s² = (200 − 100)/3, Var(mean) = 25/3
    // Var(L) = 50/25 + 10²·(25/3)/5⁴ = 10/3
    const lift = relativeLift(sampleMean(4, 40, 1000), sampleMean(4, 20, 200))!;
    expect(lift.estimate).toBeCloseTo(1, 14);
    expect(lift.ci95[0]).toBeCloseTo(-2.5783882874343145, 12);
    expect(lift.ci95[1]).toBeCloseTo(4.578388287434315, 12);
  });

  it('no lift against a control at zero', () => {
    expect(relativeLift(treatment, conversionRate(1000, 0))).toBeUndefined();
  });

  it('the fixed-horizon z-test (hand-computed)', () => {
    // z = 0.02 / √(1.956e-4) = 1.43003…, p = 0.152708…
    expect(fixedHorizonPValue(treatment, control)).toBeCloseTo(0.15270801019387784, 12);
  });
});

describe('always-valid p-value (mSPRT)', () => {
  it('matches the closed form 1/Λ (hand-computed)', () => {
    // V = 1, τ² = 3: Λ = √(1/4)·exp(3θ̂²/8); θ̂ = 2 → 1/Λ = 2e^(−1.5), θ̂ = 4 → 2e^(−6)
    expect(msprtPValue(2, 1, 3)).toBeCloseTo(2 * Math.exp(-1.5), 14);
    expect(msprtPValue(4, 1, 3)).toBeCloseTo(2 * Math.exp(-6), 14);
    expect(msprtPValue(0, 1, 3)).toBe(1);
    expect(msprtPValue(1, 0, 3)).toBe(1);
  });

  it('uses the variance under H₀ (pooled p̄(1−p̄), here above the arms\' own), τ² = φ²·p̄(1−p̄), and never rises above an earlier look', () => {
    const control = conversionRate(5000, 500);
    const treatment = conversionRate(5000, 580);
    const pooled = 0.108 * 0.892; // p̄ = 1080 / 10000
    expect(pooled * (2 / 5000)).toBeGreaterThan(control.variance + treatment.variance);
    const expected = msprtPValue(0.016, pooled * (2 / 5000), DEFAULT_MIXING_EFFECT_SIZE ** 2 * pooled);
    expect(alwaysValidPValue(treatment, control)).toBeCloseTo(expected, 14);
    expect(alwaysValidPValue(treatment, control, { previous: 0.01 })).toBe(0.01);
  });

  it('0% against 100% (both arms constant) uses the variance under H₀ instead of giving up (hand-computed)', () => {
    // pooled p̄ = 0.5, σ̄² = 0.25, V = 0.25·(1/25 + 1/25) = 0.02, τ² = 0.05²·0.25 = 0.000625
    // ln Λ = ½·ln(0.02/0.020625) + 0.000625·1² / (2·0.02·0.020625) = 0.742190 → p = e^−0.742190
    const p = alwaysValidPValue(conversionRate(25, 25), conversionRate(25, 0));
    expect(p).toBeCloseTo(Math.exp(-0.74219), 5);
    expect(alwaysValidPValue(conversionRate(25, 0), conversionRate(25, 0))).toBe(1);
  });

  it('is more conservative than the fixed-horizon p-value, yet detects a clear effect', () => {
    const control = conversionRate(20_000, 2000);
    const modest = conversionRate(20_000, 2150);
    expect(fixedHorizonPValue(modest, control)).toBeLessThan(0.05);
    expect(alwaysValidPValue(modest, control)).toBeGreaterThan(0.05);
    // the price of peeking: a clear effect (15% relative lift on 40k people) is still detected
    expect(alwaysValidPValue(conversionRate(20_000, 2300), control)).toBeLessThan(0.01);
  });

  it('A/A: peeking after every 100 people keeps false positives at or below 5%, while a peeked fixed test exceeds it', () => {
    const random = seededRandom('a/a');
    const experiments = 400;
    const perArm = 10_000;
    const every = 100;
    let sequentialFalsePositives = 0;
    let naiveFalsePositives = 0;
    for (let e = 0; e < experiments; e++) {
      const rate = [0.02, 0.1, 0.3][e % 3]!;
      let a = 0;
      let b = 0;
      let p = 1;
      let naiveRejected = false;
      for (let n = every; n <= perArm; n += every) {
        for (let i = 0; i < every; i++) {
          if (random() < rate) a++;
          if (random() < rate) b++;
        }
        const control = conversionRate(n, a);
        const treatment = conversionRate(n, b);
        p = alwaysValidPValue(treatment, control, { previous: p });
        if (fixedHorizonPValue(treatment, control) < 0.05) naiveRejected = true;
      }
      if (p < 0.05) sequentialFalsePositives++;
      if (naiveRejected) naiveFalsePositives++;
    }
    const sequentialRate = sequentialFalsePositives / experiments;
    const naiveRate = naiveFalsePositives / experiments;
    // tolerance: two standard errors of a 5% rate over 400 experiments
    expect(sequentialRate).toBeLessThanOrEqual(0.05 + 2 * Math.sqrt((0.05 * 0.95) / experiments));
    expect(naiveRate).toBeGreaterThan(0.15);
  });
});

describe('sample ratio mismatch', () => {
  it('5100 vs 4900 on a 50/50 split is χ² = 4 (p = 0.0455), not a mismatch', () => {
    const srm = sampleRatioMismatch({ a: 5100, b: 4900 }, { a: 0.5, b: 0.5 });
    expect(srm.chiSquare).toBeCloseTo(4, 12);
    expect(srm.degreesOfFreedom).toBe(1);
    expect(srm.pValue).toBeCloseTo(0.04550026389635842, 12);
    expect(srm.mismatch).toBe(false);
  });

  it('5500 vs 4500 is a mismatch', () => {
    const srm = sampleRatioMismatch({ a: 5500, b: 4500 }, { a: 1, b: 1 });
    expect(srm.chiSquare).toBeCloseTo(100, 10);
    expect(srm.mismatch).toBe(true);
  });

  it('compares against unequal weights, holdout included (hand-computed)', () => {
    // expected 500, 4750, 4750 of 10000; χ² = 20²/500 + 70²/4750 + 90²/4750 = 0.8 + 1.031579 + 1.705263
    const srm = sampleRatioMismatch({ holdout: 520, a: 4820, b: 4660 }, { holdout: 0.05, a: 0.475, b: 0.475 });
    expect(srm.chiSquare).toBeCloseTo(0.8 + 4900 / 4750 + 8100 / 4750, 12);
    expect(srm.pValue).toBeCloseTo(Math.exp(-srm.chiSquare / 2), 12);
  });

  it('exposures where none are expected are a mismatch; no data is not', () => {
    expect(sampleRatioMismatch({ a: 100, ghost: 1 }, { a: 1 }).mismatch).toBe(true);
    expect(sampleRatioMismatch({}, { a: 0.5, b: 0.5 })).toMatchObject({ pValue: 1, mismatch: false });
  });
});
