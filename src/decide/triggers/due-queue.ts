/**
 * Work that comes due at a wall-clock time: a binary min-heap and one unref'd timer armed for the
 * earliest entry, so nothing polls and nothing keeps the process alive. Entries are hints: the
 * consumer re-checks the record it names (a record may have moved on since it was queued).
 */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Entry<T> {
  at: number;
  item: T;
}

export class DueQueue<T> {
  private readonly heap: Entry<T>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;
  private stopped = false;

  constructor(
    private readonly onDue: (item: T) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  add(at: number, item: T): void {
    if (this.stopped) return;
    this.heap.push({ at, item });
    this.up(this.heap.length - 1);
    if (at < this.armedFor) this.arm();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.heap.length = 0;
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const next = this.heap[0];
    this.armedFor = next?.at ?? Infinity;
    if (!next || this.stopped) return;
    this.timer = setTimeout(() => this.release(), Math.min(Math.max(next.at - this.now(), 0), MAX_TIMER_MS));
    this.timer.unref();
  }

  private release(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = this.now();
    while (!this.stopped && this.heap.length > 0 && this.heap[0]!.at <= now) this.onDue(this.pop().item);
    this.arm();
  }

  private pop(): Entry<T> {
    const top = this.heap[0]!;
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
    return top;
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.at <= h[i]!.at) return;
      [h[parent], h[i]] = [h[i]!, h[parent]!];
      i = parent;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < h.length && h[l]!.at < h[min]!.at) min = l;
      if (r < h.length && h[r]!.at < h[min]!.at) min = r;
      if (min === i) return;
      [h[min], h[i]] = [h[i]!, h[min]!];
      i = min;
    }
  }
}
