/**
 * Statistics of experiment results, from per-variant totals only (so they can be kept as counters).
 *
 * Means: a conversion rate is p̂ = conversions / exposures with Var(p̂) = p̂(1 − p̂)/n; revenue per
 * person is the mean of per-person revenue (non-buyers count as 0) with Var = s²/n, s² the unbiased
 * sample variance from Σx and Σx².
 *
 * Relative lift L = m_t / m_c − 1 with a 95% interval from the delta method:
 *   Var(L) ≈ Var(m_t)/m_c² + m_t²·Var(m_c)/m_c⁴;
 * none when an arm is empty, the control's mean is not positive, or Var(L) is 0 (an arm at 0% or
 * 100%: a zero-width interval would claim certainty that a handful of people cannot give).
 *
 * Always-valid p-value: the mixture sequential probability ratio test (mSPRT) of Johari, Koomen,
 * Pekelis & Walsh, "Always valid inference: continuous monitoring of A/B tests" (2015/2022), in its
 * normal-approximation form. For θ̂ = m_t − m_c with variance V and a normal mixing distribution
 * N(0, τ²) over the true difference θ,
 *   Λ = √(V / (V + τ²)) · exp( τ²·θ̂² / (2V(V + τ²)) ),   p = min over every look so far of min(1, 1/Λ).
 * Under H₀ (θ = 0) the chance that p ever drops below α is at most α, however often one looks —
 * provided θ̂ is close to normal with variance V at every look that counts. Two things make sure:
 *   - V is the variance under H₀, which cannot collapse: σ₀²·(1/n_t + 1/n_c) with σ₀² the variance of
 *     one observation of the pooled sample (for conversion rates p̄(1 − p̄), p̄ the pooled rate — the
 *     two-proportion test's null variance), or the per-arm (Welch) variance s_t²/n_t + s_c²/n_c when
 *     that is larger (means whose arms differ in spread). A per-arm p̂(1 − p̂) alone is 0 for any arm
 *     at 0% or 100%, every arm of one person included, and one such look pinned the minimum near 0.
 *   - A look counts only once each arm has MIN_PEOPLE_PER_ARM people and, under H₀, would have
 *     MIN_EXPECTED_OUTCOMES of each outcome (people who converted and, for rates, who did not):
 *     `comparable`. Before that the normal approximation does not hold (Optimizely's Stats Engine
 *     waits longer still: 100 visitors and 25 conversions per arm). The caller applies it (results.ts),
 *     since a MeanEstimate does not carry the counts; an empty arm never gives a p-value here.
 * Mixing variance: τ² = φ²·σ₀², φ the anticipated effect in standard deviations (default 0.05 — a
 * 10% relative lift on a 10% conversion rate is φ ≈ 0.033, a 20% lift on 5% is φ ≈ 0.046). Smaller φ
 * gains power later in a long test, larger φ earlier in a short one; validity holds for any φ.
 * Because "every look so far" needs history, the caller keeps the last p-value and passes it back
 * (`previous`), or the largest evidence ln Λ (`lookEvidence`).
 *
 * Sample ratio mismatch: Pearson's χ² goodness-of-fit of exposures against the configured shares;
 * flagged below p = 0.001, the usual threshold (SRM is checked continuously, so it must be strict).
 * Exposures of a bucket whose configured share is 0 (a variant whose weight was set to 0 after people
 * saw it) are a mismatch whatever their number: reported in `unexpected`, with p = 0, and χ² of the
 * split among the other buckets (finite, so the answer's JSON never holds null).
 */
import { chiSquareSurvival, twoSidedNormalPValue, Z95 } from './distributions.ts';

export const DEFAULT_MIXING_EFFECT_SIZE = 0.05;
export const SRM_THRESHOLD = 0.001;
/** people each arm needs before a look counts (and a lift is reported) */
export const MIN_PEOPLE_PER_ARM = 20;
/**
 * people of each outcome each arm would have under H₀ (its size times the pooled share) before a look
 * counts: the usual "expected count of every cell ≥ 10" condition of the two-proportion z-test
 */
