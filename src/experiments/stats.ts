/**
 * Statistics of experiment results, from per-variant totals only (so they can be kept as counters).
 *
 * Means: a conversion rate is p̂ = conversions / exposures with Var(p̂) = p̂(1 − p̂)/n; revenue per
 * person is the mean of per-person revenue (non-buyers count as 0) with Var = s²/n, s² the unbiased
 * sample variance from Σx and Σx².
 *
 * Relative lift L = m_t / m_c − 1 with a 95% interval from the delta method:
 *   Var(L) ≈ Var(m_t)/m_c² + m_t²·Var(m_c)/m_c⁴.
 *
 * Always-valid p-value: the mixture sequential probability ratio test (mSPRT) of Johari, Koomen,
 * Pekelis & Walsh, "Always valid inference: continuous monitoring of A/B tests" (2015/2022), in its
 * normal-approximation form. For θ̂ = m_t − m_c with variance V = Var(m_t) + Var(m_c) and a normal
 * mixing distribution N(0, τ²) over the true difference θ,
 *   Λ = √(V / (V + τ²)) · exp( τ²·θ̂² / (2V(V + τ²)) ),   p = min over every look so far of min(1, 1/Λ).
 * Under H₀ (θ = 0) the chance that p ever drops below α is at most α, however often one looks.
 * Mixing variance: τ² = φ²·σ̄², where σ̄² is the exposure-weighted per-person variance of the two arms
 * and φ the anticipated effect in standard deviations (default 0.05 — a 10% relative lift on a 10%
 * conversion rate is φ ≈ 0.033, a 20% lift on 5% is φ ≈ 0.046). Smaller φ gains power later in a long
 * test, larger φ earlier in a short one; validity holds for any φ. Because "every look so far" needs
 * history, the caller keeps the last p-value and passes it back (`previous`).
 *
 * Sample ratio mismatch: Pearson's χ² goodness-of-fit of exposures against the configured shares;
 * flagged below p = 0.001, the usual threshold (SRM is checked continuously, so it must be strict).
 */
import { chiSquareSurvival, twoSidedNormalPValue, Z95 } from './distributions.ts';

export const DEFAULT_MIXING_EFFECT_SIZE = 0.05;
export const SRM_THRESHOLD = 0.001;

/** A mean with what the tests need about it. */
export interface MeanEstimate {
  n: number;
  mean: number;
  /** variance of the mean */
  variance: number;
  /** variance of one observation */
  observationVariance: number;
}

export interface Interval {
  estimate: number;
  ci95: [number, number];
}

/** Conversion rate of `conversions` people among `exposures` people. */
export function conversionRate(exposures: number, conversions: number): MeanEstimate {
  if (exposures <= 0) return { n: 0, mean: 0, variance: 0, observationVariance: 0 };
  const p = Math.min(1, Math.max(0, conversions / exposures));
  return { n: exposures, mean: p, variance: (p * (1 - p)) / exposures, observationVariance: p * (1 - p) };
}

/** Mean of per-person values given n, Σx and Σx² (people without a value count as 0). */
export function sampleMean(n: number, sum: number, sumSquares: number): MeanEstimate {
  if (n <= 0) return { n: 0, mean: 0, variance: 0, observationVariance: 0 };
  const mean = sum / n;
  // max(0, ·): Σx² − n·x̄² can come out a hair negative in floating point
  const observationVariance = n > 1 ? Math.max(0, (sumSquares - n * mean * mean) / (n - 1)) : 0;
  return { n, mean, variance: observationVariance / n, observationVariance };
}

/** m_t / m_c − 1 with its delta-method 95% interval; undefined when the control mean is not positive. */
export function relativeLift(treatment: MeanEstimate, control: MeanEstimate): Interval | undefined {
  if (!(control.mean > 0)) return undefined;
  const ratio = treatment.mean / control.mean;
  const variance = treatment.variance / control.mean ** 2 + (treatment.mean ** 2 * control.variance) / control.mean ** 4;
  const half = Z95 * Math.sqrt(variance);
  return { estimate: ratio - 1, ci95: [ratio - 1 - half, ratio - 1 + half] };
}

