/**
 * Frequency caps and exclusive groups, decided from a person's exposure log alone (the log of every
 * action served to any of their ids, so the rules hold across channels and identity merges).
 *
 * Frequency cap `{count, periodSeconds, scope}` on action A: A may not be served if the log already
 * holds `count` or more exposures with `now − t < periodSeconds` (an exposure exactly one period old
 * no longer counts; exposures stamped in the future count) that match the scope:
 *   "action"  — exposures of A itself;
 *   "channel" — exposures of any action on A's channel;
 *   "all"     — every exposure.
 *
 * Exclusive group G with period P(G): an action A of group G may not be served if the log holds an
 * exposure of a *different* action recorded with group G and `now − t < P(G)`. P(G) is the longest
 * `periodSeconds` among the caps (any scope) of the actions currently in G, or
 * DEFAULT_EXCLUSIVE_PERIOD_SECONDS when none of them has a cap. The group of an exposure is the one
 * recorded when it was served, so editing an action later does not rewrite history. Serving A again
 * is governed by A's own caps only.
 */
import type { ActionRecord, Channel, FrequencyCap } from './action.ts';

/** How long members of a group without any cap keep each other out. */
export const DEFAULT_EXCLUSIVE_PERIOD_SECONDS = 86_400;

export interface Exposure {
  actionId: string;
  channel: Channel;
  exclusiveGroup?: string;
  /** when it was served, ms since epoch */
  t: number;
}

export type CapBlock =
  | { rule: 'frequency_cap'; cap: FrequencyCap; served: number }
  | { rule: 'exclusive_group'; group: string; servedActionId: string; servedAt: number };

export type CapVerdict = { allowed: true } | { allowed: false; block: CapBlock };

const longestCapSeconds = (action: Pick<ActionRecord, 'frequencyCaps'>): number | undefined =>
  action.frequencyCaps?.reduce<number | undefined>((m, c) => Math.max(m ?? 0, c.periodSeconds), undefined);

/** P(G) in ms for every exclusive group among `actions`. */
export function exclusivePeriods(
  actions: readonly ActionRecord[],
  fallbackSeconds: number = DEFAULT_EXCLUSIVE_PERIOD_SECONDS,
): Map<string, number> {
  const seconds = new Map<string, number | undefined>();
  for (const a of actions) {
    if (a.exclusiveGroup === undefined) continue;
    const own = longestCapSeconds(a);
    const sofar = seconds.get(a.exclusiveGroup);
    seconds.set(a.exclusiveGroup, own === undefined ? sofar : Math.max(sofar ?? 0, own));
  }
  return new Map([...seconds].map(([g, s]) => [g, (s ?? fallbackSeconds) * 1000]));
}

/** the first index of ascending `times` whose time is inside the window (`now − t < windowMs`) */
function windowStart(times: readonly number[], now: number, windowMs: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (now - times[mid]! < windowMs) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** inserts `t` into ascending `times` (exposures mostly arrive in time order: at the end) */
function insertTime(times: number[], t: number): void {
  let at = times.length;
  while (at > 0 && times[at - 1]! > t) at--;
  times.splice(at, 0, t);
}

/**
 * A person's exposures indexed for cap checks: times per action, per channel and in all (ascending),
 * and per exclusive group its latest exposure and the latest of another action. A check then costs
 * a binary search per cap, not a pass over the log, however many decisions the person has had.
 */
export class ExposureIndex {
  private readonly all: number[] = [];
  private readonly byAction = new Map<string, number[]>();
  private readonly byChannel = new Map<string, number[]>();
  /** per group: the latest exposure, and the latest of an action other than that one's */
  private readonly groups = new Map<string, { first: Exposure; second?: Exposure }>();

  static of(exposures: readonly Exposure[]): ExposureIndex {
    const index = new ExposureIndex();
    for (const e of exposures) index.add(e);
    return index;
  }

  add(e: Exposure): void {
    insertTime(this.all, e.t);
    let a = this.byAction.get(e.actionId);
    if (!a) this.byAction.set(e.actionId, (a = []));
    insertTime(a, e.t);
    let c = this.byChannel.get(e.channel);
    if (!c) this.byChannel.set(e.channel, (c = []));
    insertTime(c, e.t);
    if (e.exclusiveGroup === undefined) return;
    const g = this.groups.get(e.exclusiveGroup);
    if (!g) this.groups.set(e.exclusiveGroup, { first: e });
    else if (e.actionId === g.first.actionId) {
      if (e.t > g.first.t) g.first = e;
    } else if (e.t > g.first.t) {
      g.second = g.first;
      g.first = e;
    } else if (g.second === undefined || e.t > g.second.t) g.second = e;
  }

  /** exposures inside the window (`now − t < windowMs`) that the cap's scope counts for `action` */
  served(cap: FrequencyCap, action: ActionRecord, now: number): number {
    const times = cap.scope === 'action' ? this.byAction.get(action.actionId) : cap.scope === 'channel' ? this.byChannel.get(action.channel) : this.all;
    return times === undefined ? 0 : times.length - windowStart(times, now, cap.periodSeconds * 1000);
  }

  /** the latest exposure of the group by an action other than `actionId` */
  latestOther(group: string, actionId: string): Exposure | undefined {
    const g = this.groups.get(group);
    if (!g) return undefined;
    return g.first.actionId !== actionId ? g.first : g.second;
  }
}

/**
 * Whether `action` may be served at `now` given the person's exposures. `groupPeriods` comes from
 * `exclusivePeriods(allActions)`; a group missing from it gets the default period.
 */
export function checkCaps(
  action: ActionRecord,
  exposures: readonly Exposure[] | ExposureIndex,
  now: number,
  groupPeriods: ReadonlyMap<string, number> = new Map(),
): CapVerdict {
  const index = exposures instanceof ExposureIndex ? exposures : ExposureIndex.of(exposures);
  for (const cap of action.frequencyCaps ?? []) {
    const served = index.served(cap, action, now);
    if (served >= cap.count) return { allowed: false, block: { rule: 'frequency_cap', cap, served } };
  }
  const group = action.exclusiveGroup;
  if (group !== undefined) {
    const periodMs = groupPeriods.get(group) ?? DEFAULT_EXCLUSIVE_PERIOD_SECONDS * 1000;
    const latest = index.latestOther(group, action.actionId);
    if (latest !== undefined && now - latest.t < periodMs) {
      return { allowed: false, block: { rule: 'exclusive_group', group, servedActionId: latest.actionId, servedAt: latest.t } };
    }
  }
  return { allowed: true };
}

/** How far back the log must reach for `checkCaps` to see everything that can still matter. */
export function exposureRetentionMs(actions: readonly ActionRecord[], groupPeriods: ReadonlyMap<string, number> = exclusivePeriods(actions)): number {
  let longest = 0;
  for (const a of actions) longest = Math.max(longest, (longestCapSeconds(a) ?? 0) * 1000);
  for (const p of groupPeriods.values()) longest = Math.max(longest, p);
  return longest;
}

/** The exposures still within `retentionMs` of `now`: what a store needs to keep. */
export const pruneExposures = (exposures: readonly Exposure[], now: number, retentionMs: number): Exposure[] =>
  exposures.filter((e) => now - e.t < retentionMs);
