/**
 * EASE (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data"): a linear item-item model
 * with a closed form. With X the binary person × item matrix and G = XᵀX + λI, the weights are
 * B = I − P·diag(1/diag(P)) with P = G⁻¹ and a zero diagonal; a person's score for item j is the sum
 * of B[i][j] over the items i they interacted with.
 *
 * Pure: rows of item ids in, a model out, nothing shared. The inverse is O(n³) in the number of
 * items, so `minSupport` and `maxItems` bound n (about 3,000 items invert in seconds; 10,000 would
 * take many minutes in JavaScript).
 */

export interface EaseOptions {
  /** L2 regularisation added to the Gram matrix's diagonal */
  lambda: number;
  /** items in fewer rows than this are left out of the model */
  minSupport: number;
  /** at most this many items, the most frequent (ties by id) */
  maxItems: number;
}

export const DEFAULT_EASE_OPTIONS: EaseOptions = { lambda: 250, minSupport: 1, maxItems: 4000 };

export interface ScoredItem {
  itemId: string;
  score: number;
}

export class EaseModel {
  private constructor(
    /** model index → item id */
    readonly itemIds: readonly string[],
    private readonly index: ReadonlyMap<string, number>,
    /** row-major n × n: weights[i·n + j] is what interacting with item i adds to item j */
    private readonly weights: Float64Array,
  ) {}

  /** Fits the model to rows (one per person: the items they interacted with, repeats ignored). */
  static fit(rows: Iterable<Iterable<string>>, options: Partial<EaseOptions> = {}): EaseModel {
    const o = { ...DEFAULT_EASE_OPTIONS, ...options };
    if (!(o.lambda > 0)) throw new RangeError('EASE needs lambda > 0');
    const sets = [...rows].map((r) => new Set(r));
    const support = new Map<string, number>();
    for (const s of sets) for (const id of s) support.set(id, (support.get(id) ?? 0) + 1);
    const itemIds = [...support]
      .filter(([, c]) => c >= o.minSupport)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, o.maxItems)
      .map(([id]) => id);
    const index = new Map(itemIds.map((id, i) => [id, i]));
    const n = itemIds.length;
    const gram = new Float64Array(n * n);
    for (const s of sets) {
      const handles: number[] = [];
      for (const id of s) {
        const h = index.get(id);
        if (h !== undefined) handles.push(h);
      }
      for (const i of handles) {
        const row = i * n;
        for (const j of handles) gram[row + j]! += 1;
      }
    }
    for (let i = 0; i < n; i++) gram[i * n + i]! += o.lambda;
    const p = invertSymmetricPositiveDefinite(gram, n);
    // B[i][j] = −P[i][j] / P[j][j], with a zero diagonal: an item never predicts itself
    const inverseDiagonal = new Float64Array(n);
    for (let j = 0; j < n; j++) inverseDiagonal[j] = 1 / p[j * n + j]!;
    for (let i = 0; i < n; i++) {
      const row = i * n;
      for (let j = 0; j < n; j++) p[row + j] = -p[row + j]! * inverseDiagonal[j]!;
      p[row + i] = 0;
    }
    return new EaseModel(itemIds, index, p);
  }

  get size(): number {
    return this.itemIds.length;
  }

  has(itemId: string): boolean {
    return this.index.has(itemId);
  }

  /** the score of every model item (indexed like itemIds) for a person who interacted with `items` */
  scores(items: Iterable<string>): Float64Array {
    const n = this.itemIds.length;
    const out = new Float64Array(n);
    const seen = new Set<number>();
    for (const id of items) {
      const h = this.index.get(id);
      if (h === undefined || seen.has(h)) continue;
      seen.add(h);
      const row = h * n;
      for (let j = 0; j < n; j++) out[j]! += this.weights[row + j]!;
    }
    return out;
  }

  /** the `count` best items for a person, best first, leaving out `exclude` (ties by model order) */
  recommend(items: Iterable<string>, count: number, exclude?: ReadonlySet<string>): ScoredItem[] {
    const scores = this.scores(items);
    const order: number[] = [];
    for (let j = 0; j < scores.length; j++) if (!exclude?.has(this.itemIds[j]!)) order.push(j);
    order.sort((a, b) => scores[b]! - scores[a]! || a - b);
    return order.slice(0, Math.max(0, count)).map((j) => ({ itemId: this.itemIds[j]!, score: scores[j]! }));
  }
}

/** sums returned by the paired dot products (avoids allocating a pair per call) */
const pair = new Float64Array(2);

