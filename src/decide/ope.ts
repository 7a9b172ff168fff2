/**
 * Offline policy evaluation: what reward per decision would a candidate (target) policy have earned,
 * estimated from decisions a logging policy made, with the logged propensity μ(a | x) of each.
 *
 *   IPS   V̂ = mean( w·r ),                    w = π(a | x) / μ(a | x)           (unbiased)
 *   SNIPS V̂ = Σ w·r / Σ w                                                      (biased, lower variance)
 *   DR    V̂ = mean( Σₐ π(a | x)·q̂(x, a) + w·(r − q̂(x, a_logged)) )           (unbiased if either
 *                                                      the propensities or the reward model q̂ are right)
 *
 * Confidence intervals are 95% normal approximations — IPS and DR are means of independent terms, so
 * V̂ ± 1.96·sd/√n; SNIPS is a ratio of means, so its standard error comes from the delta method,
 * sd(w·(r − V̂)) / (mean(w)·√n). They are closed-form and deterministic (no resampling seed to carry).
 * They are trustworthy when weights are bounded, which the bandit guarantees (π ≥ ε/K); with a
 * handful of decisions or near-zero propensities they are too narrow.
 */
import type { FeatureVector } from './features.ts';

export interface LoggedDecision {
  x: FeatureVector;
  /** the action the logging policy chose */
  action: string;
  /** μ(action | x) as logged when deciding, in (0, 1] */
  propensity: number;
  reward: number;
  /** the actions that were eligible; target policies may need it to know what they could choose */
  candidates?: string[];
}

/** π(· | decision): the target policy's distribution over actions for a logged context. */
export type TargetPolicy = (decision: LoggedDecision) => ReadonlyMap<string, number>;

/** q̂(x, a): a model of the expected reward (doubly robust only). */
export type RewardModel = (x: FeatureVector, action: string) => number;

export interface PolicyEstimate {
  estimate: number;
  standardError: number;
  ci95: [number, number];
  /** decisions used */
  n: number;
}

/** z such that Φ(z) = 0.975. */
const Z95 = 1.959963984540054;

function checked(log: readonly LoggedDecision[]): void {
  if (log.length === 0) throw new RangeError('offline evaluation needs at least one logged decision');
  log.forEach((d, i) => {
    if (!(d.propensity > 0 && d.propensity <= 1)) throw new RangeError(`decision ${i}: propensity must be in (0, 1], got ${d.propensity}`);
    if (!Number.isFinite(d.reward)) throw new RangeError(`decision ${i}: reward must be a finite number`);
  });
}

const weightOf = (d: LoggedDecision, target: TargetPolicy): number => (target(d).get(d.action) ?? 0) / d.propensity;

function meanEstimate(terms: readonly number[]): PolicyEstimate {
  const n = terms.length;
  const mean = terms.reduce((s, t) => s + t, 0) / n;
  const variance = n > 1 ? terms.reduce((s, t) => s + (t - mean) ** 2, 0) / (n - 1) : 0;
  const standardError = Math.sqrt(variance / n);
  return { estimate: mean, standardError, ci95: [mean - Z95 * standardError, mean + Z95 * standardError], n };
}

export function ips(log: readonly LoggedDecision[], target: TargetPolicy): PolicyEstimate {
  checked(log);
  return meanEstimate(log.map((d) => weightOf(d, target) * d.reward));
}

export function snips(log: readonly LoggedDecision[], target: TargetPolicy): PolicyEstimate {
  checked(log);
  const n = log.length;
  const weights = log.map((d) => weightOf(d, target));
  const totalWeight = weights.reduce((s, w) => s + w, 0);
  if (totalWeight === 0) throw new RangeError('the target policy never chooses a logged action: SNIPS is undefined');
  const estimate = weights.reduce((s, w, i) => s + w * log[i]!.reward, 0) / totalWeight;
  const residuals = weights.map((w, i) => w * (log[i]!.reward - estimate));
  const variance = n > 1 ? residuals.reduce((s, e) => s + e * e, 0) / (n - 1) : 0;
  const standardError = Math.sqrt(variance / n) / (totalWeight / n);
  return { estimate, standardError, ci95: [estimate - Z95 * standardError, estimate + Z95 * standardError], n };
}

export function doublyRobust(log: readonly LoggedDecision[], target: TargetPolicy, model: RewardModel): PolicyEstimate {
  checked(log);
  return meanEstimate(
    log.map((d) => {
      const policy = target(d);
      let direct = 0;
      for (const [a, p] of policy) if (p > 0) direct += p * model(d.x, a);
      const w = (policy.get(d.action) ?? 0) / d.propensity;
      return direct + w * (d.reward - model(d.x, d.action));
    }),
  );
}
