/**
 * Differentially private aggregates (`POST /v1/aggregates`, docs/privacy.md): counts of people or
 * of interactions over a time range, per day, per item, per top-level category, or in total, released
 * with discrete Laplace noise (src/privacy/dp.ts) so that no answer depends much on any one person.
 *
 * The guarantee is per person (all their ids, as merged now): adding or removing everything one
 * person did changes the bounded counts by at most C·L in L1, where each person counts in at most C
 * partitions (`maxPartitionsPerPerson`: those where they count most, ties by key) and at most L
 * (`maxPerPartition`; 1 for people) in each. The noise is scaled to that sensitivity and the
 * release's ε. Partitions are public: every day of the range, items and categories of the catalog as
 * the shop wrote it through the API (an item made from events exists because someone sent one, so
 * it is never a partition), so which rows exist says nothing about anyone; every public partition
 * gets noise, zeros included, and a top-`limit` list is a ranking of noisy values.
 *
 * Only usable events count (not those of people opted out of Personalization, nor events sent while
 * opted out), and erased people are gone from memory, so neither ever shapes a release.
 */
import type { Workspace } from '../engine/workspace.ts';
import type { InteractionKind } from '../ingest/interactions.ts';
import { firstAfter, type EventSummary } from '../identity/timeline.ts';
import { discreteLaplace, logRatio, noiseInterval95, noiseStdDev, type SecureUniform } from './dp.ts';

export const AGGREGATE_METRICS = ['people', 'interactions'] as const;
export const AGGREGATE_GROUPS = ['day', 'item', 'category', 'none'] as const;

export interface AggregateQuery {
  metric: (typeof AGGREGATE_METRICS)[number];
  /** only interactions of this kind (and, for `people`, people with one) */
  kind?: InteractionKind;
  groupBy: (typeof AGGREGATE_GROUPS)[number];
  /** ms since epoch, inclusive */
  from: number;
  /** ms since epoch, exclusive */
  to: number;
  epsilon: number;
  /** C: partitions one person counts in at most */
  maxPartitionsPerPerson: number;
  /** L: what one person adds to one partition at most (1 for people) */
  maxPerPartition: number;
  /** rows returned for item and category (the highest noisy values) */
  limit: number;
}

export interface AggregateRelease {
  rows: Array<{ key: string; value: number }>;
  /** partitions that received noise (the public ones) */
  partitions: number;
  /** L1 sensitivity C·L (C at most the number of partitions) */
  sensitivity: number;
  /** ln p = −ε/Δ of the noise distribution (−Infinity: no partitions, no noise) */
  logRatio: number;
  /** noise standard deviation, √(2p)/(1 − p) */
  noiseStdDev: number;
  /** half-width of the noise's central 95% interval */
  interval95: number;
}

export const DAY_MS = 86_400_000;
/** events looked at between two pauses (a release must not hold up requests) */
const SLICE = 50_000;

/** the start of `t`'s UTC day */
const dayStart = (t: number): number => t - (((t % DAY_MS) + DAY_MS) % DAY_MS);

export const dayKey = (t: number): string => new Date(dayStart(t)).toISOString().slice(0, 10);

/**
 * The items the shop wrote through the API: an item made from events exists because someone sent
 * one, and takes its category from whoever sent the latest event naming it.
 */
const shopItems = (ws: Workspace) => [...ws.catalog.values()].filter((i) => ws.catalog.record(i.itemId)?.source !== 'events');

/** the top-level category of each shop item that has one */
function shopCategories(ws: Workspace): Map<string, string> {
  const out = new Map<string, string>();
  for (const i of shopItems(ws)) if (i.categoryPath[0] !== undefined) out.set(i.itemId, i.categoryPath[0]);
  return out;
}

/** The partitions a release may have, known without reading anyone's events. */
export function publicPartitions(ws: Workspace, q: Pick<AggregateQuery, 'groupBy' | 'from' | 'to'>): string[] {
  switch (q.groupBy) {
    case 'none':
      return ['all'];
    case 'day': {
      const out: string[] = [];
      for (let d = dayStart(q.from); d < q.to; d += DAY_MS) out.push(dayKey(d));
      return out;
    }
    case 'item':
      return shopItems(ws).map((i) => i.itemId);
    case 'category':
      return [...new Set(shopCategories(ws).values())];
  }
}

