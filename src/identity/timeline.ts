/**
 * A person's events, reduced to what serving needs and kept sorted by event time (ties by
 * messageId), so that everything derived from it is a function of the set of events, whatever
 * the order they arrived in.
 */
import type { EventType } from '../ingest/event.ts';
import type { Interaction } from '../ingest/interactions.ts';

export interface EventSummary {
  messageId: string;
  /** key of the stored segment that holds the full event (for export and erasure) */
  seg: string;
  /** event time, ms since epoch */
  t: number;
  type: EventType;
  userId?: string;
  anonymousId?: string;
  interactions: Interaction[];
  /** the Personalization consent preference this event states, if any */
  personalization?: boolean;
  /** traits set by identify (and by context.traits) */
  traits?: Record<string, unknown>;
}

export const before = (a: { t: number; messageId: string }, b: { t: number; messageId: string }): boolean =>
  a.t < b.t || (a.t === b.t && a.messageId < b.messageId);

const hasPreference = (e: EventSummary): boolean => e.personalization !== undefined;

/** index of the first event later than `t` (`orAt`: at `t` or later) in a list in time order */
export function firstAfter(events: ReadonlyArray<{ t: number }>, t: number, orAt = false): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid]!.t < t || (!orAt && events[mid]!.t === t)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** where `e` goes in a list in event order (the index of its equal, if present) */
function orderedIndex(list: readonly EventSummary[], e: EventSummary): number {
  let lo = 0;
  let hi = list.length;
  // events usually arrive in order: check the tail first
  if (hi > 0 && before(list[hi - 1]!, e)) lo = hi;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(list[mid]!, e)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class Timeline {
  events: EventSummary[] = [];
  /**
   * the events that state a Personalization preference, in the same order: for most people none, so
   * no scan is needed, and for the rest the preference at any time is a binary search away
   */
  private statements: EventSummary[] = [];

  /** whether any event states a Personalization preference */
  get statesPreference(): boolean {
    return this.statements.length > 0;
  }

  /** whether any event states a Personalization preference of false */
  get everOptedOut(): boolean {
    return this.statements.some((e) => e.personalization === false);
  }

  /** the latest event at or before `e` in event order (`e` itself included) that states a preference */
  statementUpTo(e: EventSummary): EventSummary | undefined {
    const list = this.statements;
    if (list.length === 0) return undefined;
    const i = orderedIndex(list, e);
    return i < list.length && list[i]!.messageId === e.messageId ? list[i] : list[i - 1];
  }

  /**
   * Whether `e`, one of this timeline's events, is usable under the consent rule of
   * src/features/consent.ts: the preference in force at it (its own, if it states one) is not false,
   * and neither is the latest. The rule consentView applies to every event at once, for one event.
   */
  usable(e: EventSummary): boolean {
    return this.statementAt(Infinity)?.personalization !== false && this.statementUpTo(e)?.personalization !== false;
  }

  /** the latest event at or before `t` that states a preference (undefined: none) */
  statementAt(t: number): EventSummary | undefined {
    const list = this.statements;
    return list.length === 0 ? undefined : list[firstAfter(list, t) - 1];
  }

  /** inserts in order; returns the index, or -1 when the messageId is already present */
  insert(e: EventSummary): number {
    const list = this.events;
    const lo = orderedIndex(list, e);
    if (lo < list.length && list[lo]!.messageId === e.messageId) return -1;
    if (lo === list.length) list.push(e);
    else list.splice(lo, 0, e);
    if (hasPreference(e)) this.statements.splice(orderedIndex(this.statements, e), 0, e);
    return lo;
  }

  /**
   * Merges another timeline into this one (identity merge), keeping order and dropping repeats;
   * `other` is consumed (left empty). When one side is much shorter, its events are inserted into
   * the longer one: a link that brings a few events to a long history then costs a binary search and
   * an array move per event, not a rebuild of the history (thousands of anonymous ids linked to
   * one long-lived user).
   */
  absorb(other: Timeline): void {
    const a = this.events;
    const b = other.events;
    const [long, few, longStatements] = b.length > a.length ? [b, a, other.statements] : [a, b, this.statements];
    other.events = [];
    other.statements = [];
    if (few.length <= 16 || few.length * 32 <= long.length) {
      this.events = long;
      this.statements = longStatements;
      for (const e of few) this.insert(e);
      return;
    }
    const out: EventSummary[] = [];
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      const next = j >= b.length || (i < a.length && before(a[i]!, b[j]!)) ? a[i++]! : b[j++]!;
      if (out.length === 0 || out[out.length - 1]!.messageId !== next.messageId) out.push(next);
    }
    this.events = out;
    this.statements = out.filter(hasPreference);
  }

  /** removes the events matching `expired`; returns them */
  removeWhere(expired: (e: EventSummary) => boolean): EventSummary[] {
    const gone = this.events.filter(expired);
    if (gone.length) {
      this.events = this.events.filter((e) => !expired(e));
      if (gone.some(hasPreference)) this.statements = this.statements.filter((e) => !expired(e));
    }
    return gone;
  }

  get length(): number {
    return this.events.length;
  }
}
