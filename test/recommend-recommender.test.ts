import { describe, expect, it } from 'vitest';
import { Catalog } from '../src/catalog/catalog.ts';
import { Recommender, type RecommendOptions } from '../src/recommend/recommender.ts';
import { catalogOf, DAY, NOW, query, session, type ItemSpec } from './recommend-fixtures.ts';

const SPECS: ItemSpec[] = [
  { id: 'tent', name: 'Tent', category: 'Camping > Shelter', brand: 'Peak' },
  { id: 'stakes', name: 'Tent Stakes', category: 'Camping > Shelter', brand: 'Peak' },
  { id: 'tarp', name: 'Shelter Tarp', category: 'Camping > Shelter', brand: 'Peak' },
  { id: 'stove', name: 'Camp Stove', category: 'Camping > Kitchen', brand: 'Fire' },
  { id: 'mug', name: 'Camp Mug', category: 'Camping > Kitchen', brand: 'Tin' },
  { id: 'boot', name: 'Hiking Boot', category: 'Shoes > Hiking', brand: 'Peak' },
  { id: 'sock', name: 'Hiking Sock', category: 'Clothing > Socks', brand: 'Wool' },
  { id: 'hat', name: 'Sun Hat', category: 'Clothing > Hats', brand: 'Sun', ageDays: 3 },
];

function setup(specs = SPECS) {
  const catalog = catalogOf(specs);
  const rec = new Recommender(catalog, { exploration: { rate: 0 }, popularity: { refreshMs: 0 } });
  catalog.listen(rec);
  return { rec, catalog };
}

const opts = (o: Partial<RecommendOptions> = {}): RecommendOptions => ({ count: 4, seed: 'seed', ...o });
const ids = (r: { items: Array<{ itemId: string }> }): string[] => r.items.map((i) => i.itemId);

function traffic() {
  const out = [
    session('v1', ['tent', 'stakes', 'tarp'], DAY),
    session('v2', ['tent', 'stakes'], 2 * DAY),
    session('b1', [['tent', 'purchase'], ['stove', 'purchase']], 3 * DAY),
    session('h1', ['boot', 'sock'], 4 * DAY),
  ];
  for (let i = 0; i < 4; i++) out.push(session(`m${i}`, ['mug'], i * 60_000));
  return out;
}

function withTraffic() {
  const s = setup();
  for (const x of traffic()) s.rec.addSession(x);
  return s;
}

