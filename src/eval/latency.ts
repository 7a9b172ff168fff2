/** Per-prediction latencies of one system, summarised. */
export class Latencies {
  private readonly ms: number[] = [];
  private total = 0;

  add(ms: number): void {
    this.ms.push(ms);
    this.total += ms;
  }

  get count(): number {
    return this.ms.length;
  }

  /** the p-quantile (nearest rank), 0 when nothing was measured */
  quantile(p: number): number {
    if (this.ms.length === 0) return 0;
    const sorted = [...this.ms].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
  }

  /** predictions per second of prediction time (not wall time: loading and scoring are left out) */
  perSecond(): number {
    return this.total > 0 ? (this.ms.length * 1000) / this.total : 0;
  }
}