/** x[xo..xo+len) · y0[y0o..) and x · y1[y1o..), into `pair`: each x is loaded once for two products */
function dot2(x: Float64Array, xo: number, y0o: number, y1o: number, y: Float64Array, len: number): void {
  let a0 = 0;
  let a1 = 0;
  let b0 = 0;
  let b1 = 0;
  let k = 0;
  for (; k + 1 < len; k += 2) {
    const u = x[xo + k]!;
    const v = x[xo + k + 1]!;
    a0 += u * y[y0o + k]!;
    a1 += v * y[y0o + k + 1]!;
    b0 += u * y[y1o + k]!;
    b1 += v * y[y1o + k + 1]!;
  }
  if (k < len) {
    const u = x[xo + k]!;
    a0 += u * y[y0o + k]!;
    b0 += u * y[y1o + k]!;
  }
  pair[0] = a0 + a1;
  pair[1] = b0 + b1;
}

function dot(x: Float64Array, xo: number, y: Float64Array, yo: number, len: number): number {
  let a0 = 0;
  let a1 = 0;
  let k = 0;
  for (; k + 1 < len; k += 2) {
    a0 += x[xo + k]! * y[yo + k]!;
    a1 += x[xo + k + 1]! * y[yo + k + 1]!;
  }
  if (k < len) a0 += x[xo + k]! * y[yo + k]!;
  return a0 + a1;
}

/**
 * The inverse of a symmetric positive definite n × n matrix (row-major), by Cholesky: A = LLᵀ, then
 * U = L⁻ᵀ, then A⁻¹ = UUᵀ. Every inner loop is a dot product over contiguous memory, and paired so
 * each loaded value serves two products. `a` is overwritten (L below the diagonal, U above and on it);
 * the result is a new array. Throws when `a` is not positive definite.
 */
export function invertSymmetricPositiveDefinite(a: Float64Array, n: number): Float64Array {
  if (a.length !== n * n) throw new RangeError(`expected ${n * n} entries, got ${a.length}`);
  const d = new Float64Array(n);
  // Cholesky, row by row: L[i][j] = (A[i][j] − L[i][<j]·L[j][<j]) / L[j][j]; pairs of j share row i
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    let j = 0;
    for (; j + 1 < i; j += 2) {
      const rj = j * n;
      const rj1 = rj + n;
      dot2(a, ri, rj, rj1, a, j);
      const lij = (a[ri + j]! - pair[0]!) / d[j]!;
      a[ri + j] = lij;
      // L[i][j+1] also needs the k = j term, which the pair did not cover
      a[ri + j + 1] = (a[ri + j + 1]! - pair[1]! - lij * a[rj1 + j]!) / d[j + 1]!;
    }
    for (; j < i; j++) a[ri + j] = (a[ri + j]! - dot(a, ri, a, j * n, j)) / d[j]!;
    const pivot = a[ri + i]! - dot(a, ri, a, ri, i);
    if (!(pivot > 0)) throw new RangeError('matrix is not positive definite');
    d[i] = Math.sqrt(pivot);
  }
  // U = L⁻ᵀ (upper, rows j): U[j][i] = −(L[i][j..i) · U[j][j..i)) / L[i][i]; rows j and j+1 share row i of L
  for (let j = 0; j < n; j += 2) {
    const rj = j * n;
    a[rj + j] = 1 / d[j]!;
    if (j + 1 === n) break;
    const rj1 = rj + n;
    a[rj + j + 1] = -(a[rj1 + j]! * a[rj + j]!) / d[j + 1]!;
    a[rj1 + j + 1] = 1 / d[j + 1]!;
    for (let i = j + 2; i < n; i++) {
      const ri = i * n;
      // row j+1 starts one column later: its products over [j+1, i) plus row j's extra k = j term
      dot2(a, ri + j + 1, rj + j + 1, rj1 + j + 1, a, i - j - 1);
      a[rj + i] = -(pair[0]! + a[ri + j]! * a[rj + j]!) / d[i]!;
      a[rj1 + i] = -pair[1]! / d[i]!;
    }
  }
  // A⁻¹[i][j] = U[i][≥i] · U[j][≥i] for j ≤ i (U is upper triangular); pairs of j share row i
  const p = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    let j = 0;
    for (; j + 1 <= i; j += 2) {
      dot2(a, ri + i, j * n + i, (j + 1) * n + i, a, n - i);
      p[ri + j] = pair[0]!;
      p[ri + j + 1] = pair[1]!;
    }
    if (j === i) p[ri + i] = dot(a, ri + i, a, ri + i, n - i);
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) p[j * n + i] = p[i * n + j]!;
  return p;
}