describe('recommender', () => {
  it('answers an empty list for an empty catalog', () => {
    const rec = new Recommender(new Catalog());
    expect(rec.recommend(query({ session: ['x'] }), opts())).toEqual({ items: [], strategy: 'none', signals: [] });
    expect(rec.similar('x', 5, 's', NOW)).toEqual({ items: [], strategy: 'none' });
  });

  it('fills a cold start with new arrivals, then any eligible item', () => {
    const { rec } = setup();
    const out = rec.recommend(query(), opts({ count: 8 }));
    expect(ids(out)).toHaveLength(8);
    expect(out.items[0]).toMatchObject({ itemId: 'hat', reasons: [{ type: 'new', text: 'New arrival' }] });
    expect(out.strategy).toBe('new+catalog');
    for (const item of out.items) expect(item.reasons[0]!.text.length).toBeGreaterThan(0);
  });

  it('recommends co-visited items with the anchor reason and names the generators', () => {
    const { rec } = withTraffic();
    // a product page does not remind of the session's own items
    const out = rec.recommend(query({ session: ['tent'] }), opts({ placement: 'product_page' }));
    expect(out.items[0]!.itemId).toBe('stakes');
    expect(out.items[0]!.reasons).toContainEqual({ type: 'viewed_together', itemId: 'tent', text: 'Because you viewed Tent' });
    expect(out.items.find((i) => i.itemId === 'stove')!.reasons).toContainEqual({ type: 'bought_together', itemId: 'tent', text: 'Often bought with Tent' });
    expect(out.strategy.split('+')).toEqual(expect.arrayContaining(['session-knn', 'covisit']));
    expect(ids(out)).toContain('stove');
  });

  it('scores are non-increasing down the list and every item carries a reason with text', () => {
    const { rec } = withTraffic();
    const out = rec.recommend(query({ session: ['tent', 'boot'] }), opts({ count: 7 }));
    expect(ids(out)).toHaveLength(7);
    for (let i = 1; i < out.items.length; i++) expect(out.items[i]!.score).toBeLessThanOrEqual(out.items[i - 1]!.score);
    for (const item of out.items) {
      expect(item.reasons.length).toBeGreaterThan(0);
      for (const r of item.reasons) expect(r.text).toMatch(/\w/);
    }
  });

  it("ranks trending items of the context item's category first", () => {
    const catalog = catalogOf(SPECS);
    const rec = new Recommender(catalog, { exploration: { rate: 0 }, placements: { trends: { trending: 1 } } });
    catalog.listen(rec);
    for (let i = 0; i < 4; i++) rec.addSession(session(`hat${i}`, ['hat'], i * 60_000));
    rec.addSession(session('mug', ['mug']));
    const out = rec.recommend(query({ context: 'stove' }), opts({ count: 2, placement: 'trends' }));
    expect(ids(out)).toEqual(['mug', 'hat']);
    expect(out.items[0]!.reasons[0]).toEqual({ type: 'trending', text: 'Trending in Camping' });
    expect(out.items[1]!.reasons[0]).toEqual({ type: 'trending', text: 'Trending now' });
  });

  it('fills beyond the generators from the fallback chain, within the requested category first', () => {
    const catalog = catalogOf(SPECS);
    const rec = new Recommender(catalog, { exploration: { rate: 0 }, placements: { fallbackOnly: {} } });
    catalog.listen(rec);
    rec.addSession(session('v', ['boot', 'stove', 'mug', 'mug']));
    const out = rec.recommend(query(), opts({ count: 5, filter: { category: 'Camping' }, placement: 'fallbackOnly' }));
    expect(ids(out)).toEqual(['mug', 'stove', 'stakes', 'tarp', 'tent']);
    expect(out.items.map((i) => i.reasons[0]!.text)).toEqual(['Trending in Camping', 'Trending in Camping', 'More in Camping', 'More in Camping', 'More in Camping']);
    expect(out.strategy).toBe('trending+catalog');
  });

  it('uses no personal data when personalisation is off', () => {
    const { rec } = withTraffic();
    const personal = query({ session: ['tent'], history: [['boot', 'view']] });
    const anonymous = rec.recommend({ ...personal, personalized: false }, opts());
    expect(anonymous).toEqual(rec.recommend(query(), opts()));
    expect(anonymous.strategy).not.toMatch(/session-knn|covisit/);
  });

  it('uses the context item, not the person, when personalisation is off', () => {
    const { rec } = withTraffic();
    const out = rec.recommend(query({ context: 'tent', session: ['boot'], personalized: false }), opts());
    expect(out.items[0]!.itemId).toBe('stakes');
    expect(out.items.flatMap((i) => i.reasons).some((r) => r.itemId === 'boot')).toBe(false);
    expect(out).toEqual(rec.recommend(query({ context: 'tent' }), opts()));
  });

  it('serves an uninteracted context item from content similarity', () => {
    const { rec } = withTraffic();
    const out = rec.recommend(query({ context: 'tarp' }), opts({ placement: 'product_page' }));
    expect(ids(out)).not.toContain('tarp');
    expect(out.items.some((i) => i.reasons.some((r) => r.type === 'similar_content' && r.itemId === 'tarp'))).toBe(true);
    const fresh = setup();
    fresh.catalog.upsert('tent2', { name: 'Tent Two', category: 'Camping > Shelter', brand: 'Peak' }, NOW);
    const similar = fresh.rec.similar('tent2', 2, 's', NOW);
    expect(similar.items.map((i) => i.itemId)).toContain('tent');
    expect(similar.items[0]!.reasons[0]).toMatchObject({ type: 'similar_content', itemId: 'tent2', text: 'Similar to Tent Two' });
  });

  it('serves a context item unknown to the catalog from trending', () => {
    const { rec } = withTraffic();
    const out = rec.recommend(query({ context: 'nowhere' }), opts({ count: 2 }));
    expect(out.items[0]!.itemId).toBe('mug');
    expect(out.items[0]!.reasons[0]).toEqual({ type: 'trending', text: 'Trending now' });
  });

  it('is deterministic: same state, query and seed give the same list', () => {
    const a = withTraffic().rec;
    const b = withTraffic().rec;
    const q = query({ session: ['tent', 'mug'] });
    expect(a.recommend(q, opts({ count: 6 }))).toEqual(a.recommend(q, opts({ count: 6 })));
    expect(a.recommend(q, opts({ count: 6 }))).toEqual(b.recommend(q, opts({ count: 6 })));
  });

  it('stops recommending items that become unavailable or deleted', () => {
    const { rec, catalog } = withTraffic();
    catalog.upsert('stakes', { name: 'Tent Stakes', category: 'Camping > Shelter', available: false }, NOW);
    catalog.remove('tarp');
    const got = ids(rec.recommend(query({ session: ['tent'] }), opts({ count: 8 })));
    expect(got).not.toContain('stakes');
    expect(got).not.toContain('tarp');
    expect(got).toHaveLength(6);
  });

  it('reflects a new session in the very next recommendation', () => {
    const { rec } = withTraffic();
    const page = opts({ count: 1, placement: 'product_page' });
    expect(rec.recommend(query({ session: ['sock'] }), page).items[0]!.itemId).toBe('boot');
    rec.addSession(session('new', ['sock', 'hat']));
    rec.addSession(session('new2', ['sock', 'hat']));
    expect(rec.recommend(query({ session: ['sock'] }), page).items[0]!.itemId).toBe('hat');
  });

  it("reminds of the session's items where the placement weighs reminders, and demotes them elsewhere", () => {
    const catalog = catalogOf(SPECS);
    const reminders = { 'in-session': 4, 'session-knn': 1, covisit: 1 };
    const rec = new Recommender(catalog, { exploration: { rate: 0 }, placements: { default: reminders, reminders } });
    catalog.listen(rec);
    for (const s of traffic()) rec.addSession(s);
    const q = query({ session: ['boot', 'tent'] });
    const out = rec.recommend(q, opts({ placement: 'reminders' }));
    // the most recent item first; the one before scores e^-1 of it in the reminders
    expect(ids(out)[0]).toBe('tent');
    expect(out.items[0]!.reasons[0]).toEqual({ type: 'in_session', itemId: 'tent', text: 'You viewed Tent earlier' });
    expect(out.items.find((i) => i.itemId === 'boot')!.reasons[0]).toEqual({ type: 'in_session', itemId: 'boot', text: 'You viewed Hiking Boot earlier' });
    expect(out.strategy.split('+')[0]).toBe('in-session');
    expect(ids(rec.recommend(q, opts({ placement: 'product_page' })))).not.toContain('tent');
    // never the context item, never a purchased item
    const page = rec.recommend(query({ session: ['boot', 'tent'], context: 'tent' }), opts());
    expect(ids(page)).not.toContain('tent');
    expect(ids(page)[0]).toBe('boot');
    const bought = rec.recommend(query({ session: ['boot', ['tent', 'purchase']] }), opts());
    expect(ids(bought)).not.toContain('tent');
    expect(ids(rec.recommend(query({ session: ['boot', ['tent', 'purchase']] }), opts({ excludePurchased: false })))[0]).toBe('tent');
  });

  it('similar items exclude the item itself and never repeat', () => {
    const { rec } = withTraffic();
    const out = rec.similar('tent', 7, 's', NOW);
    expect(ids(out)).toHaveLength(7);
    expect(ids(out)).not.toContain('tent');
    expect(new Set(ids(out)).size).toBe(7);
    expect(out.items[0]!.itemId).toBe('stakes');
  });
});
