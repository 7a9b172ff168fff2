/**
 * Micro benchmark of the in-process recommendation core: builds a synthetic power-law state
 * (100,000 items, 1,000,000 interactions over 100,000 people) and times recommend().
 * Run: npx tsx bench/recommend-core.ts [--items N] [--interactions N] [--people N] [--queries N]
 * Prints JSON: {p50Ms, p99Ms, buildSeconds, rssMB, ...}.
 */
import os from 'node:os';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { Catalog } from '../src/catalog/catalog.ts';
import { DEFAULT_INTERACTION_WEIGHTS, type InteractionKind } from '../src/ingest/interactions.ts';
import { Recommender } from '../src/recommend/recommender.ts';
import { seededRandom } from '../src/recommend/rules/seeded-random.ts';
import type { RecommendQuery, SessionItem, SessionRecord } from '../src/recommend/types.ts';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const ITEMS = arg('items', 100_000);
const INTERACTIONS = arg('interactions', 1_000_000);
const PEOPLE = arg('people', 100_000);
const QUERIES = arg('queries', 5_000);
const WARMUP = 500;

const DAY = 86_400_000;
const NOW = Date.UTC(2024, 5, 1);
const random = seededRandom('kairos-bench');
const pickOf = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

/** inverse-CDF sampler of ranks 0..n-1 with P(rank) ∝ 1/(rank+1)^s */
function zipf(n: number, s: number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / (i + 1) ** s;
  return () => {
    const u = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

// --- catalog: 20 top-level categories × 10 sub-categories, 2,000 brands, generated names and tags
const ADJECTIVES = Array.from({ length: 150 }, (_, i) => `adj${i.toString(36)}`);
const NOUNS = Array.from({ length: 250 }, (_, i) => `noun${i.toString(36)}`);
const TAGS = Array.from({ length: 100 }, (_, i) => `tag${i}`);
const LEAVES = 200;
const catalog = new Catalog();
const leafOf = new Int32Array(ITEMS);
const itemsByLeaf: number[][] = Array.from({ length: LEAVES }, () => []);
const popularityRank = zipf(ITEMS, 1.0);
/** popularity order: a random permutation, so popular items are spread over categories */
const byPopularity = Int32Array.from({ length: ITEMS }, (_, i) => i);
for (let i = ITEMS - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [byPopularity[i], byPopularity[j]] = [byPopularity[j]!, byPopularity[i]!];
}

const generationStarted = performance.now();
const itemRecords: Array<{ itemId: string; properties: Record<string, unknown>; createdAt: number }> = [];
for (let i = 0; i < ITEMS; i++) {
  const leaf = Math.floor(random() * LEAVES);
  leafOf[i] = leaf;
  const tags = Array.from({ length: Math.floor(random() * 3) }, () => pickOf(TAGS));
  itemRecords.push({
    itemId: `p${i}`,
    properties: {
      name: `${pickOf(ADJECTIVES)} ${pickOf(NOUNS)} ${pickOf(NOUNS)}`,
      category: `Cat${Math.floor(leaf / 10)} > Sub${leaf}`,
      brand: `brand${Math.floor(random() * 2000)}`,
      tags,
      price: Math.round(random() * 20000) / 100,
    },
    createdAt: NOW - Math.floor(random() * 365 * DAY),
  });
}
for (let r = 0; r < ITEMS; r++) itemsByLeaf[leafOf[byPopularity[r]!]!]!.push(byPopularity[r]!);
const leafRank = itemsByLeaf.map((list) => zipf(list.length, 1.0));

// --- interactions: power-law activity per person, sessions of related items
const KINDS: Array<[InteractionKind, number]> = [['view', 0.8], ['click', 0.05], ['add', 0.08], ['wishlist', 0.02], ['purchase', 0.05]];
const kindOf = (): InteractionKind => {
  let u = random();
  for (const [k, p] of KINDS) if ((u -= p) < 0) return k;
  return 'view';
};
const nextItem = (prev: number | undefined): number => {
  if (prev !== undefined && random() < 0.6) {
    const leaf = leafOf[prev]!;
    return itemsByLeaf[leaf]![leafRank[leaf]!()]!;
  }
  return byPopularity[popularityRank()]!;
};
function sessionItems(length: number, end: number): SessionItem[] {
  const items: SessionItem[] = [];
  let prev: number | undefined;
  for (let i = 0; i < length; i++) {
    const item = nextItem(prev);
    prev = item;
    const kind = kindOf();
    items.push({ itemId: `p${item}`, kind, t: end - (length - 1 - i) * 60_000, weight: DEFAULT_INTERACTION_WEIGHTS[kind] });
  }
  return items;
}

const histories: SessionItem[][] = [];
const records: SessionRecord[] = [];
let interactions = 0;
const activityRank = zipf(PEOPLE, 0.7);
const perPerson = new Int32Array(PEOPLE);
for (let n = 0; n < INTERACTIONS; n++) perPerson[activityRank()]!++;
for (let p = 0; p < PEOPLE; p++) {
  let left = Math.max(1, perPerson[p]!);
  const history: SessionItem[] = [];
  let s = 0;
  while (left > 0) {
    const length = Math.min(left, 1 + Math.floor(-Math.log(1 - random()) * 5));
    const end = NOW - Math.floor(random() * 60 * DAY);
    const items = sessionItems(length, end);
    records.push({ key: `m${p}-${s++}`, start: items[0]!.t, end, items, size: items.length });
    history.push(...items);
    left -= length;
    interactions += length;
  }
  history.sort((a, b) => a.t - b.t);
  histories.push(history);
}
const generationSeconds = (performance.now() - generationStarted) / 1000;

// --- the measured build: catalog and models, as the engine does at startup
v8.setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
collectGarbage();
const heapBeforeBuild = process.memoryUsage().heapUsed;
const started = performance.now();
const postingBudget = arg('posting-budget', 0);
const recommender = new Recommender(catalog, postingBudget > 0 ? { content: { postingBudget } } : {});
catalog.listen(recommender);
for (const r of itemRecords) catalog.upsert(r.itemId, r.properties, r.createdAt);
for (const r of records) recommender.addSession(r);
const buildSeconds = (performance.now() - started) / 1000;
collectGarbage();
/** heap held by the catalog and the models (the generated input is excluded) */
const stateHeapMB = Math.round((process.memoryUsage().heapUsed - heapBeforeBuild) / 1e6);

// --- queries: a person, a short current session, half of them on a product page
const placements = ['default', 'home', 'product_page', 'cart'];
function makeQuery(i: number): { q: RecommendQuery; placement: string } {
  const person = Math.floor(random() * PEOPLE);
  const current = sessionItems(1 + Math.floor(random() * 5), NOW - 1000).map((it) => ({ ...it, kind: 'view' as const, weight: 1 }));
  const onProductPage = i % 2 === 0;
  return {
    q: {
      now: NOW + i * 10,
      session: current,
      history: [...histories[person]!, ...current],
      ...(onProductPage ? { contextItemId: current[current.length - 1]!.itemId } : {}),
      personalized: true,
    },
    placement: onProductPage ? 'product_page' : pickOf(placements),
  };
}
const queries = Array.from({ length: QUERIES + WARMUP }, (_, i) => makeQuery(i));
/** garbage collections (start, duration): the main source of tail latency, reported apart */
const gcs: Array<{ start: number; duration: number }> = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push({ start: e.startTime, duration: e.duration });
});
gcObserver.observe({ entryTypes: ['gc'] });
const spans: Array<{ start: number; end: number }> = [];
const times: number[] = [];
/** process CPU time per query: unlike wall time, not inflated when other processes compete for the CPU */
const cpuTimes: number[] = [];
let returned = 0;
for (let i = 0; i < queries.length; i++) {
  const { q, placement } = queries[i]!;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const res = recommender.recommend(q, { count: 10, seed: `req-${i}`, placement });
  const dt = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  if (i >= WARMUP) {
    spans.push({ start: t0, end: t0 + dt });
    times.push(dt);
    cpuTimes.push((cpu.user + cpu.system) / 1000);
    returned += res.items.length;
  }
}
// observer entries arrive asynchronously
await new Promise((resolve) => setTimeout(resolve, 50));
gcObserver.disconnect();
const measuredGcs = gcs.filter((g) => g.start >= spans[0]!.start && g.start <= spans[spans.length - 1]!.end);
const withoutGc = times.filter((_, i) => !measuredGcs.some((g) => g.start >= spans[i]!.start && g.start <= spans[i]!.end)).sort((a, b) => a - b);
times.sort((a, b) => a - b);
cpuTimes.sort((a, b) => a - b);
const quantile = (p: number, sorted = times): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
const round = (x: number, digits = 3): number => Math.round(x * 10 ** digits) / 10 ** digits;
console.log(JSON.stringify({
  p50Ms: round(quantile(0.5)),
  p99Ms: round(quantile(0.99)),
  buildSeconds: round(buildSeconds, 2),
  rssMB: Math.round(process.memoryUsage().rss / 1e6),
  heapMB: Math.round(process.memoryUsage().heapUsed / 1e6),
  stateHeapMB,
  generationSeconds: round(generationSeconds, 2),
  maxMs: round(times[times.length - 1]!),
  cpuP50Ms: round(quantile(0.5, cpuTimes)),
  cpuP99Ms: round(quantile(0.99, cpuTimes)),
  p99WithoutGcMs: round(quantile(0.99, withoutGc)),
  gcDuringQueries: measuredGcs.length,
  gcMaxMs: round(Math.max(0, ...measuredGcs.map((g) => g.duration))),
  gcTotalMs: round(measuredGcs.reduce((a, g) => a + g.duration, 0)),
  loadAverage: round(os.loadavg()[0]!, 2),
  cpus: os.cpus().length,
  meanMs: round(times.reduce((a, b) => a + b, 0) / times.length),
  items: ITEMS,
  interactions,
  people: PEOPLE,
  sessions: records.length,
  viewedPairs: recommender.covisit.pairCount('viewed'),
  boughtPairs: recommender.covisit.pairCount('bought'),
  queries: times.length,
  avgReturned: round(returned / times.length, 2),
}));
