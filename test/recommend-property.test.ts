import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { InteractionKind } from '../src/ingest/interactions.ts';
import { DEFAULT_INTERACTION_WEIGHTS } from '../src/ingest/interactions.ts';
import { changeOf } from '../src/features/sessions.ts';
import { Recommender } from '../src/recommend/recommender.ts';
import type { RecommendQuery, SessionRecord } from '../src/recommend/types.ts';
import { catalogOf, MINUTE, NOW, query, type ItemSpec } from './recommend-fixtures.ts';

const ITEMS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
const SPECS: ItemSpec[] = ITEMS.map((id, i) => ({ id, name: `Item ${id}`, category: i < 4 ? 'Shoes' : 'Bags', brand: i % 2 ? 'Acme' : 'Peak', ageDays: i * 5 }));
const KINDS: InteractionKind[] = ['view', 'view', 'view', 'click', 'add', 'wishlist', 'purchase', 'remove', 'list_view'];

const sessionArb = fc.record({
  ageMinutes: fc.integer({ min: 0, max: 20 * 24 * 60 }),
  steps: fc.array(fc.tuple(fc.constantFrom(...ITEMS), fc.constantFrom(...KINDS)), { minLength: 1, maxLength: 7 }),
});

const toRecord = (s: { ageMinutes: number; steps: Array<[string, InteractionKind]> }, key: string): SessionRecord => {
  const end = NOW - s.ageMinutes * MINUTE;
  const start = end - (s.steps.length - 1) * MINUTE;
  const items = s.steps.map(([itemId, kind], i) => ({ itemId, kind, t: start + i * MINUTE, weight: DEFAULT_INTERACTION_WEIGHTS[kind] }));
  return { key, start, end, items, size: items.length };
};

const QUERIES: RecommendQuery[] = [
  query(),
  query({ session: ['a'] }),
  query({ session: ['b', 'e', 'c'] }),
  query({ context: 'f' }),
  query({ context: 'a', session: ['d', ['g', 'add']], history: [['h', 'purchase']] }),
  { ...query({ context: 'c', session: ['e'] }), personalized: false },
];

function build(order: SessionRecord[], removed: SessionRecord[]): Recommender {
  const catalog = catalogOf(SPECS);
  const rec = new Recommender(catalog, { popularity: { refreshMs: 0 }, exploration: { rate: 0.25 } });
  catalog.listen(rec);
  for (const s of order) rec.addSession(s);
  for (const s of removed) rec.removeSession(s);
  return rec;
}

describe('recommendations are a function of the set of sessions', () => {
  it('adding sessions in any order and removing some equals adding only the rest', () => {
    fc.assert(
      fc.property(
        fc.array(sessionArb, { minLength: 1, maxLength: 14 }),
        fc.func(fc.integer()),
        fc.array(fc.boolean(), { minLength: 14, maxLength: 14 }),
        (specs, shuffleKey, removeMask) => {
          const sessions = specs.map((s, i) => toRecord(s, `s${i}`));
          const shuffled = [...sessions].sort((x, y) => shuffleKey(x.key) - shuffleKey(y.key) || (x.key < y.key ? -1 : 1));
          const removed = shuffled.filter((_, i) => removeMask[i]);
          const kept = sessions.filter((s) => !removed.includes(s));
          const churned = build(shuffled, [...removed].reverse());
          const fresh = build(kept, []);
          for (const q of QUERIES) {
            for (const count of [3, 8]) {
              const got = churned.recommend(q, { count, seed: 'p' });
              const want = fresh.recommend(q, { count, seed: 'p' });
              expect(got.strategy).toBe(want.strategy);
              expect(got.items.map((i) => [i.itemId, i.reasons])).toEqual(want.items.map((i) => [i.itemId, i.reasons]));
              got.items.forEach((item, k) => expect(item.score).toBeCloseTo(want.items[k]!.score, 5));
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('removing every session leaves the cold-start answer', () => {
    fc.assert(
      fc.property(fc.array(sessionArb, { minLength: 1, maxLength: 10 }), (specs) => {
        const sessions = specs.map((s, i) => toRecord(s, `s${i}`));
        const emptied = build(sessions, sessions);
        const never = build([], []);
        for (const q of QUERIES) expect(emptied.recommend(q, { count: 5, seed: 'z' })).toEqual(never.recommend(q, { count: 5, seed: 'z' }));
      }),
      { numRuns: 60 },
    );
  });
});

/** `full` without the items in [cut, cut + length): an earlier or later version of the same session */
function without(full: SessionRecord, cut: number, length: number, endExtra: number): SessionRecord | undefined {
  const items = [...full.items.slice(0, cut), ...full.items.slice(cut + length)];
  if (items.length === 0) return undefined;
  // as the engine keys a session: by its first event, so removing the first item gives a new key
  return { key: `open-${items[0]!.t}`, start: items[0]!.t, end: items[items.length - 1]!.t + endExtra * MINUTE, items, size: items.length };
}

describe('changing a session in one place', () => {
  it('equals removing the old session and adding the new one, whatever the change', () => {
    fc.assert(
      fc.property(
        fc.array(sessionArb, { minLength: 0, maxLength: 6 }),
        sessionArb,
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 3 }), fc.nat({ max: 2 })), { minLength: 1, maxLength: 4 }),
        (others, grown, cuts) => {
          const background = others.map((s, i) => toRecord(s, `o${i}`));
          const full = toRecord(grown, 'open');
          const next = { ...full, key: `open-${full.start}` };
          // versions of the session with a range of items missing (late events still to come, or
          // events withdrawn), then the whole session: consecutive versions differ anywhere
          const versions = cuts.map(([cut, length, endExtra]) => without(full, cut % full.size, length, endExtra)).filter((v): v is SessionRecord => v !== undefined);
          versions.push(next);
          const changed = build(background, []);
          changed.addSession(versions[0]!);
          for (let i = 1; i < versions.length; i++) changed.spliceSession(versions[i - 1]!, versions[i]!, changeOf(versions[i - 1]!, versions[i]!));
          const direct = build([...background, next], []);
          for (const q of QUERIES) {
            const got = changed.recommend(q, { count: 6, seed: 'e' });
            const want = direct.recommend(q, { count: 6, seed: 'e' });
            expect(got.items.map((i) => [i.itemId, i.reasons])).toEqual(want.items.map((i) => [i.itemId, i.reasons]));
            got.items.forEach((item, k) => expect(item.score).toBeCloseTo(want.items[k]!.score, 5));
          }
          changed.removeSession(next);
          const alone = build(background, []);
          for (const q of QUERIES) expect(changed.recommend(q, { count: 6, seed: 'e' }).items.map((i) => i.itemId)).toEqual(alone.recommend(q, { count: 6, seed: 'e' }).items.map((i) => i.itemId));
        },
      ),
      { numRuns: 200 },
    );
  });
});
