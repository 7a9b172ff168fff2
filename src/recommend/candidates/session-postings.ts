/**
 * The sessions containing one item, for session-kNN. Queries only ever read the most recent ones,
 * so those are kept sorted by recency in a bounded window (read from its most recent end); older ones
 * wait unordered in an array and are promoted when removals shrink the window below half. Every session is kept, so
 * removing one restores exactly the state in which it was never added.
 *
 * Recency is the session's start, which never changes while the session grows: an open session that
 * gains an event keeps its place in the postings of the items it already had (its end, which weighs
 * it when it votes, is read elsewhere), so growing costs what was appended, not the session's length.
 */
import { TopK } from '../top-k.ts';

export interface IndexedSession {
  key: string;
  /** when the session started: its place in the postings */
  start: number;
  /** when its latest event happened: how recent it is when it votes */
  end: number;
  /**
   * distinct item handles, ordered by their last occurrence (a plain array: far smaller than a typed
   * one when short). Owned by the index, which reorders it in place as the session grows.
   */
  items: number[];
  /** how many times this key was added and not yet removed */
  copies: number;
  /** dense number of the session while indexed: its row in per-query scratch arrays */
  slot: number;
}

/** removes arr[at] by shifting the tail left (splice would allocate the array of removed elements) */
export function removeAt<T>(arr: T[], at: number): void {
  for (let i = at + 1; i < arr.length; i++) arr[i - 1] = arr[i]!;
  arr.pop();
}

/** inserts `value` at `at` by shifting the tail right (no allocation but the array's own growth) */
function insertAt<T>(arr: T[], at: number, value: T): void {
  arr.push(value);
  for (let i = arr.length - 1; i > at; i--) arr[i] = arr[i - 1]!;
  arr[at] = value;
}

/** negative when a is more recent than b: later start, then larger key */
export const byRecency = (a: IndexedSession, b: IndexedSession): number => b.start - a.start || (a.key > b.key ? -1 : a.key < b.key ? 1 : 0);

export class SessionPostings {
  /**
   * the most recent sessions, oldest first (so the usual change, a session that just ended or grew,
   * lands at or near the end of the array); every session in `older` ranks after all of them
   */
  private readonly recent: IndexedSession[] = [];
  /**
   * each recent session's start time and slot, parallel to `recent`: a query walks many sessions and
   * needs only these for most of them, read from two dense arrays instead of one object each
   */
  private readonly starts: number[] = [];
  private readonly slots: number[] = [];
  /**
   * the rest, unordered. An array rather than a Set (8 bytes an entry instead of about 50): removing
   * an old session scans it, but removals almost always concern recent sessions.
   */
  private older: IndexedSession[] | undefined;

  /** `window` is at least the number of recent sessions a query may read (the window holds window to 2 × window) */
  constructor(private readonly window: number) {}

  get size(): number {
    return this.recent.length + (this.older?.length ?? 0);
  }

  /** the i-th most recent session, within the window */
  recentAt(i: number): IndexedSession | undefined {
    return this.recent[this.recent.length - 1 - i];
  }

  /** the start time of the i-th most recent session; -Infinity past the window */
  recentStartAt(i: number): number {
    const at = this.recent.length - 1 - i;
    return at >= 0 ? this.starts[at]! : -Infinity;
  }

  /** the slot of the i-th most recent session, which must exist */
  recentSlotAt(i: number): number {
    return this.slots[this.recent.length - 1 - i]!;
  }

  add(s: IndexedSession): void {
    const oldestRecent = this.recent[0];
    if (this.older && this.older.length > 0 && oldestRecent && byRecency(s, oldestRecent) > 0) {
      this.older.push(s);
      return;
    }
    const at = this.indexAt(s);
    if (at === this.recent.length) {
      this.recent.push(s);
      this.starts.push(s.start);
      this.slots.push(s.slot);
    } else {
      insertAt(this.recent, at, s);
      insertAt(this.starts, at, s.start);
      insertAt(this.slots, at, s.slot);
    }
    // the window may hold up to twice its size: trimming it back then moves many sessions at once,
    // instead of shifting the whole window for every session added to a full one
    if (this.recent.length >= 2 * this.window) this.trim();
  }

  /** moves the oldest sessions of the window to `older`, keeping the `window` most recent */
  private trim(): void {
    const excess = this.recent.length - this.window;
    this.older ??= [];
    for (let i = 0; i < excess; i++) this.older.push(this.recent[i]!);
    for (const arr of [this.recent, this.starts, this.slots] as unknown[][]) {
      arr.copyWithin(0, excess);
      arr.length -= excess;
    }
  }

  /** removes a session; returns how many remain */
  remove(s: IndexedSession): number {
    const at = this.indexAt(s) - 1;
    if (at >= 0 && this.recent[at] === s) {
      if (at === this.recent.length - 1) {
        this.recent.pop();
        this.starts.pop();
        this.slots.pop();
      } else {
        removeAt(this.recent, at);
        removeAt(this.starts, at);
        removeAt(this.slots, at);
      }
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
    // drained most recent first; all of them rank after the window's sessions
    const moving = promoted.reverse().map((i) => older[i]!);
    this.recent.unshift(...moving);
    this.starts.unshift(...moving.map((m) => m.start));
    this.slots.unshift(...moving.map((m) => m.slot));
    const moved = new Set(promoted);
    this.older = older.filter((_, i) => !moved.has(i));
  }

  /**
   * first index of `recent` whose session is more recent than `s` (so `s` itself, when present, sits
   * just before it); sessions usually arrive most recent, so the end is checked first
   */
  private indexAt(s: IndexedSession): number {
    const n = this.recent.length;
    if (n === 0 || byRecency(this.recent[n - 1]!, s) >= 0) return n;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (byRecency(this.recent[mid]!, s) < 0) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** every session, most recent first */
  all(): IndexedSession[] {
    return [...this.recent].reverse().concat([...(this.older ?? [])].sort(byRecency));
  }
}
