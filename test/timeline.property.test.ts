/**
 * A timeline counts the events that state a Personalization preference, so that the person's consent
 * view needs no scan when none does. The count must follow every insert, merge and expiry.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Timeline, type EventSummary } from '../src/identity/timeline.ts';

const summary = fc.record({ id: fc.integer({ min: 0, max: 30 }), t: fc.integer({ min: 0, max: 20 }), pref: fc.constantFrom(undefined, true, false) }).map(
  ({ id, t, pref }): EventSummary => ({ messageId: `m${id}`, seg: 's', t, type: 'track', interactions: [], ...(pref !== undefined ? { personalization: pref } : {}) }),
);
const op = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), e: summary }),
  fc.record({ kind: fc.constant('absorb' as const), es: fc.array(summary, { maxLength: 5 }) }),
  fc.record({ kind: fc.constant('expire' as const), before: fc.integer({ min: 0, max: 20 }) }),
);

describe('timeline', () => {
  it('knows whether any event states a preference, through inserts, merges and expiries', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const tl = new Timeline();
        for (const o of ops) {
          if (o.kind === 'insert') tl.insert(o.e);
          else if (o.kind === 'absorb') {
            const other = new Timeline();
            for (const e of o.es) other.insert(e);
            tl.absorb(other);
          } else tl.removeWhere((e) => e.t < o.before);
          expect(tl.statesPreference).toBe(tl.events.some((e) => e.personalization !== undefined));
        }
      }),
      { numRuns: 500 },
    );
  });
});
