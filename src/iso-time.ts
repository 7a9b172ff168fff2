/**
 * Reading ISO-8601 times strictly: what clients send as event times, item creation dates and the
 * like. `Date.parse` alone would take free-form strings (`July 4`, `0`) and roll impossible days
 * over into the next month.
 */

/** the two-digit number at `at`, or -1 when either character is not a digit */
function twoDigits(v: string, at: number): number {
  const a = v.charCodeAt(at) - 48;
  const b = v.charCodeAt(at + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/** the largest distance from the epoch a JavaScript date can hold, in ms */
export const MAX_TIME_MS = 8.64e15;

/**
 * An ISO-8601 / RFC 3339 date or date-time: year (4 digits, or 6 with a sign), month, day, then
 * optionally `T` (or a space), hours and minutes, seconds, a fraction, and `Z` or an offset.
 */
const ISO_TIME = /^([+-]\d{6}|\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/**
 * Milliseconds since the epoch of an ISO-8601 time, or NaN when the string is not one or names a
 * day, hour, minute or second that does not exist. A time without a zone is read as UTC (a
 * server's own zone says nothing about its clients). The form every Segment library sends,
 * `YYYY-MM-DDTHH:MM:SS.sssZ` (or without the milliseconds), is read by a fast path first.
 */
export function parseIsoTime(v: string): number {
  const n = v.length;
  if ((n === 24 || n === 20) && v.charCodeAt(n - 1) === 90 /* Z */ && v.charCodeAt(4) === 45 && v.charCodeAt(7) === 45 && v.charCodeAt(10) === 84 /* T */ && v.charCodeAt(13) === 58 && v.charCodeAt(16) === 58) {
    const century = twoDigits(v, 0);
    const year = twoDigits(v, 2);
    const month = twoDigits(v, 5);
    const day = twoDigits(v, 8);
    const hour = twoDigits(v, 11);
    const minute = twoDigits(v, 14);
    const second = twoDigits(v, 17);
    let ms = 0;
    if (n === 24) {
      const c = v.charCodeAt(22) - 48;
      ms = v.charCodeAt(19) === 46 /* . */ && c >= 0 && c <= 9 ? twoDigits(v, 20) : -1;
      ms = ms < 0 ? -1 : ms * 10 + c;
    }
    if (century >= 10 && year >= 0 && month >= 1 && month <= 12 && day >= 1 && day <= 28 && hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59 && second >= 0 && second <= 59 && ms >= 0) {
      return Date.UTC(century * 100 + year, month - 1, day, hour, minute, second, ms);
    }
  }
  return strictIsoTime(v);
}

function strictIsoTime(v: string): number {
  const m = ISO_TIME.exec(v);
  if (!m) return NaN;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  const minute = m[5] === undefined ? 0 : Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  if (m[1] === '-000000' || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return NaN;
  let offset = 0;
  const zone = m[8];
  if (zone !== undefined && zone.toUpperCase() !== 'Z') {
    const hours = Number(zone.slice(1, 3));
    const minutes = zone.length > 3 ? Number(zone.slice(-2)) : 0;
    if (hours > 23 || minutes > 59) return NaN;
    offset = (zone[0] === '-' ? -1 : 1) * (hours * 60 + minutes) * 60_000;
  }
  // setUTCFullYear, not Date.UTC, which reads years 0–99 as 1900–1999
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  if (d.getUTCDate() !== day) return NaN; // the 30th of February, say
  const t = d.getTime() + ((hour * 60 + minute) * 60 + second) * 1000 + ms - offset;
  return Math.abs(t) <= MAX_TIME_MS ? t : NaN;
}
