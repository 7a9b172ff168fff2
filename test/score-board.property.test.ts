/**
 * The score board's packed layout (one cache line per item, dense per-query entries) must keep its
 * contract for any sequence of queries: excluded items never score, totals add up, the strongest part
 * names the anchor (ties to the smaller id), an item excluded after scoring keeps what it had, and
 * nothing leaks from one query into the next. Checked against a plain Map-based model of the contract.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ScoreBoard } from '../src/recommend/candidates/score-board.ts';
import { ItemIds } from '../src/recommend/item-ids.ts';
import { rankScore, TopK } from '../src/recommend/top-k.ts';
import type { Candidate } from '../src/recommend/types.ts';

type Op = { op: 'add'; item: number; part: number; anchor: number; tag: number } | { op: 'exclude'; item: number };

const ITEMS = 12;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('add' as const), item: fc.nat(ITEMS - 1), part: fc.oneof(fc.constantFrom(0, -1, 0.5, 1), fc.double({ min: 0, max: 10, noNaN: true })), anchor: fc.integer({ min: -1, max: ITEMS - 1 }), tag: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('exclude' as const), item: fc.nat(ITEMS - 1) }) },
);

/** the contract, with Maps */
function reference(ids: ItemIds, ops: Op[], limit: number): Candidate[] {
  const excluded = new Set<number>();
  const scored = new Map<number, { total: number; best: number; anchor: number; tag: number }>();
  for (const o of ops) {
    if (o.op === 'exclude') {
      excluded.add(o.item);
      continue;
    }
    if (excluded.has(o.item) || !(o.part > 0)) continue;
    let s = scored.get(o.item);
    if (!s) scored.set(o.item, (s = { total: 0, best: -1, anchor: -1, tag: 0 }));
    s.total += o.part;
    const key = rankScore(o.part);
    if (key > s.best || (key === s.best && o.anchor !== -1 && (s.anchor === -1 || ids.compare(o.anchor, s.anchor) < 0))) {
      s.best = key;
      s.anchor = o.anchor;
      s.tag = o.tag;
    }
  }
  const best = new TopK(limit, ids.compare);
  for (const [item, s] of scored) best.push(item, s.total);
  const { handles, scores } = best.drain();
  return handles.map((item, i) => {
    const s = scored.get(item)!;
    const type = (['similar_content', 'viewed_together', 'bought_together'] as const)[s.tag]!;
    return { itemId: ids.idOf(item), score: scores[i]!, reason: s.anchor !== -1 ? { type, itemId: ids.idOf(s.anchor) } : { type } };
  });
}

describe('score board', () => {
  it('matches the Map-based model over any sequence of queries', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.array(opArb, { maxLength: 40 }), fc.integer({ min: 1, max: ITEMS })), { minLength: 1, maxLength: 6 }), (queries) => {
        const ids = new ItemIds();
        for (let i = 0; i < ITEMS; i++) ids.intern(`item-${String.fromCharCode(97 + ((i * 7) % ITEMS))}${i}`);
        const board = new ScoreBoard(ids);
        for (const [ops, limit] of queries) {
          board.begin();
          for (const o of ops) {
            if (o.op === 'exclude') board.exclude(o.item);
            else board.add(o.item, o.part, o.anchor, o.tag);
          }
          const reasonOf = (tag: number) => (['similar_content', 'viewed_together', 'bought_together'] as const)[tag]!;
          expect(board.top(limit, reasonOf)).toEqual(reference(ids, ops, limit));
        }
      }),
      { numRuns: 400 },
    );
  });
});
