/**
 * Session-kNN's index is a function of the sessions it holds: growing open sessions event by event
 * (extendSession, the path every live event takes), with removals and re-additions in between, must
 * leave exactly the postings and the recommendations of a model given only the final sessions.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SessionKnnModel } from '../src/recommend/candidates/session-knn.ts';
import { ItemIds } from '../src/recommend/item-ids.ts';
import type { SessionItem, SessionRecord } from '../src/recommend/types.ts';
import { DEFAULT_INTERACTION_WEIGHTS, type InteractionKind } from '../src/ingest/interactions.ts';
import { MINUTE, NOW, query } from './recommend-fixtures.ts';

const ITEMS = ['a', 'b', 'c', 'd', 'e', 'f'];
const KINDS: InteractionKind[] = ['view', 'view', 'add', 'purchase', 'list_view', 'remove'];

interface Plan {
  key: string;
  start: number;
  steps: Array<[string, InteractionKind]>;
}

const plan = fc.record({
  key: fc.constantFrom('s1', 's2', 's3', 's4', 's5'),
  start: fc.integer({ min: 0, max: 20 }).map((m) => NOW - m * 30 * MINUTE),
  steps: fc.array(fc.tuple(fc.constantFrom(...ITEMS), fc.constantFrom(...KINDS)), { minLength: 1, maxLength: 7 }),
});

function record(p: Plan, length: number): SessionRecord {
  const items: SessionItem[] = p.steps.slice(0, length).map(([itemId, kind], i) => ({ itemId, kind, t: p.start + i * MINUTE, weight: DEFAULT_INTERACTION_WEIGHTS[kind] }));
  return { key: p.key, start: p.start, end: p.start + (length - 1) * MINUTE, items };
}

describe('session-kNN index', () => {
  it('grown event by event equals the final sessions added at once', () => {
    fc.assert(
      fc.property(fc.uniqueArray(plan, { selector: (p) => p.key, minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 12 }), fc.integer({ min: 1, max: 4 }), (plans, order, sampleSize) => {
        const grown = new SessionKnnModel(new ItemIds(), { sampleSize, k: 3 });
        const length = new Map(plans.map((p) => [p.key, 1]));
        for (const p of plans) grown.addSession(record(p, 1));
        // one event at a time to sessions chosen by `order`, sometimes removed and added back whole
        for (const n of order) {
          const p = plans[n % plans.length]!;
          const at = length.get(p.key)!;
          if (n % 5 === 4) {
            grown.removeSession(record(p, at));
            grown.addSession(record(p, at));
          } else if (at < p.steps.length) {
            grown.extendSession(record(p, at), record(p, at + 1));
            length.set(p.key, at + 1);
          }
        }
        const fresh = new SessionKnnModel(new ItemIds(), { sampleSize, k: 3 });
        for (const p of plans) fresh.addSession(record(p, length.get(p.key)!));
        expect(grown.sessionCount).toBe(fresh.sessionCount);
        for (const item of ITEMS) expect(grown.sessionsWith(item)).toEqual(fresh.sessionsWith(item));
        for (const steps of [['a'], ['b', 'c'], ['f', 'e', 'd']]) expect(grown.generate(query({ session: steps }), 10)).toEqual(fresh.generate(query({ session: steps }), 10));
      }),
      { numRuns: 500 },
    );
  });
});
