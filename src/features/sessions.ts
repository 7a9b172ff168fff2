/** Session boundaries: a gap of inactivity longer than the timeout starts a new session. */
import type { EventSummary } from '../identity/timeline.ts';
import type { Interaction, InteractionKind } from '../ingest/interactions.ts';
import type { SessionChange, SessionItem, SessionRecord } from '../recommend/types.ts';

export interface Session {
  /** messageId of the first event: stable whatever the arrival order */
  key: string;
  start: number;
  end: number;
  events: EventSummary[];
}

export function sessionize(events: readonly EventSummary[], gapMs: number): Session[] {
  const sessions: Session[] = [];
  let cur: Session | undefined;
  for (const e of events) {
    if (!cur || e.t - cur.end > gapMs) {
      cur = { key: e.messageId, start: e.t, end: e.t, events: [] };
      sessions.push(cur);
    }
    cur.events.push(e);
    cur.end = e.t;
  }
  return sessions;
}

export function itemsOf(events: readonly EventSummary[], weights: Readonly<Record<InteractionKind, number>>): SessionItem[] {
  const items: SessionItem[] = [];
  for (const e of events) pushItems(e, weights, items);
  return items;
}

/** the session item of an item interaction (every item built in one shape) */
const itemOf = (i: Interaction, itemId: string, weights: Readonly<Record<InteractionKind, number>>): SessionItem => ({ itemId, kind: i.kind, t: i.t, weight: weights[i.kind], handle: undefined });

/** appends the session items of an event's item interactions */
function pushItems(e: EventSummary, weights: Readonly<Record<InteractionKind, number>>, out: SessionItem[]): void {
  for (const i of e.interactions) if (i.itemId !== undefined) out.push(itemOf(i, i.itemId, weights));
}

/**
 * whether an interaction would build an item equal to `it` (a workspace's interaction weights never
 * change, so equal kinds have equal weights; handles are memos)
 */
const sameAs = (it: SessionItem, i: Interaction): boolean => it.itemId === i.itemId && it.kind === i.kind && it.t === i.t;

const sameItem = (a: SessionItem, b: SessionItem): boolean => a === b || (a.itemId === b.itemId && a.kind === b.kind && a.t === b.t && a.weight === b.weight);

/**
 * `base`'s items followed by those of events[from, to), appended in place to base's array when base
 * is its last user (records never change their own `size` entries, so they may share it), to a copy
 * of its entries otherwise. An event appended to a long session costs what it adds.
 */
export function itemsAppended(base: SessionRecord, events: readonly EventSummary[], from: number, to: number, weights: Readonly<Record<InteractionKind, number>>): { items: readonly SessionItem[]; size: number } {
  let items = base.items as SessionItem[];
  let size = base.size;
  let own = false;
  for (let k = from; k < to; k++) {
    for (const i of events[k]!.interactions) {
      if (i.itemId === undefined) continue;
      if (!own && items.length !== size) items = items.slice(0, size);
      own = true;
      items.push(itemOf(i, i.itemId, weights));
      size++;
    }
  }
  return { items, size };
}

/** index just past the session that starts at events[a] */
export function sessionEndOf(events: readonly EventSummary[], a: number, gapMs: number): number {
  let b = a + 1;
  while (b < events.length && events[b]!.t - events[b - 1]!.t <= gapMs) b++;
  return b;
}

/**
 * The record of the session events[a, b); undefined when it holds no item interaction. Items equal
 * to `prev`'s, in order, are `prev`'s own objects (they keep their handle memos), and when every item
 * is, the record shares `prev`'s array: a session rebuilt unchanged allocates nothing but the record.
 */
export function recordOf(events: readonly EventSummary[], a: number, b: number, weights: Readonly<Record<InteractionKind, number>>, prev?: SessionRecord): SessionRecord | undefined {
  const held = prev?.items;
  const heldSize = prev?.size ?? 0;
  let out: SessionItem[] | undefined;
  let n = 0;
  let j = 0;
  for (let k = a; k < b; k++) {
    for (const i of events[k]!.interactions) {
      if (i.itemId === undefined) continue;
      const same = j < heldSize && sameAs(held![j]!, i);
      if (out === undefined) {
        if (same) {
          j++;
          n++;
          continue;
        }
        // the first difference: the array is allocated once at its final length (sessions can be long)
        out = new Array<SessionItem>(n + itemCount(events, k, b));
        for (let x = 0; x < n; x++) out[x] = held![x]!;
      }
      // past a difference, prev's next item is still taken when it comes (a late event was inserted)
      out[n++] = same ? held![j++]! : itemOf(i, i.itemId, weights);
    }
  }
  const items = out ?? (n > 0 ? held! : undefined);
  if (items === undefined) return undefined;
  return { key: events[a]!.messageId, start: events[a]!.t, end: events[b - 1]!.t, items, size: n };
}

/** how many of an event's interactions name an item */
export function itemInteractions(e: EventSummary): number {
  let n = 0;
  for (const i of e.interactions) if (i.itemId !== undefined) n++;
  return n;
}

/** item interactions of events[from, to) */
function itemCount(events: readonly EventSummary[], from: number, to: number): number {
  let n = 0;
  for (let k = from; k < to; k++) n += itemInteractions(events[k]!);
  return n;
}

/** where `next`'s items differ from `prev`'s: the longest common prefix and suffix around one change */
export function changeOf(prev: SessionRecord, next: SessionRecord): SessionChange {
  const p = prev.items;
  const n = next.items;
  const common = Math.min(prev.size, next.size);
  let at = 0;
  while (at < common && sameItem(p[at]!, n[at]!)) at++;
  let tail = 0;
  while (tail < common - at && sameItem(p[prev.size - 1 - tail]!, n[next.size - 1 - tail]!)) tail++;
  return { at, removed: prev.size - at - tail, added: next.size - at - tail };
}
