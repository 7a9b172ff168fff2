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
import { DAY, MINUTE, NOW, query } from './recommend-fixtures.ts';
import { DEFAULT_SESSION_KNN_OPTIONS } from '../src/recommend/candidates/session-knn.ts';

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
  return { key: p.key, start: p.start, end: p.start + (length - 1) * MINUTE, items, size: items.length };
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
            grown.spliceSession(record(p, at), record(p, at + 1), { at, removed: 0, added: 1 });
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

/**
 * V-SKNN with STAN's weights, computed by brute force from the definition, for comparison with the
 * index's merge of posting lists: the `sampleSize` most recent sessions (by start, then key) sharing
 * an item with the current session; each weighed by the position weight × idf of the items it
 * shares, over the square root of its length, decayed by its age; each voting for its items by their
 * distance from its most recent shared item.
 */
function bruteForce(sessions: SessionRecord[], current: string[], sampleSize: number): Map<string, number> {
  const o = DEFAULT_SESSION_KNN_OPTIONS;
  const known = new Set(sessions.flatMap((s) => s.items.map((i) => i.itemId)));
  const cur = current.filter((i) => known.has(i));
  const df = (item: string): number => sessions.filter((s) => s.items.some((i) => i.itemId === item)).length;
  const sample = sessions
    .filter((s) => s.items.some((i) => cur.includes(i.itemId)))
    .sort((a, b) => b.start - a.start || (a.key > b.key ? -1 : 1))
    .slice(0, sampleSize);
  const scores = new Map<string, number>();
  for (const s of sample) {
    const items = s.items.map((i) => i.itemId);
    let match = 0;
    let anchorPos = -1;
    for (let pos = 0; pos < cur.length; pos++) {
      if (!items.includes(cur[pos]!)) continue;
      match += Math.exp((pos + 1 - cur.length) / o.positionDecay) * Math.log(1 + sessions.length / df(cur[pos]!));
      anchorPos = pos;
    }
    const sim = (match / Math.sqrt(items.length)) * Math.exp(-Math.max(0, NOW - s.end) / (o.recencyDecayDays * DAY));
    const anchorAt = items.indexOf(cur[anchorPos]!);
    items.forEach((item, p) => {
      if (!cur.includes(item)) scores.set(item, (scores.get(item) ?? 0) + sim * Math.exp(-Math.abs(p - anchorAt) / o.itemDistanceDecay));
    });
  }
  return scores;
}

describe('session-kNN scores', () => {
  const sessionPlan = fc.record({
    // few distinct starts: sessions tie on start time and are then ordered by key
    start: fc.integer({ min: 0, max: 4 }).map((h) => NOW - h * 60 * MINUTE),
    items: fc.uniqueArray(fc.constantFrom(...ITEMS, 'g', 'h'), { minLength: 1, maxLength: 5 }),
  });
  it('are those of the definition computed by brute force, whatever the sample size', () => {
    fc.assert(
      fc.property(fc.array(sessionPlan, { minLength: 1, maxLength: 14 }), fc.uniqueArray(fc.constantFrom(...ITEMS, 'z'), { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 8 }), (plans, current, sampleSize) => {
        const sessions: SessionRecord[] = plans.map((p, n) => ({
          key: `s${String(n).padStart(2, '0')}`,
          start: p.start,
          end: p.start + (p.items.length - 1) * MINUTE,
          items: p.items.map((itemId, i) => ({ itemId, kind: 'view' as const, t: p.start + i * MINUTE, weight: DEFAULT_INTERACTION_WEIGHTS.view })),
          size: p.items.length,
        }));
        // every sampled session votes (k above the sample), so only the sample and the weights are compared
        const m = new SessionKnnModel(new ItemIds(), { sampleSize, k: 100 });
        for (const s of sessions) m.addSession(s);
        const got = new Map(m.generate(query({ session: current }), 100).map((c) => [c.itemId, c.score]));
        const want = bruteForce(sessions, current, sampleSize);
        expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
        for (const [item, score] of want) expect(got.get(item)! / score).toBeCloseTo(1, 9);
      }),
      { numRuns: 1000 },
    );
  });
});

