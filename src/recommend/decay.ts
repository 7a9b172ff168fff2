/**
 * Exponentially time-decayed sums that never need a sweep over old entries.
 *
 * A contribution w made at time t is stored as w·2^((t − anchor)/halfLife); reading a sum at `now`
 * multiplies by the one shared factor 2^((anchor − now)/halfLife). The anchor is fixed, so adding
 * and subtracting the same contribution are exact inverses. When a new contribution's exponent grows
 * past `maxExponent` the anchor jumps forward by a whole number of half-lives: every stored value
 * is then multiplied by a power of two, which floating point does exactly, and nothing overflows.
 *
 * Whether a key still exists is decided by a contribution count, not by the value: a sum whose
 * contributions were all removed is gone even if rounding left a residue, and a sum of genuinely
 * old (tiny) contributions is not mistaken for an empty one.
 */
export class DecayClock {
  private anchor: number | undefined;
  private readonly rescalers: Array<(factor: number) => void> = [];

  constructor(
    readonly halfLifeMs: number,
    private readonly maxExponent = 64,
  ) {
    if (!(halfLifeMs > 0)) throw new RangeError('halfLifeMs must be positive');
  }

  /** registers a holder of stored values, called with the factor to multiply them by on a rebase */
  onRebase(rescale: (factor: number) => void): void {
    this.rescalers.push(rescale);
  }

  /** the stored weight of one unit contributed at `t`, rebasing first if `t` is far past the anchor */
  unitAt(t: number): number {
    if (this.anchor === undefined) this.anchor = t;
    let exponent = (t - this.anchor) / this.halfLifeMs;
    if (exponent > this.maxExponent) {
      const halvings = Math.floor(exponent);
      this.anchor += halvings * this.halfLifeMs;
      const factor = 2 ** -halvings;
      for (const rescale of this.rescalers) rescale(factor);
      exponent = (t - this.anchor) / this.halfLifeMs;
    }
    return 2 ** exponent;
  }

  /** multiply a stored value by this to read it at `now` */
  factorAt(now: number): number {
    return this.anchor === undefined ? 1 : 2 ** ((this.anchor - now) / this.halfLifeMs);
  }
}

/** Values whose magnitude is below this (in units of one fresh contribution) read as zero. */
export const DECAY_EPSILON = 1e-9;

interface Sum {
  value: number;
  contributions: number;
}

/** Decayed sums per key, for models with a modest number of keys (items, categories). */
export class DecayedSums<K> {
  private readonly sums = new Map<K, Sum>();

  constructor(readonly clock: DecayClock) {
    clock.onRebase((factor) => {
      for (const s of this.sums.values()) s.value *= factor;
    });
  }

  add(key: K, weight: number, t: number): void {
    const unit = this.clock.unitAt(t);
    const s = this.sums.get(key);
    if (s) {
      s.value += weight * unit;
      s.contributions++;
    } else {
      this.sums.set(key, { value: weight * unit, contributions: 1 });
    }
  }

  /** undoes add(key, weight, t); returns true when that removed the key's last contribution */
  subtract(key: K, weight: number, t: number): boolean {
    const s = this.sums.get(key);
    if (!s) return false;
    if (--s.contributions <= 0) {
      this.sums.delete(key);
      return true;
    }
    s.value -= weight * this.clock.unitAt(t);
    return false;
  }

  /** the decayed sum at `now`; 0 for unknown keys and for residues below DECAY_EPSILON */
  valueAt(key: K, now: number): number {
    const s = this.sums.get(key);
    if (!s) return 0;
    const v = s.value * this.clock.factorAt(now);
    return Math.abs(v) < DECAY_EPSILON ? 0 : v;
  }

  has(key: K): boolean {
    return this.sums.has(key);
  }

  get size(): number {
    return this.sums.size;
  }

  /** visits every key with its stored (anchor-relative) value; multiply by clock.factorAt(now) to read */
  forEachStored(visit: (key: K, stored: number) => void): void {
    for (const [key, s] of this.sums) visit(key, s.value);
  }
}
