import { describe, expect, it } from 'vitest';
import { NewestItems } from '../src/recommend/candidates/newest.ts';
import { PopularityModel } from '../src/recommend/candidates/popularity.ts';
import { ItemIds } from '../src/recommend/item-ids.ts';
import { Recommender } from '../src/recommend/recommender.ts';
import type { SessionRecord } from '../src/recommend/types.ts';
import { catalogOf, DAY, NOW, query, session } from './recommend-fixtures.ts';

const catalog = catalogOf([
  { id: 'steady', name: 'Steady', category: 'Shoes' },
  { id: 'rising', name: 'Rising', category: 'Shoes' },
  { id: 'coat', name: 'Coat', category: 'Clothing' },
  { id: 'fresh', name: 'Fresh', category: 'Clothing', ageDays: 1 },
  { id: 'gone', name: 'Gone', category: 'Shoes', available: false },
]);

/** one view a day for 30 days of the steady item, five views of the rising item today */
function traffic(): SessionRecord[] {
  const out: SessionRecord[] = [];
  for (let d = 0; d < 30; d++) out.push(session(`steady-${d}`, ['steady'], d * DAY));
  for (let i = 0; i < 5; i++) out.push(session(`rising-${i}`, ['rising'], i * 60_000));
  out.push(session('coat', ['coat'], 2 * DAY));
  out.push(session('gone', ['gone', 'gone', 'gone', 'gone', 'gone', 'gone']));
  return out;
}

const model = (): PopularityModel => {
  const m = new PopularityModel(new ItemIds(), catalog, { refreshMs: 0 });
  for (const s of traffic()) m.addSession(s);
  return m;
};

describe('popularity and trending', () => {
  it('trending prefers a rising item over a steady popular one', () => {
    const m = model();
    expect(m.trendingScore('rising', NOW)).toBeGreaterThan(m.trendingScore('steady', NOW));
    expect(m.trending.generate(query(), 10).map((c) => c.itemId)[0]).toBe('rising');
  });

  it('popular prefers the item with the larger long-term volume', () => {
    const m = model();
    expect(m.popular.generate(query(), 10).map((c) => c.itemId)).toEqual(['steady', 'rising', 'coat']);
  });

  it('never ranks ineligible items', () => {
    const m = model();
    expect(m.popular.generate(query(), 10).map((c) => c.itemId)).not.toContain('gone');
    expect(m.trending.generate(query(), 10).map((c) => c.itemId)).not.toContain('gone');
  });

  it("keeps to the context item's top-level category, scoped in the reason", () => {
    const m = model();
    const out = m.popular.generate(query({ context: 'coat' }), 10);
    expect(out).toEqual([{ itemId: 'coat', score: expect.any(Number), reason: { type: 'popular', category: 'Clothing' } }]);
    expect(m.ranked('popular', NOW, 'shoes').map((c) => c.itemId)).toEqual(['steady', 'rising']);
    // a category without ranked items falls back to the overall list
    expect(m.popular.generate(query({ context: 'fresh' }), 10).map((c) => c.itemId)).toEqual(['coat']);
  });

  it('removeSession exactly undoes addSession', () => {
    const m = model();
    const extra = [session('x1', ['coat', 'coat'], DAY), session('x2', [['steady', 'purchase']], 3 * DAY)];
    for (const s of extra) m.addSession(s);
    for (const s of extra) m.removeSession(s);
    const fresh = model();
    for (const id of ['steady', 'rising', 'coat']) {
      expect(m.popularity(id, NOW)).toBeCloseTo(fresh.popularity(id, NOW), 9);
      expect(m.trendingScore(id, NOW)).toBeCloseTo(fresh.trendingScore(id, NOW), 9);
    }
    for (const s of traffic()) m.removeSession(s);
    expect(m.popularity('steady', NOW)).toBe(0);
    expect(m.popular.generate(query(), 10)).toEqual([]);
  });

  it('drops an item whose last interaction is removed at once, without waiting for a refresh', () => {
    const m = new PopularityModel(new ItemIds(), catalog, { refreshMs: 60_000 });
    const only = session('only', ['coat']);
    m.addSession(session('a', ['steady']));
    m.addSession(only);
    expect(m.ranked('popular', NOW).map((c) => c.itemId)).toEqual(['coat', 'steady']);
    expect(m.ranked('trending', NOW).map((c) => c.itemId)).toEqual(['coat', 'steady']);
    m.removeSession(only);
    expect(m.ranked('popular', NOW + 1).map((c) => c.itemId)).toEqual(['steady']);
    expect(m.trending.generate(query({ context: 'coat' }), 10).map((c) => c.itemId)).toEqual(['steady']);
  });

  it('applies new interactions at the next read, scoring only the items they touch', () => {
    const m = new PopularityModel(new ItemIds(), catalog, { refreshMs: 60_000 });
    m.addSession(session('a', ['coat']));
    expect(m.popular.generate(query(), 10).map((c) => c.itemId)).toEqual(['coat']);
    m.addSession(session('b', ['steady', 'steady']));
    expect(m.ranked('popular', NOW + 10).map((c) => c.itemId)).toEqual(['steady', 'coat']);
    expect(m.ranked('popular', NOW + 10, 'shoes').map((c) => c.itemId)).toEqual(['steady']);
  });

  it('keeps incrementally updated lists equal to lists computed from scratch at the same time', () => {
    const kinds = ['popular', 'trending'] as const;
    const grown = new PopularityModel(new ItemIds(), catalog, { refreshMs: 60_000 });
    const all = traffic();
    for (const s of all.slice(0, 10)) grown.addSession(s);
    for (const kind of kinds) grown.ranked(kind, NOW);
    for (const s of all.slice(10)) {
      grown.addSession(s);
      for (const kind of kinds) grown.ranked(kind, NOW);
    }
    const fresh = new PopularityModel(new ItemIds(), catalog, { refreshMs: 60_000 });
    for (const s of all) fresh.addSession(s);
    for (const kind of kinds) {
      const strip = (list: readonly { itemId: string; score: number }[]) => list.map((c) => [c.itemId, Number(c.score.toPrecision(9))]);
      expect(strip(grown.ranked(kind, NOW))).toEqual(strip(fresh.ranked(kind, NOW)));
      for (const category of ['shoes', 'clothing']) expect(strip(grown.ranked(kind, NOW, category))).toEqual(strip(fresh.ranked(kind, NOW, category)));
    }
  });

  it('scores the items of a removal again at the next read, before any recompute', () => {
    const m = new PopularityModel(new ItemIds(), catalog, { refreshMs: 1000 });
    const b = session('b', ['steady', 'steady'], 60_000);
    m.addSession(session('a', ['coat', 'coat', 'coat']));
    m.addSession(b);
    m.addSession(session('c', ['steady', 'steady']));
    expect(m.ranked('popular', NOW).map((c) => c.itemId)).toEqual(['steady', 'coat']);
    m.removeSession(b);
    // an erased or opted-out person's views prop nothing up from the next request on
    const next = m.ranked('popular', NOW + 10);
    expect(next.map((c) => c.itemId)).toEqual(['coat', 'steady']);
    // as a full computation at the lists' time gives
    const fresh = new PopularityModel(new ItemIds(), catalog, { refreshMs: 1000 });
    fresh.addSession(session('a', ['coat', 'coat', 'coat']));
    fresh.addSession(session('c', ['steady', 'steady']));
    const want = fresh.ranked('popular', NOW);
    expect(next.map((c) => c.itemId)).toEqual(want.map((c) => c.itemId));
    next.forEach((c, k) => expect(c.score).toBeCloseTo(want[k]!.score, 9));
  });

  it('recomputes trending lists once they are older than maxAgeMs', () => {
    const m = new PopularityModel(new ItemIds(), catalog, { maxAgeMs: 600_000 });
    for (const s of traffic()) m.addSession(s);
    const first = m.ranked('trending', NOW);
    expect(m.ranked('trending', NOW + 599_000)).toBe(first);
    expect(m.ranked('trending', NOW + 600_000)).not.toBe(first);
  });
});

