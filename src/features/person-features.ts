/**
 * Live per-person features, computed from the person's usable events in time order. Being a pure
 * function of (events, catalog categories, now, settings), they come out the same whatever order the
 * events arrived in, with or without duplicates.
 */
import type { EventSummary } from '../identity/timeline.ts';
import { INTERACTION_KINDS, type InteractionKind } from '../ingest/interactions.ts';
import { sessionize } from './sessions.ts';

export interface RecentItem {
  itemId: string;
  at: string;
}

export interface PersonFeatures {
  counts: Record<InteractionKind, number>;
  recentlyViewed: RecentItem[];
  recentlyAdded: RecentItem[];
  recentlyBought: RecentItem[];
  /** top-level category → decayed interaction weight, half-life as configured */
  categoryAffinity: Record<string, number>;
  sessions: { count: number; current?: { start: string; events: number }; averageEvents: number };
  rfm: { recencyDays?: number; frequency: number; monetary: number };
  firstSeen?: string;
  lastSeen?: string;
}

export interface FeatureSettings {
  weights: Readonly<Record<InteractionKind, number>>;
  affinityHalfLifeDays: number;
  sessionGapMinutes: number;
  recentItems: number;
}

const DAY = 86_400_000;
/** to 6 decimals; a number too large for that (1e303 and up) is already whole */
const round = (x: number): number => (Math.abs(x) < 1e300 ? Math.round(x * 1e6) / 1e6 : x);
const iso = (t: number): string => new Date(t).toISOString();

function recentOf(events: readonly EventSummary[], kinds: ReadonlySet<InteractionKind>, n: number): RecentItem[] {
  const seen = new Set<string>();
  const out: RecentItem[] = [];
  for (let i = events.length - 1; i >= 0 && out.length < n; i--) {
    const e = events[i]!;
    for (let j = e.interactions.length - 1; j >= 0 && out.length < n; j--) {
      const x = e.interactions[j]!;
      if (x.itemId === undefined || !kinds.has(x.kind) || seen.has(x.itemId)) continue;
      seen.add(x.itemId);
      out.push({ itemId: x.itemId, at: iso(x.t) });
    }
  }
  return out;
}

const VIEWED = new Set<InteractionKind>(['view', 'click']);
const ADDED = new Set<InteractionKind>(['add']);
const BOUGHT = new Set<InteractionKind>(['purchase']);

export function personFeatures(
  events: readonly EventSummary[],
  topCategoryOf: (itemId: string) => string | undefined,
  now: number,
  s: FeatureSettings,
): PersonFeatures {
  const counts = Object.fromEntries(INTERACTION_KINDS.map((k) => [k, 0])) as Record<InteractionKind, number>;
  const affinity = new Map<string, number>();
  const halfLife = s.affinityHalfLifeDays * DAY;
  const orders = new Set<string>();
  let monetary = 0;
  let lastOrder: number | undefined;
  for (const e of events) {
    for (const x of e.interactions) {
      counts[x.kind]++;
      if (x.kind === 'purchase') {
        orders.add(x.messageId);
        // a sum that would overflow keeps its last finite value (values are finite one by one)
        if (x.value !== undefined && Number.isFinite(monetary + x.value)) monetary += x.value;
        lastOrder = Math.max(lastOrder ?? x.t, x.t);
      }
      if (x.itemId === undefined) continue;
      const cat = topCategoryOf(x.itemId);
      const w = s.weights[x.kind];
      if (cat === undefined || w === 0) continue;
      affinity.set(cat, (affinity.get(cat) ?? 0) + w * Math.pow(2, -Math.max(0, now - x.t) / halfLife));
    }
  }
  const sessions = sessionize(events, s.sessionGapMinutes * 60_000);
  const last = sessions[sessions.length - 1];
  const gap = s.sessionGapMinutes * 60_000;
  const categoryAffinity: Record<string, number> = {};
  for (const [k, v] of [...affinity].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))) categoryAffinity[k] = round(v);
  const first = events[0];
  const latest = events[events.length - 1];
  return {
    counts,
    recentlyViewed: recentOf(events, VIEWED, s.recentItems),
    recentlyAdded: recentOf(events, ADDED, s.recentItems),
    recentlyBought: recentOf(events, BOUGHT, s.recentItems),
    categoryAffinity,
    sessions: {
      count: sessions.length,
      ...(last && now - last.end <= gap ? { current: { start: iso(last.start), events: last.events.length } } : {}),
      averageEvents: sessions.length ? round(events.length / sessions.length) : 0,
    },
    rfm: {
      ...(lastOrder !== undefined ? { recencyDays: round(Math.max(0, now - lastOrder) / DAY) } : {}),
      frequency: orders.size,
      monetary: round(monetary),
    },
    ...(first ? { firstSeen: iso(first.t) } : {}),
    ...(latest ? { lastSeen: iso(latest.t) } : {}),
  };
}

/** Rule-based segments shown on the profile; documented in docs/api.md. */
export function segmentsOf(f: PersonFeatures, now: number): string[] {
  const out: string[] = [];
  if (f.rfm.frequency >= 1) out.push('buyer');
  if (f.rfm.frequency >= 2) out.push('repeat_buyer');
  if (f.lastSeen && now - Date.parse(f.lastSeen) <= 7 * DAY) out.push('active_7d');
  if (f.recentlyAdded.length > 0 && f.counts.purchase === 0) out.push('cart_abandoner');
  if (f.sessions.count <= 1) out.push('new_visitor');
  return out;
}
