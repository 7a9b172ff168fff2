/**
 * Ranking order shared by every step: larger score first, equal scores by a tie order (the id).
 * Scores are compared at single precision so that sums accumulated in a different order (a model
 * built by adding and removing sessions versus one built from the survivors) still rank the same.
 */
export const rankScore = Math.fround;

/** negative when (sa, a) ranks before (sb, b) */
export function rankOrder(sa: number, sb: number, tie: number): number {
  const x = rankScore(sa);
  const y = rankScore(sb);
  return x > y ? -1 : x < y ? 1 : tie;
}

export interface Ranked {
  handles: number[];
  scores: number[];
}

/** Bounded selection of the best `capacity` handles by score, in O(n log capacity). */
export class TopK {
  private handles: number[] = [];
  private scores: number[] = [];
  private keys: number[] = [];

  constructor(
    private readonly capacity: number,
    private readonly tieOrder: (a: number, b: number) => number,
  ) {}

  get size(): number {
    return this.handles.length;
  }

  /** true when entry i ranks after entry j (the heap keeps the worst entry at the root) */
  private worse(i: number, j: number): boolean {
    const a = this.keys[i]!;
    const b = this.keys[j]!;
    if (a !== b) return a < b;
    return this.tieOrder(this.handles[i]!, this.handles[j]!) > 0;
  }

  private swap(i: number, j: number): void {
    const h = this.handles[i]!;
    this.handles[i] = this.handles[j]!;
    this.handles[j] = h;
    const s = this.scores[i]!;
    this.scores[i] = this.scores[j]!;
    this.scores[j] = s;
    const k = this.keys[i]!;
    this.keys[i] = this.keys[j]!;
    this.keys[j] = k;
  }

  push(handle: number, score: number): void {
    if (this.capacity <= 0) return;
    const key = rankScore(score);
    if (this.handles.length < this.capacity) {
      this.handles.push(handle);
      this.scores.push(score);
      this.keys.push(key);
      let i = this.handles.length - 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!this.worse(i, parent)) break;
        this.swap(i, parent);
        i = parent;
      }
      return;
    }
    const rootKey = this.keys[0]!;
    if (key < rootKey || (key === rootKey && this.tieOrder(handle, this.handles[0]!) >= 0)) return;
    this.handles[0] = handle;
    this.scores[0] = score;
    this.keys[0] = key;
    this.siftDown(0, this.handles.length);
  }

  private siftDown(i: number, n: number): void {
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const w = r < n && this.worse(r, l) ? r : l;
      if (!this.worse(w, i)) return;
      this.swap(i, w);
      i = w;
    }
  }

  /** the kept entries, best first; the selection is empty afterwards */
  drain(): Ranked {
    for (let n = this.handles.length - 1; n > 0; n--) {
      this.swap(0, n);
      this.siftDown(0, n);
    }
    const out = { handles: this.handles, scores: this.scores };
    this.handles = [];
    this.scores = [];
    this.keys = [];
    return out;
  }
}
