/**
 * Differential privacy primitives for aggregate releases (src/privacy/aggregates.ts).
 *
 * Noise: the discrete Laplace (two-sided geometric) mechanism of Ghosh, Roughgarden and Sundararajan
 * (2009): an integer count of L1 sensitivity Δ released as count + X with P(X = k) ∝ p^|k|,
 * p = e^(−ε/Δ), is ε-differentially private. Integer noise avoids the attack on floating-point
 * Laplace samples (Mironov 2012, whose low-order bits betray the true value); X is the difference of
 * two geometric variables drawn by inversion from 53-bit uniforms of the operating system's secure
 * random source (never Math.random, whose state can be recovered from its outputs).
 *
 * Budget: releases compose sequentially, so every release spends its ε from one budget per
 * workspace over a sliding 24-hour window, stored before the release is answered (a crash cannot
 * give the budget back, and a restart does not reset it).
 */
import { randomFillSync } from 'node:crypto';

/** uniforms in (0, 1) with 53 random bits each, from a buffer of secure random bytes */
export class SecureUniform {
  private readonly words = new Uint32Array(4096);
  private at = this.words.length;

  next(): number {
    if (this.at + 2 > this.words.length) {
      randomFillSync(this.words);
      this.at = 0;
    }
    const hi = this.words[this.at++]! >>> 5; // 27 bits
    const lo = this.words[this.at++]! >>> 6; // 26 bits
    // the midpoint of one of 2^53 equal cells: never 0, never 1
    return (hi * 67_108_864 + lo + 0.5) / 9_007_199_254_740_992;
  }
}

/**
 * ln p = −ε/Δ of the discrete Laplace mechanism for privacy loss `epsilon` and L1 sensitivity
 * `sensitivity` (−Infinity when Δ is 0: no noise). Kept as a logarithm: for a small ε, p = e^(−ε/Δ)
 * rounds towards 1 and ln p computed back from it loses its digits.
 */
export const logRatio = (epsilon: number, sensitivity: number): number => (sensitivity > 0 ? -epsilon / sensitivity : -Infinity);

/** a geometric variable on {0, 1, 2, …} with P(G ≥ k) = p^k, from ln p < 0 */
function geometric(logP: number, u: number): number {
  return Math.floor(Math.log(u) / logP);
}

/** one draw of discrete Laplace noise with ratio p = e^logP: P(X = k) = (1 − p)/(1 + p) · p^|k| */
export function discreteLaplace(logP: number, random: SecureUniform): number {
  // Math.log(u) / −Infinity is −0: floor(−0) − floor(−0) is −0, and + 0 makes it 0
  return geometric(logP, random.next()) - geometric(logP, random.next()) + 0;
}

/**
 * Half-width of the central 95% interval of the noise: the smallest k with P(|X| > k) ≤ 0.05, from
 * P(|X| ≥ j) = 2p^j/(1 + p) for j ≥ 1.
 */
export function noiseInterval95(logP: number): number {
  if (logP === -Infinity) return 0;
  const j = Math.ceil(Math.log(0.025 * (1 + Math.exp(logP))) / logP);
  return Math.max(0, j - 1);
}

/** standard deviation of the noise, √(2p)/(1 − p) */
export const noiseStdDev = (logP: number): number => Math.sqrt(2 * Math.exp(logP)) / -Math.expm1(logP);

/** one release's spend */
export interface Spend {
  /** ms since epoch */
  at: number;
  epsilon: number;
}

export const BUDGET_WINDOW_MS = 24 * 3_600_000;
/**
 * Spends are kept per minute, each dated at the end of its minute (so it leaves the window up to a
 * minute late, never early): a ledger holds at most 1,440 entries however many releases there are.
 */
const BUCKET_MS = 60_000;
/** spends are summed with this slack, so ten spends of 0.1 fit a budget of 1 */
const SLACK = 1e-9;

/** ε spent per workspace over a sliding 24-hour window */
export class PrivacyBudget {
  private spends: Spend[];

  constructor(
    readonly epsilonPerDay: number,
    spends: readonly Spend[] = [],
  ) {
    this.spends = spends.map((s) => ({ ...s })).sort((a, b) => a.at - b.at);
  }

  /** ε spent in the window ending at `now` */
  spent(now: number): number {
    this.drop(now);
    return this.spends.reduce((sum, s) => sum + s.epsilon, 0);
  }

  /**
   * Takes `epsilon` from the budget when it fits, synchronously (so concurrent requests cannot both
   * take the last of it); else says how many seconds until enough of the window has passed.
   */
  take(epsilon: number, now: number): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const spent = this.spent(now);
    if (spent + epsilon <= this.epsilonPerDay + SLACK) {
      const at = Math.ceil(now / BUCKET_MS) * BUCKET_MS;
      const last = this.spends[this.spends.length - 1];
      if (last?.at === at) last.epsilon += epsilon;
      else this.spends.push({ at, epsilon });
      return { ok: true };
    }
    // the earliest time enough of the oldest spends have left the window
    let freed = 0;
    for (const s of this.spends) {
      freed += s.epsilon;
      if (spent - freed + epsilon <= this.epsilonPerDay + SLACK) return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((s.at + BUDGET_WINDOW_MS - now) / 1000)) };
    }
    return { ok: false, retryAfterSeconds: Math.ceil(BUDGET_WINDOW_MS / 1000) };
  }

  /** what is stored: the spends still in the window */
  record(now: number): { spends: Spend[] } {
    this.drop(now);
    return { spends: [...this.spends] };
  }

  private drop(now: number): void {
    while (this.spends.length > 0 && this.spends[0]!.at <= now - BUDGET_WINDOW_MS) this.spends.shift();
  }
}
