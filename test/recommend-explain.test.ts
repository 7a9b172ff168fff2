import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { shortLabel, tidyLabel } from '../src/catalog/item.ts';
import { explainReason, explainReasons } from '../src/recommend/explain/reasons.ts';
import { catalogOf } from './recommend-fixtures.ts';

const catalog = catalogOf([{ id: 'p1', name: 'Trail Shoe', category: 'Shoes' }, { id: 'p2' }]);

describe('reason texts', () => {
  it.each([
    [{ type: 'viewed_together', itemId: 'p1' }, 'Because you viewed Trail Shoe'],
    [{ type: 'bought_together', itemId: 'p1' }, 'Often bought with Trail Shoe'],
    [{ type: 'similar_session' }, 'People with sessions like yours viewed this'],
    [{ type: 'similar_content', itemId: 'p1' }, 'Similar to Trail Shoe'],
    [{ type: 'trending' }, 'Trending now'],
    [{ type: 'trending', category: 'Shoes' }, 'Trending in Shoes'],
    [{ type: 'popular' }, 'Popular'],
    [{ type: 'popular', category: 'Shoes' }, 'Popular in Shoes'],
    [{ type: 'new' }, 'New arrival'],
    [{ type: 'exploration' }, 'Something new to explore'],
    [{ type: 'context', category: 'Shoes' }, 'More in Shoes'],
  ] as const)('%j reads "%s"', (raw, text) => {
    expect(explainReason(raw, catalog).text).toBe(text);
  });

  it('names an unnamed anchor by its id, does not name one the catalog no longer holds, and keeps the anchor id', () => {
    expect(explainReason({ type: 'viewed_together', itemId: 'p2' }, catalog)).toEqual({ type: 'viewed_together', itemId: 'p2', text: 'Because you viewed p2' });
    expect(explainReason({ type: 'similar_content', itemId: 'zz' }, catalog)).toEqual({ type: 'similar_content', itemId: 'zz', text: 'Similar to items you viewed' });
  });

  it('drops repeated reasons and keeps at most the requested number', () => {
    const out = explainReasons([{ type: 'trending' }, { type: 'trending' }, { type: 'popular' }, { type: 'new' }], catalog, 2);
    expect(out.map((r) => r.type)).toEqual(['trending', 'popular']);
  });
});

describe('labels in reason texts', () => {
  it('the shortcut for tidy short names gives what the rule gives (property)', () => {
    const text = fc.oneof(fc.string({ maxLength: 120 }), fc.string({ unit: fc.constantFrom('a', ' ', '\t', '\n', '\u00a0', '😀', 'é'), maxLength: 120 }));
    fc.assert(fc.property(text, (name) => shortLabel(name) === tidyLabel(name)), { numRuns: 3000 });
    expect(shortLabel('Trail Shoe')).toBe('Trail Shoe');
    expect(shortLabel(`${'word '.repeat(30)}end`)).toMatch(/^(word ){14}word…$/);
  });
});
