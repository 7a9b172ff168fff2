import { describe, expect, it } from 'vitest';
import { DecayClock, DecayedSums } from '../src/recommend/decay.ts';

const HOUR = 3_600_000;

describe('decayed sums', () => {
  it('a contribution halves every half-life', () => {
    const sums = new DecayedSums<string>(new DecayClock(HOUR));
    sums.add('x', 8, 0);
    expect(sums.valueAt('x', 0)).toBeCloseTo(8, 12);
    expect(sums.valueAt('x', HOUR)).toBeCloseTo(4, 12);
    expect(sums.valueAt('x', 3 * HOUR)).toBeCloseTo(1, 12);
  });

  it('contributions made at different times add up at their own decay', () => {
    const sums = new DecayedSums<string>(new DecayClock(HOUR));
    sums.add('x', 1, 0);
    sums.add('x', 1, HOUR);
    // at 2h: 1·2^-2 + 1·2^-1
    expect(sums.valueAt('x', 2 * HOUR)).toBeCloseTo(0.75, 12);
  });

  it('subtracting exactly what was added removes the key', () => {
    const sums = new DecayedSums<string>(new DecayClock(HOUR));
    sums.add('x', 0.1, 5 * HOUR);
    sums.add('x', 0.2, 7 * HOUR);
    sums.add('y', 1, 7 * HOUR);
    sums.subtract('x', 0.1, 5 * HOUR);
    sums.subtract('x', 0.2, 7 * HOUR);
    expect(sums.has('x')).toBe(false);
    expect(sums.valueAt('x', 7 * HOUR)).toBe(0);
    expect(sums.size).toBe(1);
  });

  it('rebases far in the future without overflowing and without losing older sums', () => {
    const clock = new DecayClock(HOUR, 8);
    const sums = new DecayedSums<string>(clock);
    sums.add('old', 1, 0);
    sums.add('new', 1, 20 * HOUR);
    // after the rebase the old contribution still reads as 2^-20 at the new time
    expect(sums.valueAt('old', 20 * HOUR)).toBeCloseTo(2 ** -20, 15);
    expect(sums.valueAt('new', 20 * HOUR)).toBeCloseTo(1, 12);
    for (let i = 1; i <= 2000; i++) sums.add('far', 1, i * 10 * HOUR);
    expect(Number.isFinite(sums.valueAt('far', 20_000 * HOUR))).toBe(true);
    expect(sums.valueAt('far', 20_000 * HOUR)).toBeCloseTo(1 / (1 - 2 ** -10), 9);
  });

  it('removal after a rebase still removes the key exactly', () => {
    const clock = new DecayClock(HOUR, 4);
    const sums = new DecayedSums<string>(clock);
    sums.add('x', 3, 0);
    sums.add('y', 1, 100 * HOUR);
    sums.subtract('x', 3, 0);
    expect(sums.has('x')).toBe(false);
  });

  it('reads residues below 1e-9 as zero', () => {
    const sums = new DecayedSums<string>(new DecayClock(HOUR));
    sums.add('x', 1, 0);
    expect(sums.valueAt('x', 40 * HOUR)).toBe(0);
    expect(sums.has('x')).toBe(true);
  });
});