export const MIN_EXPECTED_OUTCOMES = 10;

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
  /** fixed-horizon: valid for one look at a planned size */
  ci95: [number, number];
  /** always-valid: holds at every look at once (the running intersection of alwaysValidLiftAt) */
  ci95AlwaysValid?: [number, number];
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

/**
 * m_t / m_c − 1 with its delta-method 95% interval; undefined when an arm is empty, the control mean is
 * not positive, or the interval would have no width.
 */
export function relativeLift(treatment: MeanEstimate, control: MeanEstimate): Interval | undefined {
  if (!(treatment.n > 0 && control.n > 0 && control.mean > 0)) return undefined;
  const ratio = treatment.mean / control.mean;
  const variance = treatment.variance / control.mean ** 2 + (treatment.mean ** 2 * control.variance) / control.mean ** 4;
  if (!(variance > 0) || !Number.isFinite(variance)) return undefined;
  const half = Z95 * Math.sqrt(variance);
  return { estimate: ratio - 1, ci95: [ratio - 1 - half, ratio - 1 + half] };
}

/** How many people an arm has, and how many of them sent the metric's event. */
export interface ArmCounts {
  people: number;
  converted: number;
}

/**
 * Whether a comparison is big enough for the normal approximation the p-value and the lift rest on:
 * every arm has MIN_PEOPLE_PER_ARM people, and would have MIN_EXPECTED_OUTCOMES people who converted
 * under H₀ (its size times the pooled share of people who converted) and, for a rate (`kind` "rate"),
 * as many who did not. For a mean (revenue per person) the buyers carry the spread, so they are what
 * must be numerous enough. Under H₀ both arms share one rate, so the pooled share is what the null
 * distribution depends on: an arm at 0% beside one at 60%, 100 people each, is strong evidence, not
 * too little data.
 */
export function comparable(treatment: ArmCounts, control: ArmCounts, kind: 'rate' | 'mean'): boolean {
  return comparableCounts(treatment.people, treatment.converted, control.people, control.converted, kind);
}

/** `comparable` of plain numbers: people and converted people of the treatment, then of the control */
export function comparableCounts(nt: number, xt: number, nc: number, xc: number, kind: 'rate' | 'mean'): boolean {
  if (nt < MIN_PEOPLE_PER_ARM || nc < MIN_PEOPLE_PER_ARM) return false;
  const share = (xt + xc) / (nt + nc);
  const smaller = Math.min(nt, nc);
  return smaller * share >= MIN_EXPECTED_OUTCOMES && (kind === 'mean' || smaller * (1 - share) >= MIN_EXPECTED_OUTCOMES);
}

/** Two-sided p-value of a single z-test of m_t = m_c; valid only when looked at once, at a planned size. */
export function fixedHorizonPValue(treatment: MeanEstimate, control: MeanEstimate): number {
  const variance = treatment.variance + control.variance;
  if (!(variance > 0)) return 1;
  return twoSidedNormalPValue((treatment.mean - control.mean) / Math.sqrt(variance));
}

/** ln Λ of the normal mSPRT at one look (−Infinity when the variances say nothing). */
export function msprtLogLambda(difference: number, variance: number, mixingVariance: number): number {
  if (!(variance > 0) || !(mixingVariance > 0)) return -Infinity;
  return (
    0.5 * Math.log(variance / (variance + mixingVariance)) +
    (mixingVariance * difference * difference) / (2 * variance * (variance + mixingVariance))
  );
}

/** 1/Λ of the normal mSPRT at one look, capped at 1. */
export function msprtPValue(difference: number, variance: number, mixingVariance: number): number {
  return Math.min(1, Math.exp(-msprtLogLambda(difference, variance, mixingVariance)));
}

