/**
 * The sessions containing one item, for session-kNN. Queries only ever read the most recent ones,
 * so those are kept sorted (most recent first) in a bounded window; older ones wait unordered in a
 * set and are promoted when removals shrink the window below half. Every session is kept, so
 * removing one restores exactly the state in which it was never added.
 */
import { TopK } from '../top-k.ts';

export interface IndexedSession {
  key: string;
  end: number;
  /** distinct item handles, ordered by their last occurrence (a plain array: far smaller than a typed one when short) */
  items: readonly number[];
  /** how many times this key was added and not yet removed */
  copies: number;
  /** dense number of the session while indexed: its row in per-query scratch arrays */
  slot: number;
}

/** negative when a is more recent than b: later end, then larger key */
export const byRecency = (a: IndexedSession, b: IndexedSession): number => b.end - a.end || (a.key > b.key ? -1 : a.key < b.key ? 1 : 0);

export class SessionPostings {
  /** the most recent sessions, most recent first; every session in `older` ranks after all of them */
  private readonly recent: IndexedSession[] = [];
  /**
   * the rest, unordered. An array rather than a Set (8 bytes an entry instead of about 50): removing
   * an old session scans it, but removals almost always concern recent sessions.
   */
  private older: IndexedSession[] | undefined;

  /** `window` is at least the number of recent sessions a query may read */
  constructor(private readonly window: number) {}

  get size(): number {
    return this.recent.length + (this.older?.length ?? 0);
  }

  /** the i-th most recent session, within the window */
  recentAt(i: number): IndexedSession | undefined {
    return this.recent[i];
  }

  add(s: IndexedSession): void {
    const oldestRecent = this.recent[this.recent.length - 1];
    if (this.older && this.older.length > 0 && oldestRecent && byRecency(s, oldestRecent) > 0) {
      this.older.push(s);
      return;
    }
    this.recent.splice(this.indexAt(s), 0, s);
    if (this.recent.length > this.window) {
      this.older ??= [];
      this.older.push(this.recent.pop()!);
    }
  }

  /** removes a session; returns how many remain */
  remove(s: IndexedSession): number {
    const at = this.indexAt(s);
    if (this.recent[at] === s) {
      this.recent.splice(at, 1);
      if (this.recent.length < this.window / 2) this.promote();
    } else if (this.older) {
      const i = this.older.indexOf(s);
      if (i >= 0) {
        this.older[i] = this.older[this.older.length - 1]!;
        this.older.pop();
      }
    }
    return this.size;
  }

  /** refills the window with the most recent of the older sessions */
  private promote(): void {
    const older = this.older;
    if (!older || older.length === 0) return;
    const best = new TopK(this.window - this.recent.length, (a, b) => byRecency(older[a]!, older[b]!));
    // every candidate scores the same: the tie order alone (recency) selects
    for (let i = 0; i < older.length; i++) best.push(i, 0);
    const promoted = best.drain().handles;
    for (const i of promoted) this.recent.push(older[i]!);
    const moved = new Set(promoted);
    this.older = older.filter((_, i) => !moved.has(i));
  }

  /** first index of `recent` whose session is not more recent than `s` */
  private indexAt(s: IndexedSession): number {
    let lo = 0;
    let hi = this.recent.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (byRecency(this.recent[mid]!, s) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** every session, most recent first */
  all(): IndexedSession[] {
    return [...this.recent, ...[...(this.older ?? [])].sort(byRecency)];
  }
}