/** Two-sided p-value of a single z-test of m_t = m_c; valid only when looked at once, at a planned size. */
export function fixedHorizonPValue(treatment: MeanEstimate, control: MeanEstimate): number {
  const variance = treatment.variance + control.variance;
  if (!(variance > 0)) return 1;
  return twoSidedNormalPValue((treatment.mean - control.mean) / Math.sqrt(variance));
}

/** 1/Λ of the normal mSPRT at one look, capped at 1. */
export function msprtPValue(difference: number, variance: number, mixingVariance: number): number {
  if (!(variance > 0) || !(mixingVariance > 0)) return 1;
  const logLambda =
    0.5 * Math.log(variance / (variance + mixingVariance)) +
    (mixingVariance * difference * difference) / (2 * variance * (variance + mixingVariance));
  return Math.min(1, Math.exp(-logLambda));
}

/** The always-valid p-value of m_t = m_c after this look, given the one after the previous look. */
export function alwaysValidPValue(
  treatment: MeanEstimate,
  control: MeanEstimate,
  options: { previous?: number; effectSize?: number } = {},
): number {
  const phi = options.effectSize ?? DEFAULT_MIXING_EFFECT_SIZE;
  const n = treatment.n + control.n;
  let pooledVariance = n > 0 ? (treatment.n * treatment.observationVariance + control.n * control.observationVariance) / n : 0;
  let variance = treatment.variance + control.variance;
  if (!(variance > 0) && treatment.n > 0 && control.n > 0) {
    // Both arms look constant (e.g. 0% against 100%): the per-arm variances say nothing, so use the
    // variance under H₀ — every person drawn from the pooled population, between-arm spread included.
    const grand = (treatment.n * treatment.mean + control.n * control.mean) / n;
    pooledVariance += (treatment.n * (treatment.mean - grand) ** 2 + control.n * (control.mean - grand) ** 2) / n;
    variance = pooledVariance * (1 / treatment.n + 1 / control.n);
  }
  const current = msprtPValue(treatment.mean - control.mean, variance, phi * phi * pooledVariance);
  return Math.min(options.previous ?? 1, current);
}

export interface SampleRatioCheck {
  chiSquare: number;
  degreesOfFreedom: number;
  pValue: number;
  /** pValue < SRM_THRESHOLD: the split is broken, results should not be trusted */
  mismatch: boolean;
}

/** Pearson's χ² of observed exposure counts against expected shares (any scale; normalised here). */
export function sampleRatioMismatch(observed: Readonly<Record<string, number>>, expectedShares: Readonly<Record<string, number>>): SampleRatioCheck {
  const totalShare = Object.values(expectedShares).reduce((s, x) => s + Math.max(0, x), 0);
  const totalObserved = Object.values(observed).reduce((s, x) => s + x, 0);
  const buckets = new Set([...Object.keys(expectedShares), ...Object.keys(observed)]);
  let chiSquare = 0;
  let used = 0;
  for (const bucket of buckets) {
    const share = Math.max(0, expectedShares[bucket] ?? 0) / (totalShare || 1);
    const seen = observed[bucket] ?? 0;
    if (share === 0) {
      // exposures where none may be are a mismatch whatever their number
      if (seen > 0) chiSquare = Infinity;
      continue;
    }
    const expected = share * totalObserved;
    chiSquare += (seen - expected) ** 2 / expected;
    used++;
  }
  const degreesOfFreedom = Math.max(0, used - 1);
  if (totalObserved === 0 || (degreesOfFreedom === 0 && chiSquare !== Infinity)) {
    return { chiSquare: 0, degreesOfFreedom, pValue: 1, mismatch: false };
  }
  const pValue = chiSquare === Infinity ? 0 : chiSquareSurvival(chiSquare, degreesOfFreedom);
  return { chiSquare, degreesOfFreedom, pValue, mismatch: pValue < SRM_THRESHOLD };
}
