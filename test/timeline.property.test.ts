/**
 * A timeline counts the events that state a Personalization preference, so that the person's consent
 * view needs no scan when none does. The count must follow every insert, merge and expiry.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Timeline, before, type EventSummary } from '../src/identity/timeline.ts';

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

  it('absorbs another timeline into the same sorted, repeat-free union, whichever side is longer', () => {
    // a messageId names one event: its time is fixed per id
    const event = fc.integer({ min: 0, max: 400 }).map((id): EventSummary => ({ messageId: `m${String(id).padStart(3, '0')}`, seg: 's', t: (id * 7919) % 50, type: 'track', interactions: [], ...(id % 5 === 0 ? { personalization: id % 2 === 0 } : {}) }));
    const side = fc.oneof(fc.array(event, { maxLength: 4 }), fc.array(event, { maxLength: 40 }), fc.array(event, { minLength: 100, maxLength: 300 }));
    fc.assert(
      fc.property(side, side, (as, bs) => {
        const a = new Timeline();
        const b = new Timeline();
        for (const e of as) a.insert(e);
        for (const e of bs) b.insert(e);
        a.absorb(b);
        const union = new Map([...as, ...bs].map((e) => [e.messageId, e]));
        const expected = [...union.values()].sort((x, y) => (before(x, y) ? -1 : before(y, x) ? 1 : 0));
        expect(a.events.map((e) => e.messageId)).toEqual(expected.map((e) => e.messageId));
        expect(a.statesPreference).toBe(expected.some((e) => e.personalization !== undefined));
        expect(b.length).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
