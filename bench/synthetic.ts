/**
 * Synthetic shop traffic for benchmarks: power-law (Zipf) popularity of items and activity of
 * people, sessions of a few views with occasional add-to-cart and orders. Seeded, so runs compare.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Samples ranks 0..n-1 with P(k) ∝ 1/(k+1)^s. */
export function zipf(n: number, s: number, rand: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) cdf[k] = sum += 1 / Math.pow(k + 1, s);
  return () => {
    const x = rand() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

export interface SyntheticOptions {
  events: number;
  people: number;
  items: number;
  seed?: number;
  /** event times are spread over this many days, ending now */
  days?: number;
}

const CATEGORIES = ['Shoes > Running', 'Shoes > Trail', 'Shirts', 'Hats', 'Bags', 'Socks', 'Jackets > Rain', 'Jackets > Winter'];

export function syntheticItem(i: number): { itemId: string; properties: Record<string, unknown> } {
  return {
    itemId: `p${i}`,
    properties: { name: `Product ${i}`, category: CATEGORIES[i % CATEGORIES.length], brand: `Brand ${i % 50}`, price: 5 + (i % 200) },
  };
}

/** Segment track events, in time order per person, interleaved across people. */
export function* syntheticEvents(o: SyntheticOptions): Generator<Record<string, unknown>> {
  const rand = mulberry32(o.seed ?? 42);
  const person = zipf(o.people, 0.8, rand);
  const item = zipf(o.items, 1.0, rand);
  const end = Date.now();
  const span = (o.days ?? 30) * 86_400_000;
  let produced = 0;
  let session = 0;
  while (produced < o.events) {
    const p = person();
    const len = 1 + Math.floor(rand() * 8);
    let t = end - span + Math.floor((produced / o.events) * span);
    session++;
    for (let j = 0; j < len && produced < o.events; j++, produced++) {
      const id = `p${item()}`;
      const r = rand();
      t += 5_000 + Math.floor(rand() * 60_000);
      const ts = new Date(Math.min(t, end)).toISOString();
      const messageId = `syn-${o.seed ?? 42}-${produced}`;
      const base = { type: 'track', userId: `u${p}`, timestamp: ts, messageId };
      if (r < 0.85) yield { ...base, event: 'Product Viewed', properties: { product_id: id } };
      else if (r < 0.97) yield { ...base, event: 'Product Added', properties: { product_id: id, price: 20 } };
      else yield { ...base, event: 'Order Completed', properties: { order_id: `o${session}`, products: [{ product_id: id, price: 20, quantity: 1 }], revenue: 20 } };
    }
  }
}
