/**
 * parseIsoTime reads ISO-8601 / RFC 3339 times strictly: every time toISOString writes, dates and
 * date-times with or without seconds, fractions and zones; never a free-form string or a field that
 * does not exist (which Date.parse takes, or rolls over into the next month). Where both read a
 * string that carries its zone, they agree.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_TIME_MS, parseIsoTime } from '../src/iso-time.ts';

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** the fields of a valid time give back the same fields once written by toISOString */
const roundTrips = (v: string, t: number): boolean => Number.isFinite(t) && new Date(t).toISOString().slice(0, 19) === v.slice(0, 19);

describe('parseIsoTime', () => {
  it('reads every time toISOString writes, with and without milliseconds', () => {
    fc.assert(
      fc.property(fc.integer({ min: -MAX_TIME_MS, max: MAX_TIME_MS }), fc.boolean(), (t, withMs) => {
        const iso = new Date(t).toISOString();
        expect(parseIsoTime(iso)).toBe(t);
        expect(parseIsoTime(withMs ? iso : iso.replace(/\.\d{3}Z$/, 'Z'))).toBe(withMs ? t : t - (((t % 1000) + 1000) % 1000));
      }),
      { numRuns: 2000 },
    );
  });

  it('takes fields only where they name a real time, and then agrees with Date.parse', () => {
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
          const v = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}${ms === null ? '' : `.${pad(ms, 3)}`}Z`;
          const d = new Date(0);
          d.setUTCFullYear(year, month - 1, day);
          d.setUTCHours(hour, minute, second, ms ?? 0);
          const real = roundTrips(v, d.getTime());
          const got = parseIsoTime(v);
          if (real) {
            expect(got, v).toBe(d.getTime());
            // Date.parse reads years 0–99 as they are in this form too
            expect(got, v).toBe(Date.parse(v));
          } else expect(got, v).toBeNaN();
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('with any one character of a valid time replaced: refused, or read as Date.parse reads it', () => {
    const chars = fc.constantFrom(...'0123456789-:.TZtz+ /\u0660\u00a0x'.split(''));
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1000, 0, 1), max: Date.UTC(9999, 0, 1) }), fc.nat(23), chars, (t, at, c) => {
        const iso = new Date(t).toISOString();
        for (const base of [iso, iso.slice(0, 19) + 'Z']) {
          if (at >= base.length) continue;
          const v = base.slice(0, at) + c + base.slice(at + 1);
          const got = parseIsoTime(v);
          // every string still read here carries its zone (the last character is untouched, or a z)
          if (!Number.isNaN(got)) expect(got, v).toBe(Date.parse(v));
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('reads the forms RFC 3339 and ISO-8601 allow, and refuses what Date.parse would guess at', () => {
    const at = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number => Date.UTC(y, mo - 1, d, h, mi, s, ms);
    const cases: Array<[string, number]> = [
      ['2024-02-29T12:00:00.000Z', at(2024, 2, 29, 12)],
      ['2026-12-31T23:59:59.999Z', at(2026, 12, 31, 23, 59, 59, 999)],
      ['2026-01-01', at(2026, 1, 1)],
      ['2026-01-01T10:20', at(2026, 1, 1, 10, 20)],
      ['2026-01-01 10:20:30', at(2026, 1, 1, 10, 20, 30)],
      ['2026-01-01T10:20:30z', at(2026, 1, 1, 10, 20, 30)],
      ['2026-01-01T00:00:00.1234Z', at(2026, 1, 1, 0, 0, 0, 123)],
      ['2026-01-01T00:00:00,5Z', at(2026, 1, 1, 0, 0, 0, 500)],
      ['2026-01-01T00:00:00+02:00', at(2025, 12, 31, 22)],
      ['2026-01-01T00:00:00.000-0130', at(2026, 1, 1, 1, 30)],
      ['2026-01-01T00:00:00+05', at(2025, 12, 31, 19)],
      ['+002026-01-01T00:00:00.000Z', at(2026, 1, 1)],
      ['-000001-01-01T00:00:00.000Z', Date.parse('-000001-01-01T00:00:00.000Z')],
      ['-271821-04-20T00:00:00.000Z', -MAX_TIME_MS],
      ['+275760-09-13T00:00:00.000Z', MAX_TIME_MS],
    ];
    for (const [v, t] of cases) expect(parseIsoTime(v), v).toBe(t);
    const year99 = parseIsoTime('0099-06-15T00:00:00Z');
    expect(new Date(year99).getUTCFullYear()).toBe(99);
    for (const v of [
      '2023-02-29T12:00:00.000Z', '2026-02-30T00:00:00Z', '2026-04-31T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T00:00:60Z',
      '2026-13-01T00:00:00Z', '2026-00-10T00:00:00Z', '2026-01-00', '2026-01-01T00:00:00+24:00', '2026-01-01T00:00:00+02:60',
      '+275760-09-13T00:00:00.001Z', '-271821-04-19T23:59:59.999Z', '-000000-01-01T00:00:00Z',
      'Mon, 07 Dec 2026 04:16:36 GMT', 'July 4', 'foo 2026', '0', '1700000000', '2026', '2026-1-2', '2026-01-01T1:00', '', 'Z', 'not a time',
    ]) expect(parseIsoTime(v), v).toBeNaN();
  });

  it('never reads a random string Date.parse refuses', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (v) => {
        if (Number.isNaN(Date.parse(v))) expect(parseIsoTime(v)).toBeNaN();
      }),
      { numRuns: 2000 },
    );
  });
});
