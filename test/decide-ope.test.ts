import { describe, expect, it } from 'vitest';
import { LinUcbBandit } from '../src/decide/bandit.ts';
import { buildFeatures } from '../src/decide/features.ts';
import { doublyRobust, ips, snips, type LoggedDecision, type TargetPolicy } from '../src/decide/ope.ts';
import { seededRandom } from '../src/decide/random.ts';
import { banditPolicy, EXAMPLE_SIMULATION, runSimulation, SimulatedEnvironment, uniformPolicy } from '../src/decide/simulate.ts';

const env = new SimulatedEnvironment(EXAMPLE_SIMULATION);
const segmentOf = new Map(env.segments.map((s) => [JSON.stringify(buildFeatures(env.factsOf(s))), s]));
// logs share one vector per segment, so caching by identity keeps the estimators' many lookups cheap
const seenVectors = new WeakMap<number[], string>();
const segmentOfX = (x: number[]): string => {
  let s = seenVectors.get(x);
  if (s === undefined) {
    s = segmentOf.get(JSON.stringify(x))!;
    seenVectors.set(x, s);
  }
  return s;
};

/** The optimal contextual policy: the best offer of each segment. */
const bestOf = (segment: string): string => env.actions.reduce((a, b) => (env.clickRate(segment, b) > env.clickRate(segment, a) ? b : a));
const optimal: TargetPolicy = (d) => new Map([[bestOf(segmentOfX(d.x)), 1]]);
const optimalTruth = env.policyValue((s) => new Map([[bestOf(s), 1]]));
/** The true click rate as a reward model: what DR is best with. */
const trueModel = (x: number[], a: string): number => env.clickRate(segmentOfX(x), a);

const contains = (ci: [number, number], v: number): boolean => ci[0] <= v && v <= ci[1];
const uniformLog = (seed: string, decisions: number): LoggedDecision[] =>
  runSimulation(env, uniformPolicy(seededRandom(`${seed}:policy`)), { decisions, seed, keepLog: true }).log!;

describe('offline policy evaluation', () => {
  it('computes IPS, SNIPS and DR as their formulas say (hand-computed)', () => {
    const log: LoggedDecision[] = [
      { x: [1], action: 'a', propensity: 0.5, reward: 1 },
      { x: [1], action: 'b', propensity: 0.25, reward: 1 },
      { x: [1], action: 'a', propensity: 0.5, reward: 0 },
    ];
    const target: TargetPolicy = () => new Map([['a', 0.8], ['b', 0.2]]);
    // weights 1.6, 0.8, 1.6; w·r = 1.6, 0.8, 0 → IPS 0.8
    const i = ips(log, target);
    expect(i.estimate).toBeCloseTo(0.8, 12);
    // sample variance of (1.6, 0.8, 0) = 0.64 → SE = √(0.64/3)
    expect(i.standardError).toBeCloseTo(Math.sqrt(0.64 / 3), 12);
    expect(i.ci95[0]).toBeCloseTo(0.8 - 1.959963984540054 * Math.sqrt(0.64 / 3), 12);
    // SNIPS: 2.4 / 4
    expect(snips(log, target).estimate).toBeCloseTo(0.6, 12);
    // DR with q̂ ≡ 0.5: direct 0.5 each; corrections 1.6·0.5, 0.8·0.5, 1.6·(−0.5) → mean(1.3, 0.9, −0.3) = 0.6333…
    expect(doublyRobust(log, target, () => 0.5).estimate).toBeCloseTo(1.9 / 3, 12);
  });

  it('the 95% intervals contain the true value of the optimal policy, from a uniform log', () => {
    const log = uniformLog('ope-uniform', 20_000);
    for (const estimate of [ips(log, optimal), snips(log, optimal), doublyRobust(log, optimal, trueModel)]) {
      expect(contains(estimate.ci95, optimalTruth)).toBe(true);
    }
  });

  it('the intervals cover the truth about 95% of the time', () => {
    const runs = 200;
    let covered = { ips: 0, snips: 0, dr: 0 };
    const constantModel = (): number => 0.05;
    for (let r = 0; r < runs; r++) {
      const log = uniformLog(`coverage-${r}`, 2000);
      covered = {
        ips: covered.ips + Number(contains(ips(log, optimal).ci95, optimalTruth)),
        snips: covered.snips + Number(contains(snips(log, optimal).ci95, optimalTruth)),
        dr: covered.dr + Number(contains(doublyRobust(log, optimal, constantModel).ci95, optimalTruth)),
      };
    }
    // binomial(200, 0.95) lies in [0.91, 0.98] with probability > 99%
    for (const c of Object.values(covered)) {
      expect(c / runs).toBeGreaterThan(0.9);
      expect(c / runs).toBeLessThan(0.99);
    }
  });

  it('doubly robust with a good reward model is tighter than IPS', () => {
    const log = uniformLog('dr-variance', 20_000);
    // with click noise dominating the gain is modest, but it is there
    expect(doublyRobust(log, optimal, trueModel).standardError).toBeLessThan(ips(log, optimal).standardError);
  });

  it('evaluates a policy from the bandit’s own log, with a learned reward model', () => {
    const run = runSimulation(env, banditPolicy(new LinUcbBandit(), seededRandom('logger')), { decisions: 30_000, seed: 'bandit-log', keepLog: true });
    const log = run.log!;
    // the reward model is a ridge regression fitted on the log itself
    const model = new LinUcbBandit({ alpha: 0 });
    for (const d of log) model.update(d.action, d.x, d.reward);
    const uniformTarget: TargetPolicy = () => new Map(env.actions.map((a) => [a, 1 / env.actions.length]));
    const uniformTruth = env.policyValue(() => new Map(env.actions.map((a) => [a, 1 / env.actions.length])));
    const dr = doublyRobust(log, uniformTarget, (x, a) => model.expectedReward(a, x));
    expect(contains(dr.ci95, uniformTruth)).toBe(true);
    expect(contains(doublyRobust(log, optimal, (x, a) => model.expectedReward(a, x)).ci95, optimalTruth)).toBe(true);
    expect(contains(ips(log, uniformTarget).ci95, uniformTruth)).toBe(true);
  });

  it('refuses logs it cannot evaluate', () => {
    const target: TargetPolicy = () => new Map([['a', 1]]);
    expect(() => ips([], target)).toThrow(/at least one/);
    expect(() => ips([{ x: [1], action: 'a', propensity: 0, reward: 1 }], target)).toThrow(/propensity must be in \(0, 1\]/);
    expect(() => snips([{ x: [1], action: 'b', propensity: 0.5, reward: 1 }], target)).toThrow(/never chooses/);
  });
});
