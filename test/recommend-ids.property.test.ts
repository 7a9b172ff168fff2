/**
 * Handles break ranking ties by the id string: the packed numeric prefixes ItemIds compares first
 * must give exactly the order of JavaScript string comparison, for any ids (empty, prefixes of each
 * other, astral and high code units, long shared prefixes).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ItemIds } from '../src/recommend/item-ids.ts';

const sign = (x: number): number => (x < 0 ? -1 : x > 0 ? 1 : 0);

describe('item handle tie order', () => {
  it('is string order', () => {
    const unit = fc.oneof(fc.constantFrom('', 'a', 'p1', 'SKU-0001', 'SKU-0001-', '\uffff', '\u0000', 'é'), fc.string({ unit: 'binary', maxLength: 9 }));
    fc.assert(
      fc.property(fc.array(fc.tuple(unit, unit).map(([a, b]) => a + b), { minLength: 2, maxLength: 30 }), (list) => {
        const ids = new ItemIds();
        const handles = list.map((id) => ids.intern(id));
        for (let i = 0; i < list.length; i++) {
          for (let j = 0; j < list.length; j++) {
            const want = list[i]! < list[j]! ? -1 : list[i]! > list[j]! ? 1 : 0;
            expect(sign(ids.compare(handles[i]!, handles[j]!))).toBe(want);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('memoises a session item\'s handle, never trusting one another instance set', () => {
    const a = new ItemIds();
    const b = new ItemIds();
    b.intern('other');
    const item = { itemId: 'shoe', kind: 'view' as const, t: 0, weight: 1 };
    expect(a.internItem(item)).toBe(0);
    expect(item).toMatchObject({ handle: 0 });
    // in b, handle 0 is 'other': the memo is checked against the id and replaced
    expect(b.internItem(item)).toBe(1);
    expect(b.idOf(1)).toBe('shoe');
    expect(a.internItem(item)).toBe(0);
  });
});
