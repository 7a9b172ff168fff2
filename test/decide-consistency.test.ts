/**
 * Consistency inside one millisecond. Decisions made in the same millisecond share `at`; the latest
 * is the one minted last, so a burst of requests for one person (a page opening several frames at
 * once) gets one fresh draw, repeats of it, and one more draw only when a cap stops the repeat.
 * The server test with 50 concurrent calls covers the same through HTTP, where how many calls share
 * a millisecond is up to the machine; here every call does.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_TUNING } from '../src/config.ts';
import type { ActionRecord } from '../src/decide/action.ts';
import { DEFAULT_DECIDE_SETTINGS, DecisionState, newDecisionId } from '../src/decide/serving/extension.ts';
import { Workspace } from '../src/engine/workspace.ts';

const NOW = Date.UTC(2026, 10, 1, 12);
const action = (actionId: string, over: Partial<ActionRecord> = {}): ActionRecord & { updatedAt: string } =>
  ({ actionId, placements: ['home'], channel: 'web', content: {}, updatedAt: new Date(NOW).toISOString(), ...over }) as ActionRecord & { updatedAt: string };

describe('decisions made in one millisecond', () => {
  it('mint ids in the order they were made', () => {
    const ids = Array.from({ length: 2000 }, () => newDecisionId(NOW));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    // and a later millisecond sorts after, whatever the sequence reached
    expect(newDecisionId(NOW + 1) > ids.at(-1)!).toBe(true);
  });

  it('keep one fresh draw, then repeat it until its cap forces exactly one more', () => {
    for (let seed = 0; seed < 60; seed++) {
      const state = new DecisionState(new Workspace(`w${seed}`, DEFAULT_TUNING), DEFAULT_DECIDE_SETTINGS, `seed-${seed}`);
      state.setAction(action('a1', { frequencyCaps: [{ count: 2, periodSeconds: 3600, scope: 'action' }] }));
      state.setAction(action('a2', { exclusiveGroup: 'discount' }));
      state.setAction(action('a3', { exclusiveGroup: 'discount' }));
      const served = Array.from({ length: 12 }, () => state.decide({ placement: 'home', userId: 'burst', context: { page: 'home' } }, undefined, undefined, { now: NOW }).response.actions[0]!);
      const fresh = served.filter((a) => a.reasons[0]!.type !== 'consistent').map((a) => a.actionId);
      // a1 first: served twice (cap 2), then one draw among the group that sticks; else one draw that sticks
      expect(fresh, `seed ${seed}`).toEqual(fresh[0] === 'a1' ? ['a1', fresh[1]] : [fresh[0]]);
      expect(served.filter((a) => a.actionId === 'a1').length).toBeLessThanOrEqual(2);
    }
  });
});
