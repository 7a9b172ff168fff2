import { describe, expect, it } from 'vitest';
import { SessionKnnModel } from '../src/recommend/candidates/session-knn.ts';
import { ItemIds } from '../src/recommend/item-ids.ts';
import { DAY, query, session } from './recommend-fixtures.ts';

const model = (o = {}): SessionKnnModel => new SessionKnnModel(new ItemIds(), o);

describe('session neighbourhood', () => {
  it('ranks the item of the most similar neighbour session first', () => {
    const m = model();
    // shares both current items, in the same order
    m.addSession(session('close', ['a', 'b', 'x']));
    // shares only the older current item
    m.addSession(session('far', ['a', 'y']));
    m.addSession(session('unrelated', ['p', 'q']));
    const out = m.generate(query({ session: ['a', 'b'] }), 10);
    expect(out.map((c) => c.itemId)).toEqual(['x', 'y']);
    expect(out[0]!.reason).toEqual({ type: 'similar_session' });
  });

  it('prefers recent neighbour sessions', () => {
    const m = model({ recencyDecayDays: 5 });
    m.addSession(session('old', ['a', 'old-pick'], 30 * DAY));
    m.addSession(session('recent', ['a', 'new-pick'], DAY));
    expect(m.generate(query({ session: ['a'] }), 10).map((c) => c.itemId)).toEqual(['new-pick', 'old-pick']);
  });

  it('favours items close to the shared item in the neighbour session', () => {
    const m = model();
    m.addSession(session('s', ['far', 'mid', 'near', 'a']));
    expect(m.generate(query({ session: ['a'] }), 10).map((c) => c.itemId)).toEqual(['near', 'mid', 'far']);
  });

  it('weighs sharing a rare item above sharing a common one', () => {
    const m = model();
    m.addSession(session('rare', ['rare', 'from-rare']));
    m.addSession(session('common', ['common', 'from-common']));
    for (let i = 0; i < 20; i++) m.addSession(session(`c${i}`, ['common', `filler${i}`], DAY));
    // both current items sit in equal positions once order is ignored: use linear weights and put them together
    const out = m.generate(query({ session: ['common', 'rare'] }), 30);
    expect(out[0]!.itemId).toBe('from-rare');
  });

  it('reads only sessions sharing an item, at most the most recent sample', () => {
    const m = model({ sampleSize: 2 });
    m.addSession(session('s1', ['a', 'x1'], 3 * DAY));
    m.addSession(session('s2', ['a', 'x2'], 2 * DAY));
    m.addSession(session('s3', ['a', 'x3'], DAY));
    expect(m.sessionsWith('a')).toEqual(['s3', 's2', 's1']);
    expect(m.generate(query({ session: ['a'] }), 10).map((c) => c.itemId).sort()).toEqual(['x2', 'x3']);
  });

  it('removeSession exactly undoes addSession', () => {
    const kept = [session('k1', ['a', 'b', 'c'], DAY), session('k2', ['b', 'd'], 2 * DAY)];
    const extra = [session('e1', ['a', 'z'], 0), session('e2', ['c', 'b', 'y'], 3 * DAY)];
    const m = model({ sampleSize: 1 });
    for (const s of [extra[0]!, ...kept, extra[1]!]) m.addSession(s);
    for (const s of extra) m.removeSession(s);
    const fresh = model({ sampleSize: 1 });
    for (const s of kept) fresh.addSession(s);
    expect(m.sessionCount).toBe(fresh.sessionCount);
    for (const item of ['a', 'b', 'c', 'd', 'y', 'z']) expect(m.sessionsWith(item)).toEqual(fresh.sessionsWith(item));
    const q = query({ session: ['a', 'b'] });
    expect(m.generate(q, 10)).toEqual(fresh.generate(q, 10));
  });

  it('spliceSession of appended items leaves the index as removing the old session and adding the new one would', () => {
    const others = [session('o1', ['a', 'b', 'c'], DAY), session('o2', ['b', 'd'], 2 * DAY), session('o3', ['c', 'e'], 60_000)];
    // one event a minute: the session's start stays, its end moves
    const grow = (steps: string[]) => session('open', steps, (5 - steps.length) * 60_000);
    const prefixes = [['a'], ['a', 'b'], ['a', 'b', 'a'], ['a', 'b', 'a', 'e', 'c']];
    const m = model({ sampleSize: 2 });
    for (const s of others) m.addSession(s);
    m.addSession(grow(prefixes[0]!));
    for (let i = 1; i < prefixes.length; i++) m.spliceSession(grow(prefixes[i - 1]!), grow(prefixes[i]!), { at: prefixes[i - 1]!.length, removed: 0, added: prefixes[i]!.length - prefixes[i - 1]!.length });
    const fresh = model({ sampleSize: 2 });
    for (const s of [...others, grow(prefixes[prefixes.length - 1]!)]) fresh.addSession(s);
    expect(m.sessionCount).toBe(fresh.sessionCount);
    for (const item of ['a', 'b', 'c', 'd', 'e']) expect(m.sessionsWith(item)).toEqual(fresh.sessionsWith(item));
    for (const steps of [['a'], ['b', 'c'], ['e']]) expect(m.generate(query({ session: steps }), 10)).toEqual(fresh.generate(query({ session: steps }), 10));
  });

  it('keeps every session when a long posting list shrinks again', () => {
    const m = model({ sampleSize: 2 });
    const sessions = Array.from({ length: 12 }, (_, i) => session(`s${i}`, ['a', `x${i}`], i * DAY));
    for (const s of sessions) m.addSession(s);
    for (const s of sessions.slice(0, 9)) m.removeSession(s);
    expect(m.sessionsWith('a')).toEqual(['s9', 's10', 's11']);
    expect(m.generate(query({ session: ['a'] }), 10).map((c) => c.itemId)).toEqual(['x9', 'x10']);
  });
});
