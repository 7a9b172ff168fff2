import { describe, expect, it } from 'vitest';
import { EaseModel, invertSymmetricPositiveDefinite } from '../src/recommend/candidates/ease.ts';
import { seededRandom } from '../src/recommend/rules/seeded-random.ts';

/** a random Gram matrix XᵀX + λI, and a copy to check against */
function gram(n: number, rows: number, lambda: number, seed: string): Float64Array {
  const random = seededRandom(seed);
  const a = new Float64Array(n * n);
  for (let r = 0; r < rows; r++) {
    const items = [...new Set(Array.from({ length: 1 + Math.floor(random() * 6) }, () => Math.floor(random() * n)))];
    for (const i of items) for (const j of items) a[i * n + j]! += 1;
  }
  for (let i = 0; i < n; i++) a[i * n + i]! += lambda;
  return a;
}

function maxErrorOfProduct(a: Float64Array, inverse: Float64Array, n: number): number {
  let err = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[i * n + k]! * inverse[k * n + j]!;
      err = Math.max(err, Math.abs(s - (i === j ? 1 : 0)));
    }
  }
  return err;
}

describe('symmetric positive definite inverse', () => {
  it('inverts a hand-checkable 3 × 3 matrix', () => {
    // [[4,2,0],[2,5,1],[0,1,3]] has determinant 44; its inverse is the adjugate / 44
    const inv = invertSymmetricPositiveDefinite(Float64Array.from([4, 2, 0, 2, 5, 1, 0, 1, 3]), 3);
    const expected = [14, -6, 2, -6, 12, -4, 2, -4, 16].map((x) => x / 44);
    expected.forEach((x, i) => expect(inv[i]).toBeCloseTo(x, 12));
  });

  it('gives A·A⁻¹ = I for Gram matrices of every size parity', () => {
    for (const n of [1, 2, 3, 4, 7, 8, 31, 64]) {
      const a = gram(n, 3 * n, 2, `g${n}`);
      const inverse = invertSymmetricPositiveDefinite(a.slice(), n);
      expect(maxErrorOfProduct(a, inverse, n)).toBeLessThan(1e-10);
    }
  });

  it('refuses a matrix that is not positive definite', () => {
    expect(() => invertSymmetricPositiveDefinite(Float64Array.from([1, 2, 2, 1]), 2)).toThrow(/positive definite/);
  });
});

describe('EASE', () => {
  const rows = [
    ['a', 'b'], ['a', 'b'], ['a', 'b', 'c'], ['b', 'c'], ['c', 'd'], ['c', 'd'], ['d', 'e'],
  ];

  it('matches the closed form B = I − P·diag(1/diag P) with P = (XᵀX + λI)⁻¹', () => {
    const lambda = 0.5;
    const model = EaseModel.fit(rows, { lambda, minSupport: 1 });
    const ids = model.itemIds;
    const n = ids.length;
    const g = new Float64Array(n * n);
    for (const r of rows) for (const x of r) for (const y of r) g[ids.indexOf(x) * n + ids.indexOf(y)]! += 1;
    for (let i = 0; i < n; i++) g[i * n + i]! += lambda;
    const p = gaussJordanInverse(g, n);
    const person = ['a', 'c'];
    const scores = model.scores(person);
    for (let j = 0; j < n; j++) {
      let expected = 0;
      for (const item of person) {
        const i = ids.indexOf(item);
        expected += i === j ? 0 : -p[i * n + j]! / p[j * n + j]!;
      }
      expect(scores[j]).toBeCloseTo(expected, 10);
    }
  });

  it('recommends what co-occurs with the person\'s items, never an excluded item', () => {
    const model = EaseModel.fit(rows, { lambda: 0.5 });
    expect(model.recommend(['a'], 1)[0]!.itemId).toBe('b');
    const list = model.recommend(['a', 'b'], 3, new Set(['a', 'b'])).map((s) => s.itemId);
    expect(list[0]).toBe('c');
    expect(list).not.toContain('a');
  });

  it('models only items with enough support, at most maxItems of the most frequent', () => {
    expect([...EaseModel.fit(rows, { minSupport: 3 }).itemIds].sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(EaseModel.fit(rows, { maxItems: 2 }).itemIds).toEqual(['b', 'c']);
    const model = EaseModel.fit(rows, { minSupport: 3 });
    expect(model.has('e')).toBe(false);
    expect(model.scores(['e']).every((s) => s === 0)).toBe(true);
  });
});

/** an independent inverse for checking (Gauss-Jordan with partial pivoting) */
function gaussJordanInverse(a: Float64Array, n: number): Float64Array {
  const m = a.slice();
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r * n + c]!) > Math.abs(m[pivot * n + c]!)) pivot = r;
    for (let k = 0; k < n; k++) {
      [m[c * n + k], m[pivot * n + k]] = [m[pivot * n + k]!, m[c * n + k]!];
      [inv[c * n + k], inv[pivot * n + k]] = [inv[pivot * n + k]!, inv[c * n + k]!];
    }
    const d = m[c * n + c]!;
    for (let k = 0; k < n; k++) {
      m[c * n + k]! /= d;
      inv[c * n + k]! /= d;
    }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r * n + c]!;
      for (let k = 0; k < n; k++) {
        m[r * n + k]! -= f * m[c * n + k]!;
        inv[r * n + k]! -= f * inv[c * n + k]!;
      }
    }
  }
  return inv;
}
