/**
 * Online Bayesian ridge regression of a reward on a feature vector: the per-action model of the
 * bandit and the reward model of doubly robust evaluation.
 *
 * The sufficient statistics A = λI + Σ x xᵀ and b = λ·μ₀·e₀ + Σ r x are sums, so `remove` undoes
 * `add` (erasing a person's contribution is exact up to rounding) and the state is plain numbers.
 * The prior (λ, μ₀) makes an untrained model predict μ₀ with wide uncertainty, which is what lets a
 * new action be explored. A⁻¹ is kept up to date by Sherman–Morrison (O(d²) per update) and
 * re-derived from A now and then, so rounding cannot accumulate.
 */
import type { FeatureVector } from './features.ts';

/** The non-zero entries of a feature vector: hashed vectors are sparse, so scoring is O(nnz²), not O(d²). */
export interface SparseVector {
  index: number[];
  value: number[];
}

export function toSparse(x: FeatureVector): SparseVector {
  const index: number[] = [];
  const value: number[] = [];
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v !== 0) {
      index.push(i);
      value.push(v);
    }
  }
  return { index, value };
}

export interface RidgePrior {
  /** λ: strength of the prior, in pseudo-observations */
  ridge: number;
  /** μ₀: the reward an untrained model predicts (on the bias feature x[0]) */
  priorMean: number;
}

/** What is persisted: A (row-major) and b. A⁻¹ is re-derived on load. */
export interface RidgeState {
  A: number[];
  b: number[];
  /** updates applied (adds minus removes) */
  n: number;
}

/** Updates between exact re-inversions of A. */
const REFRESH_EVERY = 4096;

/** A⁻¹ of a symmetric positive definite matrix via its Cholesky factor; undefined when A is not SPD. */
function invertSpd(a: Float64Array, d: number): Float64Array | undefined {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * d + j]!;
      for (let k = 0; k < j; k++) s -= l[i * d + k]! * l[j * d + k]!;
      if (i === j) {
        if (!(s > 0)) return undefined;
        l[i * d + i] = Math.sqrt(s);
      } else {
        l[i * d + j] = s / l[j * d + j]!;
      }
    }
  }
  // A⁻¹ = L⁻ᵀ L⁻¹: invert the triangle, then multiply
  const li = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    li[i * d + i] = 1 / l[i * d + i]!;
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let k = j; k < i; k++) s -= l[i * d + k]! * li[k * d + j]!;
      li[i * d + j] = s / l[i * d + i]!;
    }
  }
  const inv = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = i; k < d; k++) s += li[k * d + i]! * li[k * d + j]!;
      inv[i * d + j] = s;
      inv[j * d + i] = s;
    }
  }
  return inv;
}

export class RidgeRegression {
  private readonly a: Float64Array;
  private readonly b: Float64Array;
  private aInv: Float64Array;
  private readonly theta: Float64Array;
  private count = 0;
  private sinceRefresh = 0;

  constructor(
    readonly dims: number,
    private readonly prior: RidgePrior,
  ) {
    if (!Number.isInteger(dims) || dims < 1) throw new RangeError('dims must be a positive integer');
    if (!(prior.ridge > 0)) throw new RangeError('ridge must be positive');
    this.a = new Float64Array(dims * dims);
    this.b = new Float64Array(dims);
    this.aInv = new Float64Array(dims * dims);
    this.theta = new Float64Array(dims);
    this.reset();
  }

  /** Restores a model saved with `toState`; throws on a state that does not fit `dims`. */
  static fromState(dims: number, prior: RidgePrior, state: RidgeState): RidgeRegression {
    const model = new RidgeRegression(dims, prior);
    if (state.A.length !== dims * dims || state.b.length !== dims || !Number.isInteger(state.n) || state.n < 0) {
      throw new RangeError(`ridge state does not match ${dims} dimensions`);
    }
    if (![...state.A, ...state.b].every(Number.isFinite)) throw new RangeError('ridge state holds non-finite numbers');
    model.a.set(state.A);
    model.b.set(state.b);
    model.count = state.n;
    if (!model.refresh()) throw new RangeError('ridge state is not positive definite');
    return model;
  }

  get n(): number {
    return this.count;
  }

