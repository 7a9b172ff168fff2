/**
 * Seeded randomness. Decisions, simulations and statistical tests take a `Random` instead of calling
 * Math.random so that a seed reproduces a run exactly (tests, benchmarks, OPE replays), while the
 * server may still inject any source it likes.
 */
import { murmur3 } from '../experiments/hash.ts';

/** Uniform on [0, 1), like Math.random. */
export type Random = () => number;

/**
 * SFC32 (Chris Doty-Humphrey's small fast chaotic generator, public domain): 128 bits of state,
 * passes PractRand, and needs only 32-bit integer operations — which is what JavaScript does fast.
 */
export function seededRandom(seed: number | string): Random {
  const s = String(seed);
  let a = murmur3(s, 1);
  let b = murmur3(s, 2);
  let c = murmur3(s, 3);
  let d = 1;
  const next: Random = () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = ((c << 21) | (c >>> 11)) + t;
    c |= 0;
    return (t >>> 0) / 4294967296;
  };
  // the first outputs of a fresh state are still correlated with the seed
  for (let i = 0; i < 15; i++) next();
  return next;
}

/** An integer in [0, n). */
export const randomInt = (random: Random, n: number): number => Math.min(n - 1, Math.floor(random() * n));
