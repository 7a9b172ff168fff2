import { describe, expect, it } from 'vitest';
import { PairCounts } from '../src/recommend/candidates/pair-counts.ts';
import { DecayClock, DecayedSums } from '../src/recommend/decay.ts';

const HOUR = 3_600_000;
// item handles
const [X, Y, OLD, NEW, FAR] = [0, 1, 2, 3, 5000];

describe('decayed sums', () => {
  it('a contribution halves every half-life', () => {
    const sums = new DecayedSums(new DecayClock(HOUR));
    sums.add(X, 8, 0);
    expect(sums.valueAt(X, 0)).toBeCloseTo(8, 12);
    expect(sums.valueAt(X, HOUR)).toBeCloseTo(4, 12);
    expect(sums.valueAt(X, 3 * HOUR)).toBeCloseTo(1, 12);
  });

  it('contributions made at different times add up at their own decay', () => {
    const sums = new DecayedSums(new DecayClock(HOUR));
    sums.add(X, 1, 0);
    sums.add(X, 1, HOUR);
    // at 2h: 1·2^-2 + 1·2^-1
    expect(sums.valueAt(X, 2 * HOUR)).toBeCloseTo(0.75, 12);
  });

  it('subtracting exactly what was added removes the key', () => {
    const sums = new DecayedSums(new DecayClock(HOUR));
    sums.add(X, 0.1, 5 * HOUR);
    sums.add(X, 0.2, 7 * HOUR);
    sums.add(Y, 1, 7 * HOUR);
    sums.subtract(X, 0.1, 5 * HOUR);
    sums.subtract(X, 0.2, 7 * HOUR);
    expect(sums.has(X)).toBe(false);
    expect(sums.valueAt(X, 7 * HOUR)).toBe(0);
    expect(sums.size).toBe(1);
  });

  it('rebases far in the future without overflowing and without losing older sums', () => {
    const clock = new DecayClock(HOUR, 8);
    const sums = new DecayedSums(clock);
    sums.add(OLD, 1, 0);
    sums.add(NEW, 1, 20 * HOUR);
    // after the rebase the old contribution still reads as 2^-20 at the new time
    expect(sums.valueAt(OLD, 20 * HOUR)).toBeCloseTo(2 ** -20, 15);
    expect(sums.valueAt(NEW, 20 * HOUR)).toBeCloseTo(1, 12);
    for (let i = 1; i <= 2000; i++) sums.add(FAR, 1, i * 10 * HOUR);
    expect(Number.isFinite(sums.valueAt(FAR, 20_000 * HOUR))).toBe(true);
    expect(sums.valueAt(FAR, 20_000 * HOUR)).toBeCloseTo(1 / (1 - 2 ** -10), 9);
  });

  it('removal after a rebase still removes the key exactly', () => {
    const clock = new DecayClock(HOUR, 4);
    const sums = new DecayedSums(clock);
    sums.add(X, 3, 0);
    sums.add(Y, 1, 100 * HOUR);
    sums.subtract(X, 3, 0);
    expect(sums.has(X)).toBe(false);
  });

  it('taking back a new contribution after a rebase leaves the old ones as a restart without it builds them', () => {
    // live: two old sums, then a contribution far later (rebasing the clock) that is taken back, as an
    // opt-out or erasure does; a restart never sees it. Stored values are read relative to each other
    // (what ranking compares), since the two clocks have different anchors.
    const live = new DecayedSums(new DecayClock(HOUR, 64));
    const restart = new DecayedSums(new DecayClock(HOUR, 64));
    for (const s of [live, restart]) {
      s.add(X, 1, 0);
      s.add(Y, 2, HOUR);
    }
    live.add(X, 5, 100 * HOUR);
    live.subtract(X, 5, 100 * HOUR);
    const stored = (s: DecayedSums): Map<number, number> => {
      const out = new Map<number, number>();
      s.forEachStored((h, v) => out.set(h, v));
      return out;
    };
    const [l, r] = [stored(live), stored(restart)];
    // plain floating point gave X = 0 here: old + new − new with old 2^-100 times new
    expect(l.get(X)! / l.get(Y)!).toBe(r.get(X)! / r.get(Y)!);
  });

  it('pair weights keep an old pair when a new contribution to it is taken back after a rebase', () => {
    const live = new PairCounts(new DecayClock(HOUR, 64));
    const restart = new PairCounts(new DecayClock(HOUR, 64));
    for (const p of [live, restart]) {
      p.add(X, Y, 1, 0);
      p.add(X, OLD, 1, 0);
    }
    live.add(X, Y, 1, 100 * HOUR);
    live.subtract(X, Y, 1, 100 * HOUR);
    const neighbours = (p: PairCounts): Map<number, number> => {
      const out = new Map<number, number>();
      p.forEachNeighbour(X, (n, w) => out.set(n, w));
      return out;
    };
    const [l, r] = [neighbours(live), neighbours(restart)];
    expect(l.get(Y)! / l.get(OLD)!).toBe(r.get(Y)! / r.get(OLD)!);
  });

  it('reads residues below 1e-9 as zero', () => {
    const sums = new DecayedSums(new DecayClock(HOUR));
    sums.add(X, 1, 0);
    expect(sums.valueAt(X, 40 * HOUR)).toBe(0);
    expect(sums.has(X)).toBe(true);
  });

  it('visits the present handles only, with their stored values', () => {
    const sums = new DecayedSums(new DecayClock(HOUR));
    sums.add(3, 1, 0);
    sums.add(2000, 2, 0);
    sums.add(7, 1, 0);
    sums.subtract(7, 1, 0);
    const seen: Array<[number, number]> = [];
    sums.forEachStored((h, stored) => seen.push([h, stored * sums.clock.factorAt(0)]));
    expect(seen).toEqual([[3, 1], [2000, 2]]);
    expect(sums.size).toBe(2);
    expect(sums.subtract(7, 1, 0)).toBe(false);
    expect(sums.has(-1) || sums.has(1_000_000)).toBe(false);
  });
});
