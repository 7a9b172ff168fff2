/**
 * Per-key rate limits: a token bucket per key id, refilled continuously. A request over the limit
 * gets 429 KAIROS_ERR_RATE_LIMITED with Retry-After (whole seconds until a token is back).
 */
/** buckets held before those that refilled are dropped */
const PRUNE_AT = 10_000;

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /** `perSecond` tokens per second, bursts up to `burst`; 0 disables the limit */
  constructor(
    private readonly perSecond: number,
    private readonly burst = Math.max(1, perSecond * 2),
  ) {}

  /** undefined when allowed, else the seconds to wait */
  take(key: string, now = Date.now()): number | undefined {
    if (this.perSecond <= 0) return undefined;
    let b = this.buckets.get(key);
    if (!b) {
      // keys come and go (client addresses): buckets that refilled are the same as none
      if (this.buckets.size >= PRUNE_AT) this.prune(now);
      this.buckets.set(key, (b = { tokens: this.burst, at: now }));
    }
    b.tokens = this.tokensAt(b, now);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return undefined;
    }
    return this.secondsUntilToken(b.tokens);
  }

  /** like `take`, without taking: undefined when a token is there, else the seconds to wait */
  wait(key: string, now = Date.now()): number | undefined {
    const b = this.perSecond <= 0 ? undefined : this.buckets.get(key);
    if (!b) return undefined;
    const tokens = this.tokensAt(b, now);
    return tokens >= 1 ? undefined : this.secondsUntilToken(tokens);
  }

  /** the bucket's tokens at `now`, refilled since it was last used */
  private tokensAt(b: Bucket, now: number): number {
    return Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
  }

  /** whole seconds until a bucket holding `tokens` (fewer than one) holds one */
  private secondsUntilToken(tokens: number): number {
    return Math.max(1, Math.ceil((1 - tokens) / this.perSecond));
  }

  private prune(now: number): void {
    for (const [key, b] of this.buckets) if (this.tokensAt(b, now) >= this.burst) this.buckets.delete(key);
  }

  forget(key: string): void {
    this.buckets.delete(key);
  }
}
