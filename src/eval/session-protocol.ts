/**
 * Next-item evaluation of sessions, as session-rec's evaluation.evaluate_sessions with the test
 * filtering of its loader: test events whose item is not in train are dropped, then sessions left
 * with fewer than two events; for every remaining session and position i ≥ 1, the system is asked
 * with the session's first i events and scored on whether event i's item is in its top k.
 *
 * Frozen mode asks every system with the prefix only. Online mode also shows each test event to every
 * system (the engine ingests it) as it happens, as in production. Either way the test events of all
 * sessions are replayed in time order and each prediction is made right after the last prefix event,
 * at its time: the clock never goes back, and online nothing later than the request is known.
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
  // every session's events interleaved in time order (ties keep each session's order). Right after an
  // event the system is asked for the next event of its session, at that event's time, as a client
  // asks right after the last event; online, the event is shown to every system first. So the clock
  // only moves forward, and online a system has seen exactly the events up to the request time.
  const timeline: Array<{ s: TestSession; i: number }> = [];
  for (const s of set.sessions) for (let i = 0; i < s.events.length; i++) timeline.push({ s, i });
  timeline.sort((a, b) => a.s.events[a.i]!.t - b.s.events[b.i]!.t);
  let done = 0;
  for (const { s, i } of timeline) {
    const last = s.events[i]!;
    if (o.online) for (const system of systems) await system.observe?.(last);
    if (i + 1 >= s.events.length) continue;
    const target = s.events[i + 1]!;
    const prefix = s.events.slice(0, i + 1);
    for (const system of systems) {
      const r = results.get(system.name)!;
      const started = performance.now();
      const ranked = await system.nextItems(s.id, prefix, last.t, count);
      r.latencies.add(performance.now() - started);
      r.acc.add(ranked, target.item);
    }
    if (++done % 500 === 0) o.onProgress?.(done, set.counts.predictions);
  }
  o.onProgress?.(done, set.counts.predictions);
  return new Map([...results].map(([name, r]) => [name, { metrics: r.acc.result(), latencies: r.latencies }]));
}
