import { describe, expect, it } from 'vitest';
import { MAX_CATEGORY_LEVELS, itemFromProperties, parseCategoryPath } from '../src/catalog/item.ts';
import { ContentModel } from '../src/recommend/candidates/content.ts';
import { MAX_NAME_FEATURES, MAX_TAG_FEATURES, featuresOf } from '../src/recommend/candidates/content-features.ts';
import { ItemIds } from '../src/recommend/item-ids.ts';
import { query } from './recommend-fixtures.ts';

const item = (itemId: string, properties: Record<string, unknown>) => itemFromProperties(itemId, properties, 0);

function indexed(): ContentModel {
  const m = new ContentModel(new ItemIds());
  m.upsertItem(item('trail', { name: 'Trail Runner', category: 'Shoes > Running > Trail', brand: 'Acme', tags: ['waterproof'] }));
  m.upsertItem(item('road', { name: 'Road Runner', category: 'Shoes > Running > Road', brand: 'Acme' }));
  m.upsertItem(item('boot', { name: 'Hiking Boot', category: 'Shoes > Hiking', brand: 'Peak', tags: ['waterproof'] }));
  m.upsertItem(item('jacket', { name: 'Rain Jacket', category: 'Clothing > Jackets', brand: 'Peak', tags: ['waterproof'] }));
  m.upsertItem(item('mug', { name: 'Camp Mug', category: 'Kitchen', brand: 'Tin' }));
  return m;
}

describe('content similarity', () => {
  it('describes an item by name words, every category prefix, brand and tags', () => {
    expect(featuresOf(item('x', { name: 'The Trail-Runner 2', category: 'Shoes > Running', brand: 'ACME', tags: ['Waterproof'] })).sort()).toEqual(
      ['b:acme', 'c:shoes', 'c:shoes>running', 'n:runner', 'n:trail', 't:waterproof'].sort(),
    );
  });

  it('bounds what one item can make of features, whatever its category depth, name and tags', () => {
    // a 16,000-level path once made features whose total size grew with the square of the depth
    const deep = Array.from({ length: 16_000 }, (_, i) => String(i)).join('>');
    expect(parseCategoryPath(deep)).toEqual(Array.from({ length: MAX_CATEGORY_LEVELS }, (_, i) => String(i)));
    expect(parseCategoryPath(' Shoes >> Running > ')).toEqual(['Shoes', 'Running']);
    const huge = item('x', { name: Array.from({ length: 5000 }, (_, i) => `w${i}`).join(' '), category: deep, tags: Array.from({ length: 5000 }, (_, i) => `t${i}`) });
    expect(huge.properties.category).toBe(deep); // kept as given; only the first levels count
    const features = featuresOf(huge);
    expect(features.filter((f) => f.startsWith('c:'))).toHaveLength(MAX_CATEGORY_LEVELS);
    expect(features.filter((f) => f.startsWith('n:'))).toEqual(Array.from({ length: MAX_NAME_FEATURES }, (_, i) => `n:w${i}`));
    expect(features.filter((f) => f.startsWith('t:'))).toEqual(Array.from({ length: MAX_TAG_FEATURES }, (_, i) => `t:t${i}`));
    expect(features.reduce((n, f) => n + f.length, 0)).toBeLessThan(2000);
  });

  it('finds the same-brand, same-category item for a brand-new item', () => {
    const m = indexed();
    m.upsertItem(item('new', { name: 'Trail Runner Pro', category: 'Shoes > Running > Trail', brand: 'Acme' }));
    const similar = m.similarTo('new', 3);
    expect(similar[0]!.itemId).toBe('trail');
    expect(similar[1]!.itemId).toBe('road');
    expect(similar.map((s) => s.itemId)).not.toContain('mug');
    expect(similar[0]!.score).toBeGreaterThan(0.5);
    expect(similar[0]!.score).toBeLessThanOrEqual(1);
  });

  it('serves the context item as anchor with a similar_content reason', () => {
    const out = indexed().generate(query({ context: 'boot' }), 10);
    expect(out[0]).toMatchObject({ reason: { type: 'similar_content', itemId: 'boot' } });
    expect(out.map((c) => c.itemId)).not.toContain('boot');
    expect(out.map((c) => c.itemId)).not.toContain('mug');
  });

  it('anchors on recent session items when there is no context item', () => {
    const out = indexed().generate(query({ session: ['jacket'] }), 10);
    expect(out[0]!.reason).toEqual({ type: 'similar_content', itemId: 'jacket' });
  });

  it('forgets removed items and re-indexes changed ones', () => {
    const m = indexed();
    m.removeItem('road');
    expect(m.similarTo('trail', 10).map((s) => s.itemId)).not.toContain('road');
    m.upsertItem(item('mug', { name: 'Trail Mug', category: 'Shoes > Running > Trail', brand: 'Acme' }));
    expect(m.similarTo('trail', 1)[0]!.itemId).toBe('mug');
    expect(m.itemCount).toBe(4);
  });

  it('treats a context item with nothing to compare (events named only its id) as an unknown one', () => {
    const m = indexed();
    m.upsertItem(item('bare', { price: 12 }));
    expect(m.itemCount).toBe(5);
    expect(m.similarTo('bare', 5)).toEqual([]);
    expect(m.generate(query({ context: 'bare' }), 5)).toEqual([]);
    // with a session, the session's items are the anchors, as for a context item the index never saw
    expect(m.generate(query({ context: 'bare', session: ['jacket'] }), 5)).toEqual(m.generate(query({ context: 'nope', session: ['jacket'] }), 5));
    expect(m.generate(query({ context: 'bare', session: ['jacket'] }), 5)[0]!.reason).toEqual({ type: 'similar_content', itemId: 'jacket' });
  });

  it('answers nothing for unknown items', () => {
    expect(indexed().similarTo('nope', 5)).toEqual([]);
    expect(indexed().generate(query({ context: 'nope' }), 5)).toEqual([]);
  });
});
