/**
 * Per-key rate limits: a token bucket per key id, refilled continuously. A request over the limit
 * gets 429 KAIROS_ERR_RATE_LIMITED with Retry-After (whole seconds until a token is back).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** `perSecond` tokens per second, bursts up to `burst`; 0 disables the limit */
  constructor(
    private readonly perSecond: number,
    private readonly burst = Math.max(1, perSecond * 2),
  ) {}

  /** undefined when allowed, else the seconds to wait */
  take(key: string, now = Date.now()): number | undefined {
    if (this.perSecond <= 0) return undefined;
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = { tokens: this.burst, at: now }));
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.perSecond));
  }

  forget(key: string): void {
    this.buckets.delete(key);
  }
}