/**
 * The evidence ln Λ of one look, or `atLeast` when it is no more than that: from each arm's size,
 * mean and variance of one observation — plain numbers, since results take a look at every step of an
 * experiment's replay (the always-valid p-value is then exp(−the largest evidence), at most 1). V and
 * τ² use σ₀², the variance of one observation under H₀ (both arms one population: the pooled
 * sample's within-arm plus between-arm spread; for rates p̄(1 − p̄)), and V is the Welch variance
 * instead when that is larger. An empty arm is no evidence.
 */
export function lookEvidence(nt: number, mt: number, st2: number, nc: number, mc: number, sc2: number, effectSize = DEFAULT_MIXING_EFFECT_SIZE, atLeast = 0): number {
  if (!(nt > 0 && nc > 0)) return atLeast;
  const { variance, tau2 } = differenceSpread(nt, mt, st2, nc, mc, sc2, effectSize);
  if (!(variance > 0) || !(tau2 > 0)) return atLeast;
  const d = mt - mc;
  // ln Λ is at most its second term (the first is ≤ 0): when even that is not more than `atLeast`,
  // the logarithm is not needed (most looks of most experiments)
  // (written so that NaN, from variances that underflow to 0 — revenues of 1e-160 — is no evidence)
  if (!((tau2 * d * d) / (2 * variance * (variance + tau2)) > atLeast)) return atLeast;
  const evidence = msprtLogLambda(d, variance, tau2);
  return evidence > atLeast ? evidence : atLeast;
}

/**
 * The half-width of the normal-mixture confidence sequence for a mean-like estimate with variance
 * `variance` and mixing variance `mixing` (Johari et al.'s mSPRT, inverted; Howard, Ramdas,
 * McAuliffe & Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence sequences", 2021):
 *   √( V(V + τ²)/τ² · (2 ln(1/α) + ln((V + τ²)/V)) ).
 */
function mixtureHalfWidth(variance: number, mixing: number, alpha: number): number {
  return Math.sqrt(((variance * (variance + mixing)) / mixing) * (2 * Math.log(1 / alpha) + Math.log((variance + mixing) / variance)));
}

/**
 * One look's always-valid 95% interval for the relative lift m_t / m_c − 1. Two confidence sequences
 * at α/2 each, with the test's mixing variance τ² = φ²·σ₀²: one for the difference m_t − m_c (the
 * larger of the pooled variance σ₀²(1/n_t + 1/n_c) and the Welch one, as the test uses), one for
 * the control's mean (s_c²/n_c). While both hold, which they
 * do at every look at once with probability at least 1 − α, the lift lies between the extreme ratios
 * of their bounds. So the interval leaves 0 out exactly when the difference's does, as the p-value
 * does when the difference is large against its spread, and the uncertainty of the control's mean
 * widens it rather than being ignored. The intersection of these intervals over every look is what
 * results report (under the normal approximation, so only looks that are `comparable`). Undefined
 * when a variance is 0 or the control's mean may be 0.
 */
export function alwaysValidLiftAt(nt: number, mt: number, st2: number, nc: number, mc: number, sc2: number, effectSize = DEFAULT_MIXING_EFFECT_SIZE, alpha = 0.05): [number, number] | undefined {
  if (!(nt > 0 && nc > 0)) return undefined;
  // the test's variance of the difference: a small arm with a heavy tail (revenue) usually lacks its
  // large values, and its own variance would understate the spread
  const { variance: vd, tau2 } = differenceSpread(nt, mt, st2, nc, mc, sc2, effectSize);
  const vc = sc2 / nc;
  if (!(tau2 > 0 && vd > 0 && vc > 0)) return undefined;
  const d = mt - mc;
  const hd = mixtureHalfWidth(vd, tau2, alpha / 2);
  const hc = mixtureHalfWidth(vc, tau2, alpha / 2);
  const [dLo, dHi, cLo, cHi] = [d - hd, d + hd, mc - hc, mc + hc];
  if (!(cLo > 0)) return undefined;
  return [dLo / (dLo >= 0 ? cHi : cLo), dHi / (dHi >= 0 ? cLo : cHi)];
}

