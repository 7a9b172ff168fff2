/**
 * Train/test splits. Top-N: per person, the last share of their interactions by time (temporal) or
 * a seeded random share. Sessions: whole sessions by time, as session-rec's preprocessing does.
 * A validation split is the same split applied to a train part, so tuning never sees test data.
 */
import { seededRandom } from '../recommend/rules/seeded-random.ts';
import { groupBy, type Interaction } from './dataset.ts';

export interface Split {
  train: Interaction[];
  test: Interaction[];
}

export type UserSplitKind = 'temporal' | 'random';

export interface UserSplitOptions {
  kind: UserSplitKind;
  /** share of each person's interactions that goes to test */
  testShare: number;
  /** random split only */
  seed: string;
}

export const DEFAULT_USER_SPLIT: UserSplitOptions = { kind: 'temporal', testShare: 0.2, seed: '1' };

/**
 * How many of a person's n interactions go to test: the share rounded up, keeping at least one in
 * train; a person with a single interaction stays in train only.
 */
export function testCount(n: number, testShare: number): number {
  if (n < 2) return 0;
  return Math.min(n - 1, Math.max(1, Math.ceil(n * testShare - 1e-9)));
}

/** per person: the last `testShare` of their interactions by time go to test (ties keep read order) */
export function temporalUserSplit(list: readonly Interaction[], testShare: number): Split {
  const train: Interaction[] = [];
  const test: Interaction[] = [];
  for (const events of groupBy(list, (x) => x.person).values()) {
    const cut = events.length - testCount(events.length, testShare);
    for (let i = 0; i < events.length; i++) (i < cut ? train : test).push(events[i]!);
  }
  return { train, test };
}

/** per person: a seeded random `testShare` of their interactions go to test */
export function randomUserSplit(list: readonly Interaction[], testShare: number, seed: string): Split {
  const train: Interaction[] = [];
  const test: Interaction[] = [];
  const people = [...groupBy(list, (x) => x.person)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [person, events] of people) {
    const random = seededRandom(`${seed}\u0000${person}`);
    const order = events.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const inTest = new Set(order.slice(0, testCount(events.length, testShare)));
    events.forEach((x, i) => (inTest.has(i) ? test : train).push(x));
  }
  return { train, test };
}

export function userSplit(list: readonly Interaction[], o: UserSplitOptions): Split {
  return o.kind === 'temporal' ? temporalUserSplit(list, o.testShare) : randomUserSplit(list, o.testShare, o.seed);
}

const sessionOf = (x: Interaction): string => x.session ?? x.person;

/**
 * Whole sessions by time: those whose last event falls within the last `days` of the data go to test
 * (session-rec's preprocessing holds out the last day this way).
 */
export function sessionTimeSplit(list: readonly Interaction[], days: number): Split {
  let max = -Infinity;
  for (const x of list) max = Math.max(max, x.t);
  const cutoff = max - days * 86_400_000;
  const ends = new Map<string, number>();
  for (const x of list) ends.set(sessionOf(x), Math.max(ends.get(sessionOf(x)) ?? -Infinity, x.t));
  const train: Interaction[] = [];
  const test: Interaction[] = [];
  for (const x of list) (ends.get(sessionOf(x))! > cutoff ? test : train).push(x);
  return { train, test };
}
