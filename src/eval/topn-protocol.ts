/**
 * Top-N evaluation of people: each person with test interactions is asked, just after their last
 * train interaction, for a list ranking every item they have not interacted with in train, and
 * scored against their test items (those not already in their train items).
 */
import { groupBy, type Interaction } from './dataset.ts';
import type { TopNCase, TopNPredictor } from './driver.ts';
import { Latencies } from './latency.ts';
import { TopNMetrics } from './metrics.ts';
import type { SystemResult } from './session-protocol.ts';

export interface TopNTestSet {
  cases: TopNCase[];
  counts: { people: number; trainInteractions: number; testInteractions: number; relevant: number; peopleWithoutTrain: number };
}

export function prepareTopN(train: readonly Interaction[], test: readonly Interaction[]): TopNTestSet {
  const trainOf = groupBy(train, (x) => x.person);
  const cases: TopNCase[] = [];
  let relevantTotal = 0;
  let peopleWithoutTrain = 0;
  const testOf = groupBy(test, (x) => x.person);
  const people = [...testOf.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const person of people) {
    const history = trainOf.get(person);
    if (!history?.length) {
      peopleWithoutTrain++;
      continue;
    }
    const trainItems = [...new Set(history.map((x) => x.item))];
    const seen = new Set(trainItems);
    const relevant = new Set(testOf.get(person)!.map((x) => x.item).filter((item) => !seen.has(item)));
    if (relevant.size === 0) continue;
    relevantTotal += relevant.size;
    cases.push({ person, trainItems, relevant, now: history[history.length - 1]!.t + 1000 });
  }
  return { cases, counts: { people: cases.length, trainInteractions: train.length, testInteractions: test.length, relevant: relevantTotal, peopleWithoutTrain } };
}

export interface TopNEvalOptions {
  count: number;
  /** items that could be recommended (coverage denominator) */
  catalogSize: number;
  onProgress?: (done: number, total: number) => void;
}

export async function evaluateTopN(set: TopNTestSet, systems: readonly TopNPredictor[], o: TopNEvalOptions): Promise<Map<string, SystemResult>> {
  const results = new Map(systems.map((s) => [s.name, { acc: new TopNMetrics(o.catalogSize, o.count), latencies: new Latencies() }]));
  let done = 0;
  for (const c of set.cases) {
    for (const system of systems) {
      const r = results.get(system.name)!;
      const started = performance.now();
      const ranked = await system.topN(c, o.count);
      r.latencies.add(performance.now() - started);
      r.acc.add(ranked, c.relevant);
    }
    if (++done % 50 === 0) o.onProgress?.(done, set.cases.length);
  }
  o.onProgress?.(done, set.cases.length);
  return new Map([...results].map(([name, r]) => [name, { metrics: r.acc.result(), latencies: r.latencies }]));
}
