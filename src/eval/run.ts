/**
 * One evaluation run: train the engine and the baselines on the train part, evaluate every system on
 * the same test set in the same loop, and report the engine's metrics beside the baselines'.
 */
import type { EaseOptions } from '../recommend/candidates/ease.ts';
import { CooccurrenceBaseline } from './baselines/cooccurrence.ts';
import { EaseBaseline } from './baselines/ease.ts';
import { PopularityBaseline } from './baselines/popularity.ts';
import { byTime, itemCounts, type CatalogEntry, type Interaction } from './dataset.ts';
import type { EngineDriver, NextItemPredictor, TopNPredictor } from './driver.ts';
import type { IdentityField } from './events.ts';
import type { Metrics } from './metrics.ts';
import { evaluateSessions, prepareSessionTest, type SystemResult } from './session-protocol.ts';
import { evaluateTopN, prepareTopN } from './topn-protocol.ts';

export const PROTOCOLS = ['next-item', 'top-n'] as const;
export type Protocol = (typeof PROTOCOLS)[number];
export type Mode = 'frozen' | 'online';

export const BASELINES: Record<Protocol, readonly string[]> = {
  'next-item': ['popularity', 'cooccurrence'],
  'top-n': ['popularity', 'ease'],
};

export const NEXT_ITEM_CUTOFFS = [5, 10, 20] as const;

export interface EvalInput {
  dataset: string;
  protocol: Protocol;
  /** how train and test were made, for the report ("files", "temporal 20%", …) */
  split: string;
  train: Interaction[];
  test: Interaction[];
  catalog: CatalogEntry[];
  licence?: string;
}

export interface EvalOptions {
  mode: Mode;
  /** length of the lists asked for (top-N metrics are cut at 10 and 20) */
  count: number;
  baselines: readonly string[];
  ease: Partial<EaseOptions>;
  /** the system under test, created fresh for this run */
  engine: (identity: IdentityField, online: boolean) => Promise<EngineDriver>;
  onProgress?: (stage: string, done: number, total?: number) => void;
}

export interface EvalReport {
  dataset: string;
  protocol: Protocol;
  mode: Mode;
  split: string;
  k: number;
  metrics: Metrics;
  baselines: Record<string, Metrics>;
  predictions: number;
  predictionsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  trainSeconds: number;
  baselineTrainSeconds: Record<string, number>;
  counts: Record<string, number>;
  licence?: string;
}

const seconds = (started: number): number => Math.round((performance.now() - started) / 10) / 100;
const round = (x: number, digits = 4): number => Math.round(x * 10 ** digits) / 10 ** digits;

export async function runEvaluation(input: EvalInput, o: EvalOptions): Promise<EvalReport> {
  const train = byTime(input.train);
  const identity: IdentityField = input.protocol === 'top-n' ? 'userId' : 'anonymousId';
  const online = o.mode === 'online';
  if (online && input.protocol !== 'next-item') throw new RangeError('online mode applies to the next-item protocol only');
  const unknown = o.baselines.filter((b) => !BASELINES[input.protocol].includes(b));
  if (unknown.length) throw new RangeError(`baselines of the ${input.protocol} protocol: ${BASELINES[input.protocol].join(', ')} (not ${unknown.join(', ')})`);

  const started = performance.now();
  const engine = await o.engine(identity, online);
  const baselineTrainSeconds: Record<string, number> = {};
  const wanted = new Set(o.baselines);
  let trainSeconds: number;
  let results: Map<string, SystemResult>;
  let counts: Record<string, number>;
  try {
    const firstSeen = new Map<string, number>();
    for (const x of train) if (!firstSeen.has(x.item)) firstSeen.set(x.item, x.t);
    const origin = train[0]?.t ?? 0;
    await engine.loadCatalog(input.catalog, (itemId) => firstSeen.get(itemId) ?? origin);
    await engine.ingest(train, (done) => o.onProgress?.('ingest', done, train.length));
    o.onProgress?.('ingest', train.length, train.length);
    trainSeconds = seconds(started);

    const timed = <T>(name: string, make: () => T): T => {
      const t0 = performance.now();
      const made = make();
      baselineTrainSeconds[name] = seconds(t0);
      return made;
    };
    // popularity also fills the other baselines' short lists, so it is always built
    const popularity = timed('popularity', () => new PopularityBaseline(train));
    if (input.protocol === 'next-item') {
      const set = prepareSessionTest(train, input.test);
      const systems: NextItemPredictor[] = [engine];
      if (wanted.has('popularity')) systems.push(popularity);
      if (wanted.has('cooccurrence')) systems.push(timed('cooccurrence', () => new CooccurrenceBaseline(train, popularity)));
      results = await evaluateSessions(set, systems, {
        online,
        cutoffs: NEXT_ITEM_CUTOFFS,
        trainCounts: itemCounts(train),
        onProgress: (done, total) => o.onProgress?.('predict', done, total),
      });
      counts = { ...set.counts };
    } else {
      const set = prepareTopN(train, input.test);
      const systems: TopNPredictor[] = [engine];
      if (wanted.has('popularity')) systems.push(popularity);
      if (wanted.has('ease')) {
        o.onProgress?.('fitting EASE', 0);
        systems.push(timed('ease', () => new EaseBaseline(train, o.ease, popularity)));
      }
      const catalogItems = new Set(input.catalog.map((e) => e.itemId));
      for (const x of train) catalogItems.add(x.item);
      results = await evaluateTopN(set, systems, {
        count: o.count,
        catalogSize: catalogItems.size,
        onProgress: (done, total) => o.onProgress?.('predict', done, total),
      });
      counts = { ...set.counts, catalogItems: catalogItems.size };
    }
  } finally {
    await engine.close();
  }
  const mine = results.get(engine.name)!;
  const baselines: Record<string, Metrics> = {};
  for (const [name, r] of results) if (name !== engine.name) baselines[name] = roundAll(r.metrics);
  if (baselineTrainSeconds.popularity !== undefined && !wanted.has('popularity')) delete baselineTrainSeconds.popularity;
  return {
    dataset: input.dataset,
    protocol: input.protocol,
    mode: o.mode,
    split: input.split,
    k: input.protocol === 'next-item' ? Math.max(...NEXT_ITEM_CUTOFFS) : o.count,
    metrics: roundAll(mine.metrics),
    baselines,
    predictions: mine.latencies.count,
    predictionsPerSecond: Math.round(mine.latencies.perSecond()),
    p50Ms: round(mine.latencies.quantile(0.5), 3),
    p99Ms: round(mine.latencies.quantile(0.99), 3),
    trainSeconds,
    baselineTrainSeconds,
    counts,
    ...(input.licence ? { licence: input.licence } : {}),
  };
}

function roundAll(m: Metrics): Metrics {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, round(v)]));
}
