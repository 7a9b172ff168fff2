/**
 * EASE training on a snapshot of person × item interactions, as the model trainer runs it (in a
 * worker thread, or in process): pure, plain data in, plain data out, every array transferable.
 *
 * The model keeps the `maxItems` most frequent items (the inverse is O(n³) and the weights n²), and
 * of each item's weight row only the `neighbours` largest weights, stored sparse (CSR). Scoring a
 * person then touches at most historyItems × neighbours weights, whatever the catalog size. With
 * `neighbours` ≥ n − 1 nothing is dropped and scores are those of `EaseModel` (at single precision).
 */
import { invertSymmetricPositiveDefinite } from '../candidates/ease.ts';

/** Rows of distinct item handles, one per person (CSR): row r is items[offsets[r] .. offsets[r + 1]). */
export interface InteractionSnapshot {
  /** item handle → item id */
  itemIds: string[];
  offsets: Int32Array;
  items: Int32Array;
}

export interface EaseTrainOptions {
  /** L2 regularisation added to the Gram matrix's diagonal */
  lambda: number;
  /** items in fewer rows than this are left out */
  minSupport: number;
  /** at most this many items, the most frequent (ties by id) */
  maxItems: number;
  /** weights kept per item row, the largest */
  neighbours: number;
}

export const DEFAULT_EASE_TRAIN_OPTIONS: EaseTrainOptions = { lambda: 250, minSupport: 2, maxItems: 3000, neighbours: 200 };

/** A trained item-item model: row i lists the items interacting with item i adds to, best first. */
export interface SparseItemModel {
  /** model index → item id */
  itemIds: string[];
  /** n + 1 row starts into neighbours / weights */
  offsets: Int32Array;
  neighbours: Int32Array;
  weights: Float32Array;
  /** rows (people) and interactions the model was fitted to */
  people: number;
  interactions: number;
}

/** the buffers to transfer when posting a model or a snapshot between threads */
export const modelBuffers = (m: SparseItemModel): ArrayBuffer[] => [m.offsets.buffer, m.neighbours.buffer, m.weights.buffer] as ArrayBuffer[];
export const snapshotBuffers = (s: InteractionSnapshot): ArrayBuffer[] => [s.offsets.buffer, s.items.buffer] as ArrayBuffer[];

export function trainEase(s: InteractionSnapshot, options: Partial<EaseTrainOptions> = {}): SparseItemModel {
  const o = { ...DEFAULT_EASE_TRAIN_OPTIONS, ...options };
  if (!(o.lambda > 0)) throw new RangeError('EASE needs lambda > 0');
  const universe = s.itemIds.length;
  const people = s.offsets.length - 1;
  const support = new Int32Array(universe);
  for (let k = 0; k < s.items.length; k++) support[s.items[k]!]!++;
  const chosen: number[] = [];
  for (let h = 0; h < universe; h++) if (support[h]! >= Math.max(1, o.minSupport)) chosen.push(h);
  const byId = (a: number, b: number): number => (s.itemIds[a]! < s.itemIds[b]! ? -1 : s.itemIds[a]! > s.itemIds[b]! ? 1 : 0);
  chosen.sort((a, b) => support[b]! - support[a]! || byId(a, b));
  if (chosen.length > o.maxItems) chosen.length = Math.max(0, o.maxItems);
  const n = chosen.length;
  const modelOf = new Int32Array(universe).fill(-1);
  chosen.forEach((h, i) => (modelOf[h] = i));

  const gram = new Float64Array(n * n);
  const row = new Int32Array(n);
  for (let r = 0; r < people; r++) {
    let len = 0;
    for (let k = s.offsets[r]!; k < s.offsets[r + 1]!; k++) {
      const m = modelOf[s.items[k]!]!;
      if (m >= 0) row[len++] = m;
    }
    for (let a = 0; a < len; a++) {
      const base = row[a]! * n;
      for (let b = 0; b < len; b++) gram[base + row[b]!]! += 1;
    }
  }
  for (let i = 0; i < n; i++) gram[i * n + i]! += o.lambda;
  const p = n === 0 ? gram : invertSymmetricPositiveDefinite(gram, n);

  // B[i][j] = −P[i][j] / P[j][j] with a zero diagonal; keep the `neighbours` largest of each row
  const keep = Math.max(0, Math.min(o.neighbours, n - 1));
  const offsets = new Int32Array(n + 1);
  const neighbours = new Int32Array(n * keep);
  const weights = new Float32Array(n * keep);
  const inverseDiagonal = new Float64Array(n);
  for (let j = 0; j < n; j++) inverseDiagonal[j] = 1 / p[j * n + j]!;
  const b = new Float64Array(n);
  const sorted = new Float64Array(n);
  const picked: number[] = [];
  let at = 0;
  for (let i = 0; i < n; i++) {
    const base = i * n;
    for (let j = 0; j < n; j++) b[j] = j === i ? -Infinity : -p[base + j]! * inverseDiagonal[j]!;
    picked.length = 0;
    if (keep > 0) {
      // the keep-th largest weight is the threshold; ties at it are taken in index order
      sorted.set(b);
      sorted.sort();
      const threshold = sorted[n - keep]!;
      let above = 0;
      for (let j = 0; j < n; j++) if (b[j]! > threshold) above++;
      let ties = keep - above;
      for (let j = 0; j < n; j++) {
        const w = b[j]!;
        if (w > threshold || (w === threshold && ties-- > 0)) picked.push(j);
      }
      picked.sort((x, y) => b[y]! - b[x]! || x - y);
    }
    for (const j of picked) {
      neighbours[at] = j;
      weights[at] = b[j]!;
      at++;
    }
    offsets[i + 1] = at;
  }
  return { itemIds: chosen.map((h) => s.itemIds[h]!), offsets, neighbours, weights, people, interactions: s.items.length };
}
