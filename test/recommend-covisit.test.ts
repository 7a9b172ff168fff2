import { describe, expect, it } from 'vitest';
import { CovisitModel } from '../src/recommend/candidates/covisit.ts';
import { ItemIds } from '../src/recommend/item-ids.ts';
import { DAY, NOW, query, session } from './recommend-fixtures.ts';

const model = (): CovisitModel => new CovisitModel(new ItemIds());

describe('co-visitation', () => {
  it('items viewed together come back with the anchor that brought them', () => {
    const m = model();
    m.addSession(session('s1', ['shoe', 'sock']));
    m.addSession(session('s2', ['shoe', 'sock']));
    m.addSession(session('s3', ['hat', 'scarf']));
    const out = m.generate(query({ session: ['shoe'] }), 10);
    expect(out.map((c) => c.itemId)).toEqual(['sock']);
    expect(out[0]!.reason).toEqual({ type: 'viewed_together', itemId: 'shoe' });
  });

  it('names the anchor that contributed most when several did', () => {
    const m = model();
    m.addSession(session('s1', ['a', 'x']));
    m.addSession(session('s2', ['b', 'x']));
    m.addSession(session('s3', ['b', 'x']));
    m.addSession(session('s4', ['b', 'y']));
    // a is the most recent anchor (weight 1), b the older one (weight 0.75); each normalises by its strongest neighbour
    const out = m.generate(query({ session: ['b', 'a'] }), 10);
    expect(out[0]).toMatchObject({ itemId: 'x', reason: { type: 'viewed_together', itemId: 'a' } });
    expect(out.map((c) => c.itemId)).toEqual(['x', 'y']);
  });

  it('pairs only views within the window, closer ones weighing more', () => {
    const m = new CovisitModel(new ItemIds(), { window: 2 });
    m.addSession(session('s1', ['a', 'b', 'c', 'd']));
    const n = m.neighbours('a', 'viewed', NOW);
    expect(n.map((x) => x.itemId)).toEqual(['b', 'c']);
    // minutes-old pairs have barely decayed
    expect(n[0]!.weight).toBeCloseTo(1, 3);
    expect(n[1]!.weight).toBeCloseTo(0.5, 3);
  });

  it('weighs co-visits by interaction weight and decays them over time', () => {
    const m = new CovisitModel(new ItemIds(), { halfLifeDays: 1 });
    m.addSession(session('s1', ['a', ['b', 'add']], DAY));
    // sqrt(1 · 3), made one half-life ago
    expect(m.neighbours('a', 'viewed', NOW)[0]!.weight).toBeCloseTo(Math.sqrt(3) / 2, 9);
  });

  it('items bought in the same session come back as bought together', () => {
    const m = model();
    m.addSession(session('s1', [['tent', 'purchase'], ['stakes', 'purchase']]));
    const out = m.generate(query({ session: ['tent'] }), 10);
    expect(out).toEqual([{ itemId: 'stakes', score: expect.any(Number), reason: { type: 'bought_together', itemId: 'tent' } }]);
  });

  it('never proposes the anchors themselves', () => {
    const m = model();
    m.addSession(session('s1', ['a', 'b', 'c']));
    expect(m.generate(query({ session: ['a', 'b'] }), 10).map((c) => c.itemId)).toEqual(['c']);
  });

  it('removeSession exactly undoes addSession', () => {
    const kept = [session('s1', ['a', 'b', 'c']), session('s2', [['a', 'purchase'], ['c', 'purchase']])];
    const extra = [session('s3', ['a', 'b', ['d', 'add'], 'a']), session('s4', [['b', 'purchase'], ['c', 'purchase']], 3 * DAY)];
    const m = model();
    for (const s of [...kept, ...extra]) m.addSession(s);
    for (const s of extra) m.removeSession(s);
    const fresh = model();
    for (const s of kept) fresh.addSession(s);
    for (const kind of ['viewed', 'bought'] as const) {
      expect(m.pairCount(kind)).toBe(fresh.pairCount(kind));
      for (const item of ['a', 'b', 'c', 'd']) {
        const got = m.neighbours(item, kind, NOW);
        const want = fresh.neighbours(item, kind, NOW);
        expect(got.map((x) => x.itemId)).toEqual(want.map((x) => x.itemId));
        got.forEach((x, i) => expect(x.weight).toBeCloseTo(want[i]!.weight, 9));
      }
    }
    for (const s of kept) m.removeSession(s);
    expect(m.pairCount('viewed') + m.pairCount('bought')).toBe(0);
  });
});