  /** Expected reward at x: θᵀx. */
  predict(x: SparseVector): number {
    let s = 0;
    for (let k = 0; k < x.index.length; k++) s += this.theta[x.index[k]!]! * x.value[k]!;
    return s;
  }

  /** √(xᵀA⁻¹x): the posterior standard deviation of θᵀx, in units of the reward noise. */
  uncertainty(x: SparseVector): number {
    const d = this.dims;
    let s = 0;
    for (let p = 0; p < x.index.length; p++) {
      const row = x.index[p]! * d;
      let t = 0;
      for (let q = 0; q < x.index.length; q++) t += this.aInv[row + x.index[q]!]! * x.value[q]!;
      s += x.value[p]! * t;
    }
    return Math.sqrt(Math.max(0, s));
  }

  add(x: SparseVector, reward: number): void {
    this.apply(x, reward, 1);
  }

  /** Undoes an earlier `add(x, reward)`. */
  remove(x: SparseVector, reward: number): void {
    if (this.count === 0) return;
    if (this.count === 1) return this.reset();
    this.apply(x, reward, -1);
  }

  toState(): RidgeState {
    return { A: Array.from(this.a), b: Array.from(this.b), n: this.count };
  }

  private apply(x: SparseVector, reward: number, sign: 1 | -1): void {
    if (!Number.isFinite(reward)) throw new RangeError('reward must be a finite number');
    const d = this.dims;
    const { index, value } = x;
    this.accumulate(x, reward, sign);
    // Sherman–Morrison: (A ± xxᵀ)⁻¹ = A⁻¹ ∓ (A⁻¹x)(A⁻¹x)ᵀ / (1 ± xᵀA⁻¹x)
    const u = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let k = 0; k < index.length; k++) s += this.aInv[i * d + index[k]!]! * value[k]!;
      u[i] = s;
    }
    let xu = 0;
    for (let k = 0; k < index.length; k++) xu += value[k]! * u[index[k]!]!;
    const denominator = 1 + sign * xu;
    if (++this.sinceRefresh >= REFRESH_EVERY || !(denominator > 1e-9)) {
      if (this.refresh()) return;
      // only removing something that was never added can get here: put A back and say so
      this.accumulate(x, reward, sign === 1 ? -1 : 1);
      this.refresh();
      throw new RangeError('cannot remove an observation the model never learned');
    }
    // θ' = A'⁻¹b' with b' = b ± r·x, so θ' = θ ± r·u ∓ u·(uᵀb')/(1 ± xᵀu): O(d) instead of O(d²)
    let ub = 0;
    for (let i = 0; i < d; i++) ub += u[i]! * this.b[i]!;
    const shift = (sign * ub) / denominator;
    for (let i = 0; i < d; i++) {
      const ui = (sign * u[i]!) / denominator;
      this.theta[i]! += sign * reward * u[i]! - u[i]! * shift;
      if (ui === 0) continue;
      for (let j = 0; j < d; j++) this.aInv[i * d + j]! -= ui * u[j]!;
    }
  }

  private accumulate(x: SparseVector, reward: number, sign: 1 | -1): void {
    const d = this.dims;
    const { index, value } = x;
    for (let p = 0; p < index.length; p++) {
      const row = index[p]! * d;
      for (let q = 0; q < index.length; q++) this.a[row + index[q]!]! += sign * value[p]! * value[q]!;
      this.b[index[p]!]! += sign * reward * value[p]!;
    }
    this.count += sign;
  }

  private reset(): void {
    const d = this.dims;
    this.a.fill(0);
    this.b.fill(0);
    for (let i = 0; i < d; i++) this.a[i * d + i] = this.prior.ridge;
    this.b[0] = this.prior.ridge * this.prior.priorMean;
    this.count = 0;
    this.refresh();
  }

  private refresh(): boolean {
    const inv = invertSpd(this.a, this.dims);
    if (inv === undefined) return false;
    this.aInv = inv;
    this.sinceRefresh = 0;
    this.updateTheta();
    return true;
  }

  private updateTheta(): void {
    const d = this.dims;
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += this.aInv[i * d + j]! * this.b[j]!;
      this.theta[i] = s;
    }
  }
}