/**
 * The spread the sequential test works with, from each arm's size, mean and variance of one
 * observation: σ₀², the variance of one observation under H₀ (both arms one population: the pooled
 * sample's within-arm plus between-arm spread), gives the mixing variance τ² = φ²·σ₀² and the
 * variance of the difference σ₀²(1/n_t + 1/n_c), or the Welch variance when that is larger.
 */
function differenceSpread(nt: number, mt: number, st2: number, nc: number, mc: number, sc2: number, effectSize: number): { variance: number; tau2: number } {
  const n = nt + nc;
  const grand = (nt * mt + nc * mc) / n;
  const sigma2 = (nt * st2 + nc * sc2 + nt * (mt - grand) ** 2 + nc * (mc - grand) ** 2) / n;
  return { variance: Math.max(sigma2 * (1 / nt + 1 / nc), st2 / nt + sc2 / nc), tau2: effectSize * effectSize * sigma2 };
}

/** The always-valid p-value of m_t = m_c after this look, given the one after the previous look. */
export function alwaysValidPValue(
  treatment: MeanEstimate,
  control: MeanEstimate,
  options: { previous?: number; effectSize?: number } = {},
): number {
  const evidence = lookEvidence(treatment.n, treatment.mean, treatment.observationVariance, control.n, control.mean, control.observationVariance, options.effectSize);
  return Math.min(options.previous ?? 1, Math.exp(-evidence));
}

export interface SampleRatioCheck {
  chiSquare: number;
  degreesOfFreedom: number;
  pValue: number;
  /** pValue < SRM_THRESHOLD: the split is broken, results should not be trusted */
  mismatch: boolean;
  /** buckets with exposures whose configured share is 0 (a mismatch whatever their number) */
  unexpected?: string[];
}

/** Pearson's χ² of observed exposure counts against expected shares (any scale; normalised here). */
export function sampleRatioMismatch(observed: ReadonlyMap<string, number> | Readonly<Record<string, number>>, expectedShares: ReadonlyMap<string, number> | Readonly<Record<string, number>>): SampleRatioCheck {
  const seen = asMap(observed);
  const shares = asMap(expectedShares);
  let totalShare = 0;
  for (const x of shares.values()) totalShare += Math.max(0, x);
  const buckets = new Set([...shares.keys(), ...seen.keys()]);
  // exposures of the buckets that may have them: χ² compares their split with the shares
  let totalObserved = 0;
  for (const bucket of buckets) if ((shares.get(bucket) ?? 0) > 0) totalObserved += seen.get(bucket) ?? 0;
  let chiSquare = 0;
  let used = 0;
  const unexpected: string[] = [];
  for (const bucket of buckets) {
    const share = Math.max(0, shares.get(bucket) ?? 0) / (totalShare || 1);
    const count = seen.get(bucket) ?? 0;
    if (!(share > 0)) {
      if (count > 0) unexpected.push(bucket);
      continue;
    }
    const expected = share * totalObserved;
    if (expected > 0) chiSquare += (count - expected) ** 2 / expected;
    used++;
  }
  const degreesOfFreedom = Math.max(0, used - 1);
  if (unexpected.length > 0) return { chiSquare, degreesOfFreedom, pValue: 0, mismatch: true, unexpected };
  if (totalObserved === 0 || degreesOfFreedom === 0) return { chiSquare: 0, degreesOfFreedom, pValue: 1, mismatch: false };
  const pValue = chiSquareSurvival(chiSquare, degreesOfFreedom);
  return { chiSquare, degreesOfFreedom, pValue, mismatch: pValue < SRM_THRESHOLD };
}

/** a record's own entries as a Map (so that keys like "__proto__" or "constructor" are plain keys) */
function asMap(x: ReadonlyMap<string, number> | Readonly<Record<string, number>>): ReadonlyMap<string, number> {
  return x instanceof Map ? x : new Map(Object.entries(x));
}
