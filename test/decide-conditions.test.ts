import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONDITION_LIMITS, evaluate, resolvePath, validateCondition, type Facts } from '../src/decide/conditions.ts';

const facts: Facts = {
  traits: { plan: 'pro', age: 34, vip: true, email: 'ann@example.com', deleted: null, tags: ['a', 'b'] },
  features: { rfm: { frequency: 3, monetary: 120.5 }, recentlyViewed: [{ itemId: 'p1' }], lastSeen: '2025-03-01T10:00:00.000Z' },
  segments: ['buyer', 'active_7d'],
  context: { page: { path: '/checkout' }, locale: 'en-GB' },
};

describe('condition evaluation', () => {
  const table: Array<[string, unknown, boolean]> = [
    ['== on a string trait', { path: 'traits.plan', op: '==', value: 'pro' }, true],
    ['== never coerces a number to a string', { path: 'traits.age', op: '==', value: '34' }, false],
    ['== on a boolean', { path: 'traits.vip', op: '==', value: true }, true],
    ['== null matches an explicit null', { path: 'traits.deleted', op: '==', value: null }, true],
    ['== on a missing path is false', { path: 'traits.missing', op: '==', value: 'x' }, false],
    ['!= on a different value', { path: 'traits.plan', op: '!=', value: 'free' }, true],
    ['!= on a missing path is true (it is not ==)', { path: 'traits.missing', op: '!=', value: 'x' }, true],
    ['< on numbers', { path: 'traits.age', op: '<', value: 40 }, true],
    ['<= on equal numbers', { path: 'traits.age', op: '<=', value: 34 }, true],
    ['> on nested numbers', { path: 'features.rfm.monetary', op: '>', value: 100 }, true],
    ['>= false below', { path: 'features.rfm.frequency', op: '>=', value: 4 }, false],
    ['> on ISO timestamps compares chronologically', { path: 'features.lastSeen', op: '>', value: '2025-02-28T00:00:00Z' }, true],
    ['ordering across types is false', { path: 'traits.plan', op: '>', value: 3 }, false],
    ['in with a scalar fact', { path: 'traits.plan', op: 'in', value: ['pro', 'team'] }, true],
    ['in with an array fact means any element', { path: 'segments', op: 'in', value: ['vip', 'buyer'] }, true],
    ['in with no overlap', { path: 'segments', op: 'in', value: ['vip'] }, false],
    ['contains on an array', { path: 'segments', op: 'contains', value: 'active_7d' }, true],
    ['contains on a string is a substring test', { path: 'context.page.path', op: 'contains', value: 'check' }, true],
    ['contains on a number is false', { path: 'traits.age', op: 'contains', value: 3 }, false],
    ['exists on a present value', { path: 'traits.email', op: 'exists' }, true],
    ['exists on null is false', { path: 'traits.deleted', op: 'exists' }, false],
    ['exists on a missing root', { path: 'context.campaign', op: 'exists' }, false],
    ['numeric steps index arrays', { path: 'features.recentlyViewed.0.itemId', op: '==', value: 'p1' }, true],
    ['and of true and true', { and: [{ path: 'traits.vip', op: '==', value: true }, { path: 'segments', op: 'contains', value: 'buyer' }] }, true],
    ['and with a false member', { and: [{ path: 'traits.vip', op: '==', value: true }, { path: 'traits.age', op: '>', value: 50 }] }, false],
    ['empty and is true', { and: [] }, true],
    ['or with one true member', { or: [{ path: 'traits.age', op: '>', value: 50 }, { path: 'context.locale', op: '==', value: 'en-GB' }] }, true],
    ['empty or is false', { or: [] }, false],
    ['not', { not: { path: 'segments', op: 'contains', value: 'cart_abandoner' } }, true],
    ['inherited properties resolve to nothing', { path: 'traits.toString', op: 'exists' }, false],
  ];
  it.each(table)('%s', (_name, condition, expected) => {
    expect(validateCondition(condition)).toEqual({ ok: true });
    expect(evaluate(condition, facts)).toBe(expected);
  });

  it('a malformed condition is false as a whole, even under not', () => {
    expect(evaluate({ not: { path: 'traits.plan', op: 'like', value: 'p%' } }, facts)).toBe(false);
    expect(evaluate({ or: [{ and: [] }, { bogus: 1 }] }, facts)).toBe(false);
    expect(evaluate('traits.plan == pro', facts)).toBe(false);
  });

  it('evaluating a condition nested past the depth limit is false, not a stack overflow', () => {
    let deep: unknown = { path: 'traits.vip', op: '==', value: true };
    for (let i = 0; i < 10_000; i++) deep = { not: { not: deep } };
    expect(evaluate(deep, facts)).toBe(false);
  });

  it('evaluate never throws, whatever the condition and facts', () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), (condition, anyFacts) => {
        expect(typeof evaluate(condition, anyFacts as Facts)).toBe('boolean');
      }),
      { numRuns: 500 },
    );
  });

  it('evaluate never throws on facts whose getters throw', () => {
    const hostile = { traits: Object.defineProperty({}, 'plan', { get: () => { throw new Error('boom'); }, enumerable: true }) };
    expect(evaluate({ path: 'traits.plan', op: '==', value: 'pro' }, hostile)).toBe(false);
  });

  it('resolvePath follows own properties only', () => {
    expect(resolvePath(facts, 'traits.plan')).toBe('pro');
    expect(resolvePath(facts, 'traits.toString')).toBeUndefined();
    expect(resolvePath(facts, 'segments.1')).toBe('active_7d');
    expect(resolvePath(facts, 'segments.x')).toBeUndefined();
  });
});

