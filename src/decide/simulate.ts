/**
 * A simulated audience with known click rates per (segment, action), for measuring policies where the
 * truth is known: regret against the optimal contextual policy, and the true value an offline
 * estimate should find. The benchmark and the tests run the real feature builder and bandit on it.
 *
 * Regret is pseudo-regret, as the issue defines it: Σₜ (best rate in segmentₜ − rate of the chosen
 * action in segmentₜ) — expected rewards, so it does not depend on the luck of the clicks.
 */
import { LinUcbBandit, type LinUcbOptions } from './bandit.ts';
import type { Facts } from './conditions.ts';
import { buildFeatures, DEFAULT_FEATURE_DIMS, type FeatureVector } from './features.ts';
import type { LoggedDecision } from './ope.ts';
import { randomInt, seededRandom, type Random } from './random.ts';

export interface SimulationConfig {
  /** who arrives, with relative frequencies */
  segments: Array<{ id: string; share: number }>;
  /** clickRates[segment][action] ∈ [0, 1]; every segment names the same actions */
  clickRates: Record<string, Record<string, number>>;
}

/**
 * Four segments, five offers; the best offer differs in every segment and the best single offer
 * ("ten_percent_off") is best in only one of them, so context is worth learning.
 */
export const EXAMPLE_SIMULATION: SimulationConfig = {
  segments: [
    { id: 'bargain_hunter', share: 0.35 },
    { id: 'loyal', share: 0.25 },
    { id: 'new_visitor', share: 0.3 },
    { id: 'lapsed', share: 0.1 },
  ],
  clickRates: {
    bargain_hunter: { free_shipping: 0.06, ten_percent_off: 0.1, new_arrivals: 0.02, loyalty_points: 0.03, we_miss_you: 0.04 },
    loyal: { free_shipping: 0.05, ten_percent_off: 0.04, new_arrivals: 0.09, loyalty_points: 0.11, we_miss_you: 0.02 },
    new_visitor: { free_shipping: 0.08, ten_percent_off: 0.06, new_arrivals: 0.05, loyalty_points: 0.01, we_miss_you: 0.02 },
    lapsed: { free_shipping: 0.04, ten_percent_off: 0.05, new_arrivals: 0.03, loyalty_points: 0.04, we_miss_you: 0.12 },
  },
};

export class SimulatedEnvironment {
  readonly actions: readonly string[];
  readonly segments: readonly string[];
  private readonly shares: number[];
  private readonly rates: Record<string, Record<string, number>>;

  constructor(config: SimulationConfig) {
    if (config.segments.length === 0) throw new RangeError('a simulation needs at least one segment');
    const total = config.segments.reduce((s, x) => s + x.share, 0);
    if (!(total > 0) || config.segments.some((s) => !(s.share >= 0))) throw new RangeError('segment shares must be ≥ 0 with a positive sum');
    this.segments = config.segments.map((s) => s.id);
    this.shares = config.segments.map((s) => s.share / total);
    const first = config.clickRates[this.segments[0]!];
    this.actions = Object.keys(first ?? {}).sort();
    if (this.actions.length === 0) throw new RangeError('a simulation needs at least one action');
    for (const seg of this.segments) {
      const row = config.clickRates[seg];
      const names = Object.keys(row ?? {}).sort();
      if (row === undefined || names.join() !== this.actions.join()) throw new RangeError(`segment ${seg} must rate exactly the actions ${this.actions.join(', ')}`);
      if (Object.values(row).some((r) => !(r >= 0 && r <= 1))) throw new RangeError(`segment ${seg} has a click rate outside [0, 1]`);
    }
    this.rates = config.clickRates;
  }

  shareOf(segment: string): number {
    return this.shares[this.segments.indexOf(segment)] ?? 0;
  }

  sampleSegment(random: Random): string {
    const u = random();
    let cumulative = 0;
    for (let i = 0; i < this.segments.length; i++) {
      cumulative += this.shares[i]!;
      if (u < cumulative) return this.segments[i]!;
    }
    return this.segments[this.segments.length - 1]!;
  }

  /** What the decision engine would know about a person of this segment. */
  factsOf(segment: string): Facts {
    return { segments: [segment], traits: {}, features: {}, context: {} };
  }

  clickRate(segment: string, action: string): number {
    const rate = this.rates[segment]?.[action];
    if (rate === undefined) throw new RangeError(`unknown segment or action: ${segment}, ${action}`);
    return rate;
  }

  optimalRate(segment: string): number {
    return Math.max(...this.actions.map((a) => this.clickRate(segment, a)));
  }

