import { describe, expect, it } from 'vitest';
import { compareRegret, EXAMPLE_SIMULATION, fixedActionPolicy, runSimulation, SimulatedEnvironment, uniformPolicy } from '../src/decide/simulate.ts';
import { seededRandom } from '../src/decide/random.ts';

const env = new SimulatedEnvironment(EXAMPLE_SIMULATION);

describe('simulated environment', () => {
  it('knows its best single action and the value of policies', () => {
    // Σ share·rate: ten_percent_off 0.35·0.10 + 0.25·0.04 + 0.30·0.06 + 0.10·0.05 = 0.068, the largest
    expect(env.bestFixedAction()).toBe('ten_percent_off');
    expect(env.policyValue(() => new Map([['ten_percent_off', 1]]))).toBeCloseTo(0.068, 12);
  });

  it('the best action depends on the segment', () => {
    const best = env.segments.map((s) => env.actions.find((a) => env.clickRate(s, a) === env.optimalRate(s)));
    expect(new Set(best).size).toBe(env.segments.length);
  });

  it('regret of a fixed action is its expected shortfall, whatever the clicks', () => {
    const n = 50_000;
    const r = runSimulation(env, fixedActionPolicy('ten_percent_off'), { decisions: n, seed: 7 });
    // optimal 0.0985 − 0.068 = 0.0305 per decision
    expect(r.regret / n).toBeCloseTo(0.0305, 3);
  });

  it('samples segments in their shares and clicks at their rates', () => {
    const random = seededRandom('shares');
    const n = 100_000;
    const counts = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const s = env.sampleSegment(random);
      counts.set(s, (counts.get(s) ?? 0) + 1);
    }
    for (const s of env.segments) expect(counts.get(s)! / n).toBeCloseTo(env.shareOf(s), 2);
    const run = runSimulation(env, uniformPolicy(seededRandom('u')), { decisions: n, seed: 'clicks' });
    const uniformValue = env.policyValue(() => new Map(env.actions.map((a) => [a, 1 / env.actions.length])));
    expect(Math.abs(run.clicks / n - uniformValue)).toBeLessThan(5 * Math.sqrt(uniformValue / n));
  });

  it('rejects an inconsistent configuration', () => {
    expect(() => new SimulatedEnvironment({ segments: [{ id: 'a', share: 1 }, { id: 'b', share: 1 }], clickRates: { a: { x: 0.1 }, b: { y: 0.1 } } })).toThrow(/exactly the actions/);
    expect(() => new SimulatedEnvironment({ segments: [{ id: 'a', share: 1 }], clickRates: { a: { x: 1.5 } } })).toThrow(/outside \[0, 1\]/);
  });
});

describe('bandit regret', () => {
  it('over 100k decisions the bandit’s regret is at most 20% of uniform’s and far below the best fixed action’s', () => {
    const { regret } = compareRegret(env, { decisions: 100_000, seed: 'regret' });
    expect(regret.bandit).toBeLessThanOrEqual(0.2 * regret.uniform);
    expect(regret.bandit).toBeLessThan(0.3 * regret.bestFixedAction);
    expect(regret.bestFixedAction).toBeLessThan(regret.uniform);
  });

  it('the margin holds across seeds at 20k decisions', () => {
    for (const seed of [1, 2, 3]) {
      const { regret } = compareRegret(env, { decisions: 20_000, seed });
      expect(regret.bandit).toBeLessThan(0.25 * regret.uniform);
      expect(regret.bandit).toBeLessThan(0.5 * regret.bestFixedAction);
    }
  });
});
