/**
 * A small deterministic random source: the same seed string always gives the same sequence, so
 * exploration is reproducible per request (and testable). Not for anything security-related.
 */
export type Random = () => number;

/** FNV-1a over UTF-16 code units: spreads similar seeds apart */
function hashSeed(seed: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** uniform numbers in [0, 1): a Weyl sequence passed through a 32-bit avalanche mix */
export function seededRandom(seed: string): Random {
  let state = hashSeed(seed);
  return () => {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    return (z >>> 0) / 4294967296;
  };
}
