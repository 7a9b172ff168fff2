/**
 * MurmurHash3 (x86, 32-bit) over the UTF-8 bytes of a string. Assignment and feature hashing need a
 * hash whose low and high bits are all well mixed (FNV-1a's are not without an extra finaliser), that
 * any client library can reproduce bit for bit, and that is cheap for short keys.
 */
const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const encoder = new TextEncoder();

const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));

function scrambleBlock(k: number): number {
  return Math.imul(rotl(Math.imul(k, C1), 15), C2);
}

/** The 32-bit unsigned MurmurHash3 of `input`'s UTF-8 bytes. */
export function murmur3(input: string, seed = 0): number {
  const bytes = encoder.encode(input);
  const length = bytes.length;
  const tailStart = length - (length % 4);
  let h = seed >>> 0;
  for (let i = 0; i < tailStart; i += 4) {
    const k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    h = rotl(h ^ scrambleBlock(k), 13);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = length - tailStart;
  if (tail > 0) {
    let k = bytes[tailStart]!;
    if (tail > 1) k |= bytes[tailStart + 1]! << 8;
    if (tail > 2) k |= bytes[tailStart + 2]! << 16;
    h ^= scrambleBlock(k);
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** `murmur3(input)` scaled to [0, 1): the bucket of a key. */
export const unitHash = (input: string, seed = 0): number => murmur3(input, seed) / 4294967296;
