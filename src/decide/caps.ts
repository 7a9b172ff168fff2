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

function matchesScope(cap: FrequencyCap, action: ActionRecord, e: Exposure): boolean {
  switch (cap.scope) {
    case 'action':
      return e.actionId === action.actionId;
    case 'channel':
      return e.channel === action.channel;
    case 'all':
      return true;
  }
}

/**
 * Whether `action` may be served at `now` given the person's exposures. `groupPeriods` comes from
 * `exclusivePeriods(allActions)`; a group missing from it gets the default period.
 */
export function checkCaps(
  action: ActionRecord,
  exposures: readonly Exposure[],
  now: number,
  groupPeriods: ReadonlyMap<string, number> = new Map(),
): CapVerdict {
  for (const cap of action.frequencyCaps ?? []) {
    const windowMs = cap.periodSeconds * 1000;
    let served = 0;
    for (const e of exposures) if (now - e.t < windowMs && matchesScope(cap, action, e)) served++;
    if (served >= cap.count) return { allowed: false, block: { rule: 'frequency_cap', cap, served } };
  }
  const group = action.exclusiveGroup;
  if (group !== undefined) {
    const periodMs = groupPeriods.get(group) ?? DEFAULT_EXCLUSIVE_PERIOD_SECONDS * 1000;
    let latest: Exposure | undefined;
    for (const e of exposures) {
      if (e.exclusiveGroup === group && e.actionId !== action.actionId && now - e.t < periodMs && (latest === undefined || e.t > latest.t)) latest = e;
    }
    if (latest !== undefined) {
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
