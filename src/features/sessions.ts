/** Session boundaries: a gap of inactivity longer than the timeout starts a new session. */
import type { EventSummary } from '../identity/timeline.ts';
import type { InteractionKind } from '../ingest/interactions.ts';
import type { SessionItem, SessionRecord } from '../recommend/types.ts';

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

/** appends the session items of an event's item interactions (every item built in one shape) */
function pushItems(e: EventSummary, weights: Readonly<Record<InteractionKind, number>>, out: SessionItem[]): void {
  for (const i of e.interactions) if (i.itemId !== undefined) out.push({ itemId: i.itemId, kind: i.kind, t: i.t, weight: weights[i.kind], handle: undefined });
}

/** scratch of itemsAppended (this runs for every event) */
const appendedScratch: SessionItem[] = [];

/**
 * `base` followed by the items of events[from, to), as a new array of exactly that length; `base`
 * itself when those events carry no item (records are never modified, so they may share it).
 */
export function itemsAppended(base: readonly SessionItem[], events: readonly EventSummary[], from: number, to: number, weights: Readonly<Record<InteractionKind, number>>): SessionItem[] {
  const added = appendedScratch;
  added.length = 0;
  for (let k = from; k < to; k++) pushItems(events[k]!, weights, added);
  if (added.length === 0) return base as SessionItem[];
  const out = base.concat(added);
  added.length = 0;
  return out;
}

/** the model-facing form of a session; undefined when it holds no item interaction */
export function sessionRecord(s: Session, weights: Readonly<Record<InteractionKind, number>>): SessionRecord | undefined {
  const items = itemsOf(s.events, weights);
  if (items.length === 0) return undefined;
  return { key: s.key, start: s.start, end: s.end, items };
}

/** a cheap identity for a session's content, to skip model updates when nothing changed */
export function sessionSignature(r: SessionRecord): string {
  const last = r.items[r.items.length - 1]!;
  return `${r.key}|${r.items.length}|${r.end}|${last.itemId}|${last.kind}`;
}
