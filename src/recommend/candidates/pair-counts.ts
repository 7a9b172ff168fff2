/**
 * Time-decayed weights of unordered item pairs, with each item's neighbours enumerable.
 *
 * A pair's weight and contribution count live once in flat typed arrays ("slots"); both items map
 * the other to that slot. That keeps an update allocation-free and a pair at roughly 60 bytes,
 * which matters with millions of pairs (weights are compensated sums: decay.ts). Counts are exact, so removing every contribution of a pair
 * removes the pair, whatever rounding did to its weight.
 */
import { addCompensated, DecayClock } from '../decay.ts';
import { grownLength, widened } from '../typed-arrays.ts';

export class PairCounts {
  private readonly neighbours = new Map<number, Map<number, number>>();
  private weights = new Float64Array(1024);
  /** the compensation of each weight (decay.ts addCompensated): a pair's weight is weights + errors */
  private errors = new Float64Array(1024);
  private counts = new Int32Array(1024);
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  private pairs = 0;
  /** told the two items of every pair that changed, so derived caches can be dropped */
  private readonly changeListeners: Array<(item: number) => void> = [];

  constructor(readonly clock: DecayClock) {
    clock.onRebase((factor) => {
      for (let i = 0; i < this.nextSlot; i++) {
        this.weights[i]! *= factor;
        this.errors[i]! *= factor;
      }
    });
  }

  onChange(listener: (item: number) => void): void {
    this.changeListeners.push(listener);
  }

  get pairCount(): number {
    return this.pairs;
  }

  private mapOf(item: number): Map<number, number> {
    let m = this.neighbours.get(item);
    if (!m) {
      m = new Map();
      this.neighbours.set(item, m);
    }
    return m;
  }

  private allocate(): number {
    const reused = this.freeSlots.pop();
    if (reused !== undefined) return reused;
    if (this.nextSlot === this.weights.length) {
      const n = grownLength(this.weights.length, this.nextSlot + 1);
      this.weights = widened(this.weights, n);
      this.errors = widened(this.errors, n);
      this.counts = widened(this.counts, n);
    }
    return this.nextSlot++;
  }

  private changed(a: number, b: number): void {
    for (const l of this.changeListeners) {
      l(a);
      l(b);
    }
  }

  add(a: number, b: number, weight: number, t: number): void {
    const part = weight * this.clock.unitAt(t);
    const ma = this.mapOf(a);
    let slot = ma.get(b);
    if (slot === undefined) {
      slot = this.allocate();
      this.weights[slot] = 0;
      this.errors[slot] = 0;
      this.counts[slot] = 0;
      ma.set(b, slot);
      this.mapOf(b).set(a, slot);
      this.pairs++;
    }
    addCompensated(this.weights, this.errors, slot, part);
    this.counts[slot]!++;
    this.changed(a, b);
  }

  /** undoes add(a, b, weight, t) */
  subtract(a: number, b: number, weight: number, t: number): void {
    const ma = this.neighbours.get(a);
    const slot = ma?.get(b);
    if (ma === undefined || slot === undefined) return;
    if (--this.counts[slot]! > 0) {
      addCompensated(this.weights, this.errors, slot, -weight * this.clock.unitAt(t));
    } else {
      this.weights[slot] = 0;
      this.errors[slot] = 0;
      this.freeSlots.push(slot);
      this.pairs--;
      ma.delete(b);
      if (ma.size === 0) this.neighbours.delete(a);
      const mb = this.neighbours.get(b)!;
      mb.delete(a);
      if (mb.size === 0) this.neighbours.delete(b);
    }
    this.changed(a, b);
  }

  /** visits each neighbour of `item` with the pair's stored weight */
  forEachNeighbour(item: number, visit: (neighbour: number, stored: number) => void): void {
    const m = this.neighbours.get(item);
    if (!m) return;
    // forEach, not for…of: iterating a Map by entries allocates an [key, value] pair per entry
    m.forEach((slot, n) => visit(n, this.weights[slot]! + this.errors[slot]!));
  }
}