describe('condition validation', () => {
  const errorsOf = (c: unknown) => {
    const v = validateCondition(c);
    return v.ok ? [] : v.errors;
  };
  const table: Array<[string, unknown, { path: string; message: RegExp }]> = [
    ['a non-object', 'plan == pro', { path: '', message: /expected an object/ }],
    ['an unknown shape', { var: 'traits.plan' }, { path: '', message: /unrecognised condition/ }],
    ['an unknown root', { path: 'trait.plan', op: '==', value: 'pro' }, { path: '/path', message: /must start with one of traits, features, segments, context \(got 'trait'\)/ }],
    ['an empty step', { path: 'traits..plan', op: 'exists' }, { path: '/path', message: /step 2 is empty/ }],
    ['a prototype step', { path: 'traits.__proto__', op: 'exists' }, { path: '/path', message: /may not use '__proto__'/ }],
    ['a path that is not a string', { path: 3, op: 'exists' }, { path: '/path', message: /must be a string/ }],
    ['an unknown op', { path: 'traits.plan', op: 'eq', value: 'pro' }, { path: '/op', message: /op must be one of ==, !=, <, <=, >, >=, in, contains, exists \(got 'eq'\)/ }],
    ['a missing value', { path: 'traits.plan', op: '==' }, { path: '/value', message: /'==' needs a value/ }],
    ['exists with a value', { path: 'traits.plan', op: 'exists', value: false }, { path: '/value', message: /'exists' takes no value/ }],
    ['in without an array', { path: 'traits.plan', op: 'in', value: 'pro' }, { path: '/value', message: /'in' needs an array/ }],
    ['in with an object member', { path: 'traits.plan', op: 'in', value: [{}] }, { path: '/value', message: /'in' needs an array/ }],
    ['< with a boolean', { path: 'traits.age', op: '<', value: true }, { path: '/value', message: /'<' needs a number or a string/ }],
    ['== with an object', { path: 'traits.plan', op: '==', value: { a: 1 } }, { path: '/value', message: /needs a string, number, boolean or null/ }],
    ['an extra key', { path: 'traits.plan', op: '==', value: 'pro', negate: true }, { path: '/negate', message: /unknown key 'negate'/ }],
    ['and that is not an array', { and: { path: 'traits.plan', op: 'exists' } }, { path: '/and', message: /'and' must be an array/ }],
    ['a combinator with another key', { not: { path: 'traits.plan', op: 'exists' }, op: '==' }, { path: '/op', message: /may have no other key/ }],
    ['a bad member deep inside', { and: [{ path: 'traits.plan', op: 'exists' }, { or: [{ path: 'x.y', op: 'exists' }] }] }, { path: '/and/1/or/0/path', message: /must start with/ }],
  ];
  it.each(table)('reports %s with its JSON pointer', (_name, condition, expected) => {
    const errors = errorsOf(condition);
    expect(errors).toContainEqual({ path: expected.path, message: expect.stringMatching(expected.message) });
  });

  it('reports every problem of a condition at once', () => {
    const errors = errorsOf({ and: [{ path: 'nope', op: '==', value: 1 }, { path: 'traits.a', op: '??' }] });
    expect(errors.map((e) => e.path)).toEqual(['/and/0/path', '/and/1/op']);
  });

  it('limits depth, size and list length', () => {
    let deep: unknown = { path: 'traits.vip', op: 'exists' };
    for (let i = 0; i < CONDITION_LIMITS.depth + 1; i++) deep = { not: deep };
    expect(errorsOf(deep)[0]?.message).toMatch(/deeper than/);
    const wide = { or: Array.from({ length: CONDITION_LIMITS.nodes + 5 }, () => ({ path: 'traits.a', op: 'exists' })) };
    expect(errorsOf(wide).some((e) => /more than 256 nodes/.test(e.message))).toBe(true);
    const long = { path: 'traits.a', op: 'in', value: Array.from({ length: CONDITION_LIMITS.inValues + 1 }, (_, i) => i) };
    expect(errorsOf(long)[0]?.message).toMatch(/at most 1000 values/);
  });

  it('validation never throws and caps the number of errors', () => {
    fc.assert(
      fc.property(fc.anything(), (x) => {
        const v = validateCondition(x);
        if (!v.ok) expect(v.errors.length).toBeLessThanOrEqual(CONDITION_LIMITS.errors);
      }),
      { numRuns: 500 },
    );
  });

  it('a valid condition survives a JSON round trip unchanged in meaning', () => {
    const c = { and: [{ path: 'traits.plan', op: 'in', value: ['pro', null] }, { not: { path: 'segments', op: 'contains', value: 'x' } }] };
    const copy: unknown = JSON.parse(JSON.stringify(c));
    expect(validateCondition(copy)).toEqual({ ok: true });
    expect(evaluate(copy, facts)).toBe(evaluate(c, facts));
  });
});
