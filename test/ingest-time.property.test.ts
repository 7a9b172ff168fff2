/**
 * The fast reading of ISO-8601 times gives what Date.parse gives, for every string: the canonical form
 * Segment libraries send, near misses of it (a wrong character at any position, out-of-range fields,
 * early years, leap days) and anything else.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIsoTime } from '../src/ingest/event.ts';

const same = (v: string): void => {
  const expected = Date.parse(v);
  const got = parseIsoTime(v);
  if (Number.isNaN(expected)) expect(got, v).toBeNaN();
  else expect(got, v).toBe(expected);
};

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

describe('parseIsoTime', () => {
  it('reads every time toISOString writes, with and without milliseconds', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1000, 0, 1), max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }), fc.boolean(), (t, withMs) => {
        const iso = new Date(t).toISOString();
        same(withMs ? iso : iso.slice(0, 19) + 'Z');
        expect(parseIsoTime(iso)).toBe(t);
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with Date.parse on fields of any value, in range or not', () => {
    fc.assert(
      fc.property(
        fc.record({
          year: fc.integer({ min: 0, max: 9999 }),
          month: fc.integer({ min: 0, max: 99 }),
          day: fc.integer({ min: 0, max: 99 }),
          hour: fc.integer({ min: 0, max: 99 }),
          minute: fc.integer({ min: 0, max: 99 }),
          second: fc.integer({ min: 0, max: 99 }),
          ms: fc.option(fc.integer({ min: 0, max: 999 })),
        }),
        ({ year, month, day, hour, minute, second, ms }) => {
          same(`${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}${ms === null ? '' : `.${pad(ms, 3)}`}Z`);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('agrees with Date.parse when any one character of a valid time is replaced', () => {
    const chars = fc.constantFrom(...'0123456789-:.TZtz+ /\u0660\u00a0x'.split(''));
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1000, 0, 1), max: Date.UTC(9999, 0, 1) }), fc.nat(23), chars, (t, at, c) => {
        const iso = new Date(t).toISOString();
        same(iso.slice(0, at) + c + iso.slice(at + 1));
        const short = iso.slice(0, 19) + 'Z';
        if (at < short.length) same(short.slice(0, at) + c + short.slice(at + 1));
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees with Date.parse on leap days, month ends and other forms', () => {
    for (const v of [
      '2024-02-29T12:00:00.000Z', '2023-02-29T12:00:00.000Z', '2026-02-30T00:00:00Z', '2026-04-31T00:00:00Z', '2026-12-31T23:59:59.999Z',
      '2026-01-01T24:00:00Z', '2026-01-01T24:00:00.000Z', '0000-01-01T00:00:00Z', '0099-06-15T00:00:00.000Z', '0999-12-31T23:59:59Z',
      '2026-01-01T00:00:00.1234Z', '2026-01-01T00:00:00.12Z', '2026-01-01T00:00:00+02:00', '2026-01-01T00:00:00.000+0100',
      '2026-01-01', '2026-01-01T00:00', '2026-01-01 00:00:00Z', '+002026-01-01T00:00:00.000Z', '-000001-01-01T00:00:00.000Z',
      'Mon, 07 Dec 2026 04:16:36 GMT', '', 'Z', 'not a time', '2026-01-01T00:00:60Z', '2026-13-01T00:00:00Z', '2026-00-10T00:00:00Z',
    ]) same(v);
    fc.assert(fc.property(fc.string({ maxLength: 30 }), same), { numRuns: 2000 });
  });
});
