import { describe, expect, it } from 'vitest';
import { buildFeatures } from '../src/decide/features.ts';
import { seededRandom } from '../src/decide/random.ts';

const nonZero = (x: number[]): number => x.filter((v) => v !== 0).length;
const tailNorm = (x: number[]): number => Math.hypot(...x.slice(1));

describe('feature builder', () => {
  it('an empty context is the bias alone', () => {
    const x = buildFeatures({}, { dims: 16 });
    expect(x).toHaveLength(16);
    expect(x[0]).toBe(1);
    expect(nonZero(x)).toBe(1);
  });

  it('has a fixed length, a bias of 1 and a unit-length rest', () => {
    const x = buildFeatures(
      {
        segments: ['buyer', 'active_7d'],
        context: { channel: 'web', locale: 'en-GB', device: { type: 'mobile' } },
        features: { rfm: { frequency: 4, monetary: 1234.5 }, categoryAffinity: { Shoes: 3.2, Bags: 0.4 }, sessions: { count: 7 } },
      },
      { dims: 64 },
    );
    expect(x).toHaveLength(64);
    expect(x[0]).toBe(1);
    expect(tailNorm(x)).toBeCloseTo(1, 12);
    expect(x.every(Number.isFinite)).toBe(true);
  });

  it('is a pure function of the facts', () => {
    const facts = { segments: ['vip'], traits: { plan: 'pro' }, context: { channel: 'email' } };
    expect(buildFeatures(facts)).toEqual(buildFeatures(JSON.parse(JSON.stringify(facts))));
  });

  it('distinguishes different segments', () => {
    expect(buildFeatures({ segments: ['a'] })).not.toEqual(buildFeatures({ segments: ['b'] }));
  });

  it('stays bounded whatever the input: huge numbers, long arrays, odd values', () => {
    const x = buildFeatures({
      segments: Array.from({ length: 10_000 }, (_, i) => `s${i}`),
      features: { rfm: { frequency: Number.MAX_VALUE, monetary: -1e300 }, categoryAffinity: { a: Infinity, b: NaN, c: 'x', d: 1 } },
      context: { channel: { nested: true } },
    } as never);
    expect(x.every(Number.isFinite)).toBe(true);
    expect(tailNorm(x)).toBeCloseTo(1, 12);
  });

  it('uses only the configured paths', () => {
    const specs = [{ path: 'traits.plan', kind: 'categorical' as const }];
    expect(nonZero(buildFeatures({ traits: { plan: 'pro' }, segments: ['x'] }, { dims: 8, specs }))).toBe(2);
    expect(buildFeatures({ segments: ['x'] }, { dims: 8, specs })).toEqual(buildFeatures({}, { dims: 8, specs }));
  });
});

describe('seeded randomness', () => {
  it('a seed reproduces its sequence and different seeds differ', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const c = seededRandom(43);
    const xs = Array.from({ length: 5 }, a);
    expect(Array.from({ length: 5 }, b)).toEqual(xs);
    expect(Array.from({ length: 5 }, c)).not.toEqual(xs);
  });

  it('is uniform on [0, 1)', () => {
    const random = seededRandom('moments');
    const n = 100_000;
    let sum = 0;
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < n; i++) {
      const u = random();
      expect(u >= 0 && u < 1).toBe(true);
      sum += u;
      buckets[Math.floor(u * 10)]!++;
    }
    expect(sum / n).toBeCloseTo(0.5, 2);
    // each decile within 5 standard deviations of n/10
    for (const b of buckets) expect(Math.abs(b - n / 10)).toBeLessThan(5 * Math.sqrt(n * 0.09));
  });
});