  /** The single action with the highest click rate averaged over the audience. */
  bestFixedAction(): string {
    return this.actions.reduce((best, a) => (this.policyValue(() => new Map([[a, 1]])) > this.policyValue(() => new Map([[best, 1]])) ? a : best));
  }

  /** Expected clicks per decision of a policy given as π(· | segment). */
  policyValue(policy: (segment: string) => ReadonlyMap<string, number>): number {
    let value = 0;
    this.segments.forEach((seg, i) => {
      for (const [a, p] of policy(seg)) value += this.shares[i]! * p * this.clickRate(seg, a);
    });
    return value;
  }
}

export interface SimulationStep {
  segment: string;
  facts: Facts;
  x: FeatureVector;
  candidates: readonly string[];
}

/** What the simulator needs from a policy; `learn` receives every reward right after the decision. */
export interface SimulationPolicy {
  readonly name: string;
  choose(step: SimulationStep): { actionId: string; propensity: number };
  learn?(step: SimulationStep, actionId: string, reward: number): void;
}

export interface SimulationOptions {
  decisions: number;
  /** contexts and clicks come from this seed, so policies run with the same seed face the same people */
  seed: number | string;
  dims?: number;
  /** keep every decision for offline evaluation */
  keepLog?: boolean;
}

export interface SimulationResult {
  policy: string;
  decisions: number;
  clicks: number;
  regret: number;
  log?: LoggedDecision[];
}

export function runSimulation(env: SimulatedEnvironment, policy: SimulationPolicy, options: SimulationOptions): SimulationResult {
  const people = seededRandom(`${options.seed}:people`);
  const clicks = seededRandom(`${options.seed}:clicks`);
  const dims = options.dims ?? DEFAULT_FEATURE_DIMS;
  const vectors = new Map(env.segments.map((s) => [s, buildFeatures(env.factsOf(s), { dims })]));
  const log: LoggedDecision[] = [];
  let clickCount = 0;
  let regret = 0;
  for (let t = 0; t < options.decisions; t++) {
    const segment = env.sampleSegment(people);
    const step: SimulationStep = { segment, facts: env.factsOf(segment), x: vectors.get(segment)!, candidates: env.actions };
    const { actionId, propensity } = policy.choose(step);
    const rate = env.clickRate(segment, actionId);
    // one draw per decision whatever the action: common random numbers make policies comparable
    const reward = clicks() < rate ? 1 : 0;
    clickCount += reward;
    regret += env.optimalRate(segment) - rate;
    policy.learn?.(step, actionId, reward);
    if (options.keepLog) log.push({ x: step.x, action: actionId, propensity, reward, candidates: [...env.actions] });
  }
  return { policy: policy.name, decisions: options.decisions, clicks: clickCount, regret, ...(options.keepLog ? { log } : {}) };
}

export function uniformPolicy(random: Random): SimulationPolicy {
  return {
    name: 'uniform',
    choose: (step) => ({ actionId: step.candidates[randomInt(random, step.candidates.length)]!, propensity: 1 / step.candidates.length }),
  };
}

export function fixedActionPolicy(actionId: string): SimulationPolicy {
  return { name: `fixed:${actionId}`, choose: () => ({ actionId, propensity: 1 }) };
}

export function banditPolicy(bandit: LinUcbBandit, random: Random): SimulationPolicy {
  return {
    name: 'bandit',
    choose: (step) => {
      const choice = bandit.choose(step.x, step.candidates.map((actionId) => ({ actionId })), random)!;
      return { actionId: choice.actionId, propensity: choice.propensity };
    },
    learn: (step, actionId, reward) => bandit.update(actionId, step.x, reward),
  };
}

export interface RegretComparison {
  decisions: number;
  regret: { bandit: number; uniform: number; bestFixedAction: number };
}

/** Bandit vs uniform vs the best single action, on the same people and clicks. */
export function compareRegret(
  env: SimulatedEnvironment,
  options: { decisions: number; seed: number | string; bandit?: Partial<LinUcbOptions> },
): RegretComparison {
  const dims = options.bandit?.dims ?? DEFAULT_FEATURE_DIMS;
  const run = (policy: SimulationPolicy): number => runSimulation(env, policy, { decisions: options.decisions, seed: options.seed, dims }).regret;
  return {
    decisions: options.decisions,
    regret: {
      bandit: run(banditPolicy(new LinUcbBandit({ ...options.bandit, dims }), seededRandom(`${options.seed}:bandit`))),
      uniform: run(uniformPolicy(seededRandom(`${options.seed}:uniform`))),
      bestFixedAction: run(fixedActionPolicy(env.bestFixedAction())),
    },
  };
}
