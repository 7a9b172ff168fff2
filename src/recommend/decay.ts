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
 *
 * Sums are compensated (addCompensated): after a rebase an old contribution is tiny next to a new
 * one, and in plain floating point old + new − new is 0, so removing the new one (an opt-out, an
 * erasure, a late event moving a session) would erase the old one too, and the sum would differ
 * from the one a restart builds without the new contribution.
 */
import { grownLength, widened } from './typed-arrays.ts';

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

/**
 * Adds `x` to the sum held at `i` as the unevaluated pair hi[i] + lo[i] (Knuth's TwoSum keeps the
 * rounding error of each addition in lo): about twice the precision of one double, so adding and
 * then subtracting a large contribution gives back a small one exactly, whatever their ratio.
 */
export function addCompensated(hi: Float64Array, lo: Float64Array, i: number, x: number): void {
  const a = hi[i]!;
  const s = a + x;
  const b = s - a;
  lo[i]! += a - (s - b) + (x - b);
  hi[i] = s;
}

/** Values whose magnitude is below this (in units of one fresh contribution) read as zero. */
export const DECAY_EPSILON = 1e-9;

/**
 * Decayed sums per item handle (dense small integers from ItemIds): flat typed arrays indexed by
 * handle, so an update is two array writes, no map lookup and no object per key.
 */
export class DecayedSums {
  private values = new Float64Array(1024);
  /** the compensation of each sum (addCompensated): the value is values[h] + errors[h] */
  private errors = new Float64Array(1024);
  /** contributions per handle; a handle is present while this is positive */
  private counts = new Int32Array(1024);
  /** one past the largest handle ever added */
  private end = 0;
  private present = 0;

  constructor(readonly clock: DecayClock) {
    clock.onRebase((factor) => {
      for (let h = 0; h < this.end; h++) {
        this.values[h]! *= factor;
        this.errors[h]! *= factor;
      }
    });
  }

  add(h: number, weight: number, t: number): void {
    const unit = this.clock.unitAt(t);
    if (h >= this.values.length) {
      const n = grownLength(this.values.length, h + 1);
      this.values = widened(this.values, n);
      this.errors = widened(this.errors, n);
      this.counts = widened(this.counts, n);
    }
    if (h >= this.end) this.end = h + 1;
    if (this.counts[h]! === 0) {
      this.values[h] = weight * unit;
      this.errors[h] = 0;
      this.present++;
    } else {
      addCompensated(this.values, this.errors, h, weight * unit);
    }
    this.counts[h]!++;
  }

  /** undoes add(h, weight, t); returns true when that removed the handle's last contribution */
  subtract(h: number, weight: number, t: number): boolean {
    if (!this.has(h)) return false;
    if (--this.counts[h]! <= 0) {
      this.counts[h] = 0;
      this.values[h] = 0;
      this.errors[h] = 0;
      this.present--;
      return true;
    }
    addCompensated(this.values, this.errors, h, -weight * this.clock.unitAt(t));
    return false;
  }

  /** the decayed sum at `now`; 0 for unknown handles and for residues below DECAY_EPSILON */
  valueAt(h: number, now: number): number {
    if (!this.has(h)) return 0;
    const v = (this.values[h]! + this.errors[h]!) * this.clock.factorAt(now);
    return Math.abs(v) < DECAY_EPSILON ? 0 : v;
  }

  has(h: number): boolean {
    return h >= 0 && h < this.end && this.counts[h]! > 0;
  }

  /** handles present */
  get size(): number {
    return this.present;
  }

  /** visits every present handle with its stored (anchor-relative) value; multiply by clock.factorAt(now) to read */
  forEachStored(visit: (h: number, stored: number) => void): void {
    for (let h = 0; h < this.end; h++) if (this.counts[h]! > 0) visit(h, this.values[h]! + this.errors[h]!);
  }
}