/**
 * Every person's usable events in the range, taken in one synchronous step: counting then pauses
 * for requests, and a merge, an opt-out or an erasure meanwhile must not count one person twice
 * (once under each of two ids a merge joins) or in part.
 */
function snapshot(ws: Workspace, from: number, to: number): EventSummary[][] {
  const people: EventSummary[][] = [];
  for (const root of ws.identity.roots()) {
    const usable = ws.viewOf(root)?.usable;
    if (!usable || usable.length === 0) continue;
    const start = firstAfter(usable, from, true);
    const end = firstAfter(usable, to, true);
    if (end > start) people.push(usable.slice(start, end));
  }
  return people;
}

/**
 * The bounded counts per public partition, before noise: each person's contributions clipped to L
 * per partition and to their C strongest partitions. `pause` is awaited every `slice` events.
 */
export async function boundedCounts(ws: Workspace, q: AggregateQuery, partitions: readonly string[], pause: () => Promise<void>, slice = SLICE): Promise<Map<string, number>> {
  const counts = new Map<string, number>(partitions.map((k) => [k, 0]));
  // an interaction counts under its item's category as the shop wrote it (else one person's event
  // could move everyone's interactions with an item made from events to another category)
  const categoryOf = q.groupBy === 'category' ? shopCategories(ws) : new Map<string, string>();
  const keyOf = (t: number, itemId: string | undefined): string | undefined => {
    switch (q.groupBy) {
      case 'none':
        return 'all';
      case 'day':
        return dayKey(t);
      case 'item':
        return itemId;
      case 'category':
        return itemId === undefined ? undefined : categoryOf.get(itemId);
    }
  };
  const perPartition = q.metric === 'people' ? 1 : q.maxPerPartition;
  let sincePause = 0;
  for (const usable of snapshot(ws, q.from, q.to)) {
    const mine = new Map<string, number>();
    for (const e of usable) {
      if (q.metric === 'people' && q.kind === undefined && q.groupBy !== 'item' && q.groupBy !== 'category') {
        // any usable event makes the person active in the partition
        const key = keyOf(e.t, undefined);
        if (key !== undefined && counts.has(key)) mine.set(key, 1);
        continue;
      }
      for (const x of e.interactions) {
        if (q.kind !== undefined && x.kind !== q.kind) continue;
        const key = keyOf(x.t, x.itemId);
        if (key === undefined || !counts.has(key)) continue;
        mine.set(key, Math.min(perPartition, (mine.get(key) ?? 0) + 1));
      }
    }
    sincePause += usable.length + 1;
    if (mine.size > 0) {
      const kept = [...mine].sort(([ka, a], [kb, b]) => b - a || (ka < kb ? -1 : ka > kb ? 1 : 0)).slice(0, q.maxPartitionsPerPerson);
      for (const [key, n] of kept) counts.set(key, counts.get(key)! + n);
    }
    if (sincePause >= slice) {
      sincePause = 0;
      await pause();
    }
  }
  return counts;
}

/** Adds noise to every partition and picks the rows to return. */
export function release(counts: ReadonlyMap<string, number>, q: AggregateQuery, random: SecureUniform): AggregateRelease {
  // nobody counts in more partitions than there are (the partitions are public)
  const sensitivity = Math.min(q.maxPartitionsPerPerson, counts.size) * (q.metric === 'people' ? 1 : q.maxPerPartition);
  const logP = logRatio(q.epsilon, sensitivity);
  const noisy: Array<{ key: string; value: number }> = [];
  // clamped at zero after the noise: post-processing, which costs no privacy
  for (const [key, n] of counts) noisy.push({ key, value: Math.max(0, n + discreteLaplace(logP, random)) });
  let rows = noisy;
  if (q.groupBy === 'item' || q.groupBy === 'category') {
    rows = noisy.sort((a, b) => b.value - a.value || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).slice(0, q.limit);
  }
  return {
    rows,
    partitions: counts.size,
    sensitivity,
    logRatio: logP,
    noiseStdDev: noiseStdDev(logP),
    interval95: noiseInterval95(logP),
  };
}