describe('ranked lists under catalog changes', () => {
  /** a recommender over its own catalog, with traffic, whose popularity listens to catalog changes */
  function listening() {
    const cat = catalogOf([
      { id: 'steady', name: 'Steady', category: 'Shoes', price: 10 },
      { id: 'coat', name: 'Coat', category: 'Clothing', price: 50 },
      { id: 'quiet', name: 'Quiet', category: 'Shoes' },
    ]);
    const r = new Recommender(cat, { popularity: { refreshMs: 1000 } });
    cat.listen(r);
    for (let d = 0; d < 5; d++) r.addSession(session(`s${d}`, ['steady', 'coat'], d * DAY));
    return { cat, m: r.popularity };
  }

  it('a price change, or any change to an item without interactions, keeps the lists as they are', () => {
    const { cat, m } = listening();
    const popular = m.ranked('popular', NOW);
    const trending = m.ranked('trending', NOW);
    cat.upsert('steady', { name: 'Steady', category: 'Shoes', price: 12 }, NOW - 100 * DAY);
    cat.upsert('quiet', { name: 'Quiet', category: 'Clothing' }, NOW - 100 * DAY);
    cat.upsert('brand-new', { name: 'New', category: 'Shoes' }, NOW);
    // past the refresh interval: a stale list would be recomputed into a new array
    expect(m.ranked('popular', NOW + 5000)).toBe(popular);
    expect(m.ranked('trending', NOW + 5000)).toBe(trending);
  });

  it('an item turning unavailable, moving category or leaving the catalog changes the lists at the next refresh', () => {
    const { cat, m } = listening();
    expect(m.ranked('popular', NOW, 'Shoes').map((c) => c.itemId)).toEqual(['steady']);
    cat.upsert('steady', { name: 'Steady', category: 'Clothing', price: 10 }, NOW - 100 * DAY);
    expect(m.ranked('popular', NOW + 1000, 'Shoes')).toEqual([]);
    expect(m.ranked('popular', NOW + 1000, 'Clothing').map((c) => c.itemId).sort()).toEqual(['coat', 'steady']);
    cat.upsert('coat', { name: 'Coat', category: 'Clothing', price: 50, available: false }, NOW - 100 * DAY);
    expect(m.ranked('popular', NOW + 2000).map((c) => c.itemId)).toEqual(['steady']);
    cat.remove('steady');
    expect(m.ranked('popular', NOW + 3000)).toEqual([]);
  });
});

describe('newest items', () => {
  it('lists eligible items created recently, newest first, as new arrivals', () => {
    const newest = new NewestItems(catalog, { maxAgeDays: 30 });
    expect(newest.generate(query(), 10)).toEqual([{ itemId: 'fresh', score: expect.any(Number), reason: { type: 'new' } }]);
    expect(new NewestItems(catalog, { maxAgeDays: 365 }).generate(query(), 10).map((c) => c.itemId)).toEqual(['fresh', 'coat', 'rising', 'steady']);
  });
});
