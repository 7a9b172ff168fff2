import { describe, expect, it } from 'vitest';
import { isLive, validateAction } from '../src/decide/action.ts';

const valid = {
  placements: ['home_banner'],
  channel: 'web',
  content: { title: 'Free shipping this week', url: '/promo' },
  eligibility: { path: 'segments', op: 'contains', value: 'buyer' },
  frequencyCaps: [{ count: 3, periodSeconds: 86_400, scope: 'action' }],
  value: 2.5,
  validFrom: '2025-01-01',
  validUntil: '2025-02-01T00:00:00Z',
  exclusiveGroup: 'shipping_promos',
};

const detailsOf = (body: unknown) => {
  const v = validateAction(body);
  return v.ok ? [] : v.details;
};

describe('action validation', () => {
  it('accepts a complete action and a minimal one', () => {
    expect(validateAction(valid)).toEqual({ ok: true, action: valid });
    expect(validateAction({ placements: ['p'], channel: 'push', content: {} }).ok).toBe(true);
  });

  const table: Array<[string, unknown, { field: string; message: RegExp }]> = [
    ['a missing channel', { placements: ['p'], content: {} }, { field: '/channel', message: /is required/ }],
    ['an unknown channel', { ...valid, channel: 'fax' }, { field: '/channel', message: /must be one of web, in_app, email, push, sms/ }],
    ['no placement', { ...valid, placements: [] }, { field: '/placements', message: /fewer than 1/ }],
    ['repeated placements', { ...valid, placements: ['a', 'a'] }, { field: '/placements', message: /duplicate/ }],
    ['content that is not an object', { ...valid, content: 'hi' }, { field: '/content', message: /must be object/ }],
    ['a cap with count 0', { ...valid, frequencyCaps: [{ count: 0, periodSeconds: 60, scope: 'all' }] }, { field: '/frequencyCaps/0/count', message: />= 1/ }],
    ['a cap with an unknown scope', { ...valid, frequencyCaps: [{ count: 1, periodSeconds: 60, scope: 'person' }] }, { field: '/frequencyCaps/0/scope', message: /must be one of action, channel, all/ }],
    ['a fractional cap period', { ...valid, frequencyCaps: [{ count: 1, periodSeconds: 1.5, scope: 'all' }] }, { field: '/frequencyCaps/0/periodSeconds', message: /integer/ }],
    ['a negative value', { ...valid, value: -1 }, { field: '/value', message: />= 0/ }],
    ['a misspelt field', { ...valid, frequencyCap: [] }, { field: '/frequencyCap', message: /not a known field/ }],
    ['a date that is not ISO', { ...valid, validFrom: 'next tuesday' }, { field: '/validFrom', message: /ISO-8601/ }],
    ['a date-time without a zone', { ...valid, validUntil: '2025-02-01T00:00:00' }, { field: '/validUntil', message: /with a zone/ }],
    ['an impossible date', { ...valid, validFrom: '2025-13-45' }, { field: '/validFrom', message: /ISO-8601/ }],
    ['a window that ends before it starts', { ...valid, validFrom: '2025-03-01', validUntil: '2025-02-01' }, { field: '/validUntil', message: /later than validFrom/ }],
    ['a bad eligibility condition', { ...valid, eligibility: { and: [{ path: 'traits.plan', op: 'like', value: 'x' }] } }, { field: '/eligibility/and/0/op', message: /op must be one of/ }],
    ['an eligibility that is an array', { ...valid, eligibility: [] }, { field: '/eligibility', message: /must be object/ }],
    ['huge content', { ...valid, content: { blob: 'x'.repeat(20_000) } }, { field: '/content', message: /at most 16384 bytes/ }],
  ];
  it.each(table)('rejects %s, naming the field', (_name, body, expected) => {
    expect(detailsOf(body)).toContainEqual({ field: expected.field, message: expect.stringMatching(expected.message) });
  });

  it('reports several problems of one body together', () => {
    const details = detailsOf({ ...valid, validFrom: 'soon', eligibility: { path: 'nope', op: 'exists' } });
    expect(details.map((d) => d.field).sort()).toEqual(['/eligibility/path', '/validFrom']);
  });
});

describe('validity window', () => {
  const window = { validFrom: '2025-01-01T00:00:00Z', validUntil: '2025-01-02T00:00:00Z' };
  it.each([
    ['before validFrom', Date.parse('2024-12-31T23:59:59Z'), false],
    ['at validFrom', Date.parse('2025-01-01T00:00:00Z'), true],
    ['inside', Date.parse('2025-01-01T12:00:00Z'), true],
    ['at validUntil (exclusive)', Date.parse('2025-01-02T00:00:00Z'), false],
  ])('%s', (_name, now, live) => {
    expect(isLive(window, now)).toBe(live);
  });

  it('an open window is always live', () => {
    expect(isLive({}, 0)).toBe(true);
  });
});
