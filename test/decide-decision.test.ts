import { describe, expect, it } from 'vitest';
import type { ActionRecord } from '../src/decide/action.ts';
import { LinUcbBandit } from '../src/decide/bandit.ts';
import { exclusivePeriods, type Exposure } from '../src/decide/caps.ts';
import { decide, type DecisionRequest } from '../src/decide/decision.ts';
import { buildFeatures } from '../src/decide/features.ts';
import { seededRandom } from '../src/decide/random.ts';

const NOW = Date.parse('2025-06-01T12:00:00Z');
const DIMS = 16;

const action = (actionId: string, over: Partial<ActionRecord> = {}): ActionRecord => ({
  actionId,
  placements: ['home'],
  channel: 'web',
  content: { title: actionId },
  ...over,
});

const request = (over: Partial<DecisionRequest> = {}): DecisionRequest => {
  const facts = over.facts ?? { segments: ['buyer'], traits: { plan: 'pro' } };
  return { placement: 'home', count: 1, now: NOW, facts, x: buildFeatures(facts, { dims: DIMS }), exposures: [], ...over };
};

const deps = (actions: ActionRecord[], seed = 1) => ({
  actions,
  bandit: new LinUcbBandit({ dims: DIMS }),
  random: seededRandom(seed),
  groupPeriods: exclusivePeriods(actions),
});

describe('decide', () => {
  it('serves only live, eligible actions of the placement and channel, and says why others were skipped', () => {
    const actions = [
      action('ok'),
      action('other_placement', { placements: ['cart'] }),
      action('email_only', { channel: 'email' }),
      action('expired', { validUntil: '2025-05-01' }),
      action('not_yet', { validFrom: '2025-07-01' }),
      action('free_plan_only', { eligibility: { path: 'traits.plan', op: '==', value: 'free' } }),
      action('capped', { frequencyCaps: [{ count: 1, periodSeconds: 3600, scope: 'action' }] }),
    ];
    const exposures: Exposure[] = [{ actionId: 'capped', channel: 'web', t: NOW - 60_000 }];
    const d = decide(request({ channel: 'web', count: 5, exposures }), deps(actions));
    expect(d.actions.map((a) => a.actionId)).toEqual(['ok']);
    expect(Object.fromEntries(d.skipped.map((s) => [s.actionId, s.reason]))).toEqual({
      email_only: 'channel',
      expired: 'not_live',
      not_yet: 'not_live',
      free_plan_only: 'ineligible',
      capped: 'frequency_cap',
    });
  });

  it('returns content, an exact propensity, reasons, and the exposures to record', () => {
    const actions = [action('a', { eligibility: { path: 'segments', op: 'contains', value: 'buyer' } }), action('b')];
    const d = decide(request(), deps(actions));
    const chosen = d.actions[0]!;
    expect(chosen.content).toEqual({ title: chosen.actionId });
    // nothing learned yet: a tie, so each has (1 − ε)/2 + ε/2 = 0.5
    expect(chosen.propensity).toBeCloseTo(0.5, 12);
    expect(chosen.reasons.length).toBeGreaterThan(0);
    for (const r of chosen.reasons) expect(r.text.length).toBeGreaterThan(0);
    if (chosen.actionId === 'a') expect(chosen.reasons.map((r) => r.type)).toContain('eligible');
    expect(d.exposures).toEqual([{ actionId: chosen.actionId, channel: 'web', t: NOW }]);
  });

  it('never puts two actions of one exclusive group in one answer', () => {
    const actions = [
      action('ship_free', { exclusiveGroup: 'shipping' }),
      action('ship_cheap', { exclusiveGroup: 'shipping' }),
      action('newsletter'),
    ];
    for (let seed = 0; seed < 20; seed++) {
      const d = decide(request({ count: 3 }), deps(actions, seed));
      const shipping = d.actions.filter((a) => a.actionId.startsWith('ship_'));
      expect(shipping).toHaveLength(1);
      expect(d.actions).toHaveLength(2);
      expect(d.exposures.find((e) => e.actionId.startsWith('ship_'))?.exclusiveGroup).toBe('shipping');
    }
  });

  it('caps hold inside one answer too', () => {
    const cap = { count: 2, periodSeconds: 86_400, scope: 'channel' as const };
    const actions = ['a', 'b', 'c', 'd'].map((id) => action(id, { frequencyCaps: [cap] }));
    const d = decide(request({ count: 4 }), deps(actions));
    expect(d.actions).toHaveLength(2);
    const earlier: Exposure[] = [{ actionId: 'z', channel: 'web', t: NOW - 1000 }];
    expect(decide(request({ count: 4, exposures: earlier }), deps(actions)).actions).toHaveLength(1);
  });

  it('fills slots in the bandit’s order: the best-known action first', () => {
    const actions = [action('weak'), action('strong')];
    const d = deps(actions);
    const x = request().x;
    for (let i = 0; i < 300; i++) {
      d.bandit.update('strong', x, i % 3 === 0 ? 1 : 0);
      d.bandit.update('weak', x, i % 30 === 0 ? 1 : 0);
    }
    const picks = Array.from({ length: 200 }, () => decide(request({ count: 2 }), d).actions);
    const strongFirst = picks.filter((p) => p[0]!.actionId === 'strong');
    // π(strong) = 1 − ε + ε/2 = 0.975
    expect(strongFirst.length / picks.length).toBeGreaterThan(0.9);
    for (const p of strongFirst) {
      expect(p[0]!.explored).toBe(false);
      expect(p[0]!.reasons.map((r) => r.type)).toEqual(['best_value']);
      // the second slot had one candidate left
      expect(p[1]!.propensity).toBe(1);
    }
  });

  it('reports slot 1\'s support, not the set the later slots were left with', () => {
    const actions = [action('a'), action('b', { exclusiveGroup: 'g' }), action('c', { exclusiveGroup: 'g' })];
    const d = decide(request({ count: 2 }), deps(actions));
    expect(d.firstSlotCandidates.sort()).toEqual(['a', 'b', 'c']);
  });

  it('an empty answer when nothing is servable', () => {
    const d = decide(request(), deps([action('elsewhere', { placements: ['cart'] })]));
    expect(d).toEqual({ actions: [], skipped: [], exposures: [], firstSlotCandidates: [] });
  });
});
