/**
 * Next-item evaluation of sessions, as session-rec's evaluation.evaluate_sessions with the test
 * filtering of its loader: test events whose item is not in train are dropped, then sessions left
 * with fewer than two events; for every remaining session and position i ≥ 1, the system is asked
 * with the session's first i events and scored on whether event i's item is in its top k.
 *
 * Frozen mode asks every system with the prefix only. Online mode also shows each test event to every
 * system (the engine ingests it) right after the prediction it is the target of, as in production.
 * Either way predictions are made in time order across sessions, at the time of the last prefix event.
 */
import type { Interaction } from './dataset.ts';
import type { NextItemPredictor } from './driver.ts';
import { Latencies } from './latency.ts';
import { NextItemMetrics, type Metrics } from './metrics.ts';

export interface TestSession {
  id: string;
  /** in time order (ties keep the file order) */
  events: Interaction[];
}

export interface SessionTestSet {
  sessions: TestSession[];
  counts: {
    testEvents: number;
    droppedUnknownItem: number;
    droppedShortSessions: number;
    sessions: number;
    predictions: number;
    /** predictions whose target already occurs in the prefix (a re-visit) */
    repeatTargets: number;
  };
}

const sessionOf = (x: Interaction): string => x.session ?? x.person;

/** session-rec's test filtering */
export function prepareSessionTest(train: readonly Interaction[], test: readonly Interaction[]): SessionTestSet {
  const trainItems = new Set(train.map((x) => x.item));
  const bySession = new Map<string, Interaction[]>();
  let droppedUnknownItem = 0;
  for (const x of test) {
    if (!trainItems.has(x.item)) {
      droppedUnknownItem++;
      continue;
    }
    let list = bySession.get(sessionOf(x));
    if (!list) bySession.set(sessionOf(x), (list = []));
    list.push(x);
  }
  const sessions: TestSession[] = [];
  let droppedShortSessions = 0;
  let predictions = 0;
  let repeatTargets = 0;
  for (const [id, events] of bySession) {
    if (events.length < 2) {
      droppedShortSessions++;
      continue;
    }
    events.sort((a, b) => a.t - b.t);
    sessions.push({ id, events });
    predictions += events.length - 1;
    const seen = new Set([events[0]!.item]);
    for (const x of events.slice(1)) {
      if (seen.has(x.item)) repeatTargets++;
      seen.add(x.item);
    }
  }
  const counts = { testEvents: test.length, droppedUnknownItem, droppedShortSessions, sessions: sessions.length, predictions, repeatTargets };
  return { sessions, counts };
}

export interface SessionEvalOptions {
  online: boolean;
  /** HR/MRR cut-offs; the lists asked for are as long as the largest */
  cutoffs: readonly number[];
  trainCounts: ReadonlyMap<string, number>;
  onProgress?: (done: number, total: number) => void;
}

export interface SystemResult {
  metrics: Metrics;
  latencies: Latencies;
}

export async function evaluateSessions(set: SessionTestSet, systems: readonly NextItemPredictor[], o: SessionEvalOptions): Promise<Map<string, SystemResult>> {
  const count = Math.max(...o.cutoffs);
  const beyondAt = Math.max(...o.cutoffs);
  const results = new Map(systems.map((s) => [s.name, { acc: new NextItemMetrics(o.cutoffs, o.trainCounts, beyondAt), latencies: new Latencies() }]));
  // a prediction point: session s, target position i (≥ 1)
  const points: Array<{ s: TestSession; i: number }> = [];
  for (const s of set.sessions) for (let i = 0; i < s.events.length; i++) points.push({ s, i });
  // every session's events interleaved in time order: online mode needs it, and in frozen mode (where
  // order cannot change an answer) it keeps "now" moving forward, as time-based caches expect
  points.sort((a, b) => a.s.events[a.i]!.t - b.s.events[b.i]!.t);
  let done = 0;
  for (const { s, i } of points) {
    const target = s.events[i]!;
    if (i > 0) {
      const prefix = s.events.slice(0, i);
      const now = prefix[prefix.length - 1]!.t;
      for (const system of systems) {
        const r = results.get(system.name)!;
        const started = performance.now();
        const ranked = await system.nextItems(s.id, prefix, now, count);
        r.latencies.add(performance.now() - started);
        r.acc.add(ranked, target.item);
      }
      if (++done % 500 === 0) o.onProgress?.(done, set.counts.predictions);
    }
    if (o.online) for (const system of systems) await system.observe?.(target);
  }
  o.onProgress?.(done, set.counts.predictions);
  return new Map([...results].map(([name, r]) => [name, { metrics: r.acc.result(), latencies: r.latencies }]));
}
