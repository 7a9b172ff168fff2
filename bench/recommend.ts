/**
 * `npm run bench:recommend`: recommendation serving under load, printed as one JSON object.
 * 100k items and 1M power-law events over 100k people are imported into a fresh data dir; the server
 * runs as its own process; autocannon asks for 10 items for random people, in the same run as
 * /healthz. Then the same state is opened in-process to time the recommend path without HTTP: with a
 * still catalog, while one item's price changes every 50 requests, and while a new item arrives every
 * 50 requests (described, or named by events only); in a child process with the server's Node flags
 * and in one with Node's defaults; and for the three most active people (the longest histories).
 * Last, the HTTP floor: the same requests against a server with nothing to rank.
 */
import autocannon from 'autocannon';
import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import v8 from 'node:v8';
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { capabilities } from '../src/capabilities.ts';
import { openEngine } from '../src/engine/open.ts';
import { DEFAULT_SERVING_SETTINGS, RecommendationsExtension } from '../src/recommend/serving/extension.ts';
import { serveRecommendation } from '../src/recommend/serving/serve.ts';
import { ADMIN_KEY, KAIROS_NODE_FLAGS, ROOT, WRITE_KEY, api, removeDir, startChild, tempDir } from '../test/helpers/server.ts';
import { mulberry32, syntheticEvents, syntheticItem } from './synthetic.ts';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const events = Number(args.get('events') ?? 1_000_000);
const people = Number(args.get('people') ?? 100_000);
const items = Number(args.get('items') ?? 100_000);
const seconds = Number(args.get('seconds') ?? 10);
const connections = Number(args.get('connections') ?? 32);

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

async function prepare(dataDir: string): Promise<{ importSeconds: number }> {
  const file = join(dataDir, '..', 'events.ndjson');
  const out = createWriteStream(file);
  for (const e of syntheticEvents({ events, people, items })) if (!out.write(JSON.stringify(e) + '\n')) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
  const r = spawnSync(process.execPath, [...KAIROS_NODE_FLAGS, join(ROOT, 'bin', 'kairos.mjs'), 'import', file], {
    env: { ...process.env, KAIROS_DATA_DIR: dataDir, KAIROS_WRITE_KEY: WRITE_KEY, KAIROS_ADMIN_KEY: ADMIN_KEY, LOG_LEVEL: 'warn' },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`import failed: ${r.stderr}`);
  return { importSeconds: (JSON.parse(r.stdout.trim().split('\n').pop()!) as { seconds: number }).seconds };
}

let modelTrainSeconds: number | undefined;

async function overHttp(dataDir: string): Promise<Record<string, unknown>> {
  const started = Date.now();
  const server = await startChild(dataDir, { LOG_LEVEL: 'warn', KAIROS_RATE_LIMIT: '0' });
  const startSeconds = (Date.now() - started) / 1000;
  try {
    for (let i = 0; i < items; i += 10_000) {
      const chunk = Array.from({ length: Math.min(10_000, items - i) }, (_, j) => syntheticItem(i + j));
      const r = await api(server.url, 'POST', '/v1/items', { items: chunk });
      if (r.status !== 200) throw new Error(`item upsert failed: ${r.status} ${r.text}`);
    }
    const rand = mulberry32(7);
    const body = () => JSON.stringify({ userId: `u${Math.floor(rand() * people)}`, count: 10 });
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` };
    // the collaborative model trains once data is there; train it now, so no training shares the CPU
    // with the measurement (requests never wait for it, but it takes one of the cores)
    const trained = await api(server.url, 'POST', '/v1/models/collaborative/retrain', {});
    if (trained.status !== 200) throw new Error(`model training failed: ${trained.status} ${trained.text}`);
    modelTrainSeconds = (trained.json as { trainMs?: number }).trainMs! / 1000;
    await autocannon({ url: `${server.url}/healthz`, connections, duration: 2 });
    const health = await autocannon({ url: `${server.url}/healthz`, connections, duration: seconds });
    const recs = await autocannon({
      url: `${server.url}/v1/recommendations`, connections, duration: seconds, method: 'POST', headers,
      requests: [{ setupRequest: (req) => ({ ...req, body: body() }) }],
    });
    const rss = Number(/kairos_process_resident_memory_bytes (\d+)/.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1] ?? 0);
    return {
      serverStartSeconds: startSeconds,
      modelTrainSeconds,
      healthz: { requestsPerSecond: health.requests.average, p50Ms: health.latency.p50, p99Ms: health.latency.p99 },
      recommendations: { requestsPerSecond: recs.requests.average, p50Ms: recs.latency.p50, p99Ms: recs.latency.p99, errors: recs.errors + recs.non2xx },
      ratioToHealthz: recs.requests.average / health.requests.average,
      serverRssMB: Math.round(rss / 1048576),
    };
  } finally {
    await server.stop();
  }
}

/**
 * The HTTP floor: the same requests against a server whose catalog holds two items and which knows
 * nobody, so ranking costs next to nothing. Its ratio to /healthz is the most any recommendation
 * request can reach on this stack (parsing, auth, impression, answer).
 */
async function httpFloor(): Promise<Record<string, unknown>> {
  const dir = tempDir('kairos-bench-floor-');
  const server = await startChild(join(dir, 'data'), { LOG_LEVEL: 'warn', KAIROS_RATE_LIMIT: '0' });
  try {
    const r = await api(server.url, 'POST', '/v1/items', { items: [syntheticItem(0), syntheticItem(1)] });
    if (r.status !== 200) throw new Error(`item upsert failed: ${r.status} ${r.text}`);
    const rand = mulberry32(13);
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` };
    await autocannon({ url: `${server.url}/healthz`, connections, duration: 2 });
    const health = await autocannon({ url: `${server.url}/healthz`, connections, duration: seconds });
    const recs = await autocannon({
      url: `${server.url}/v1/recommendations`, connections, duration: seconds, method: 'POST', headers,
      requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify({ userId: `u${Math.floor(rand() * people)}`, count: 10 }) }) }],
    });
    return { healthzRequestsPerSecond: health.requests.average, recommendationsPerSecond: recs.requests.average, ratioToHealthz: recs.requests.average / health.requests.average, errors: recs.errors + recs.non2xx };
  } finally {
    await server.stop();
    removeDir(dir);
  }
}

async function inProcess(dataDir: string): Promise<Record<string, unknown>> {
  const config = loadConfig({ KAIROS_DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
  const caps = capabilities(config);
  const opened = await openEngine(config, pino({ level: 'silent' }), caps.extensions);
  try {
    const ext = caps.extensions.find((e): e is RecommendationsExtension => e instanceof RecommendationsExtension)!;
    const ws = opened.engine.workspaces.get('default')!;
    const state = ext.stateOf(ws);
    await state.recommender.matrix.retrain();
    // steady: the catalog does not change; prices: one item's price changes every 50 requests, as a
    // shop's price and stock feed does (only what rankings depend on may cost anything); new items:
    // one arrives every 50 requests, described (name, category, brand) or named by events only (an id)
    type Churn = 'none' | 'prices' | 'described' | 'id-only';
    let arrivals = 0;
    const timed = (churn: Churn, seed: number): Record<string, number> => {
      const rand = mulberry32(seed);
      const times: number[] = [];
      for (let i = 0; i < 20_000; i++) {
        if (churn === 'prices' && i % 50 === 0) {
          const { itemId, properties } = syntheticItem(Math.floor(rand() * items));
          const created = ws.catalog.get(itemId)?.createdAt ?? Date.now();
          ws.catalog.upsert(itemId, { ...properties, price: 1 + Math.floor(rand() * 500) }, created);
        } else if ((churn === 'described' || churn === 'id-only') && i % 50 === 0) {
          const { properties } = syntheticItem(items + arrivals);
          ws.catalog.upsert(`new-${arrivals++}`, churn === 'described' ? properties : { price: properties.price }, Date.now());
        }
        const req = { userId: `u${Math.floor(rand() * people)}`, count: 10 };
        const t0 = process.hrtime.bigint();
        serveRecommendation(ws, state, DEFAULT_SERVING_SETTINGS, req, Date.now());
        const dt = Number(process.hrtime.bigint() - t0) / 1e6;
        if (i >= 2_000) times.push(dt);
      }
      times.sort((a, b) => a - b);
      return { calls: times.length, p50Ms: percentile(times, 0.5), p99Ms: percentile(times, 0.99), maxMs: times[times.length - 1]! };
    };
    let minorGcs = 0;
    const gcs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (((e as { detail?: { kind?: number } }).detail)?.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) minorGcs++;
    });
    gcs.observe({ entryTypes: ['gc'] });
    const steady = timed('none', 11);
    const churn = timed('prices', 12);
    await new Promise((r) => setTimeout(r, 100)); // gc entries are delivered asynchronously
    gcs.disconnect();
    // the most active people of the power law (u0 is the first rank): the longest histories
    const heaviest = ['u0', 'u1', 'u2'].map((userId) => {
      const times: number[] = [];
      for (let i = 0; i < 220; i++) {
        const t0 = process.hrtime.bigint();
        serveRecommendation(ws, state, DEFAULT_SERVING_SETTINGS, { userId, count: 10 }, Date.now());
        if (i >= 20) times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      times.sort((a, b) => a - b);
      return { userId, events: ws.profile(userId, Date.now())?.eventCount ?? 0, p50Ms: percentile(times, 0.5), maxMs: times[times.length - 1]! };
    });
    const youngGenerationMB = (v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0) / 1048576;
    // after the GC count: arrivals of new items, which content similarity's cache feels
    const withNewItems = { described: timed('described', 13), idOnly: timed('id-only', 14) };
    return { nodeFlags: process.execArgv.filter((a) => a !== '--import' && a !== 'tsx').join(' '), youngGenerationMB, ...steady, withCatalogChurn: churn, withNewItems, minorGcs, heaviest, rssMB: Math.round(process.memoryUsage().rss / 1048576) };
  } finally {
    await opened.close();
  }
}

/** the in-process timing in a child process started with `nodeFlags` (the parent's heap stays out of it) */
function inChild(dataDir: string, nodeFlags: readonly string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, [...nodeFlags, '--import', 'tsx', import.meta.filename, `--in-process=${dataDir}`, `--items=${items}`, `--people=${people}`], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`in-process timing failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

const inProcessDir = args.get('in-process');
if (inProcessDir !== undefined) {
  console.log(JSON.stringify(await inProcess(inProcessDir)));
} else {
  const dir = tempDir('kairos-bench-recommend-');
  const dataDir = join(dir, 'data');
  try {
    const prepared = await prepare(dataDir);
    const http = await overHttp(dataDir);
    // as the server runs (`npm start`, `npx kairos`), then with Node's default young generation
    const local = inChild(dataDir, KAIROS_NODE_FLAGS);
    const nodeDefaults = inChild(dataDir, []);
    const floor = await httpFloor();
    console.log(JSON.stringify({ bench: 'recommend', node: process.version, events, people, items, connections, seconds, ...prepared, http, inProcess: { ...local, withNodeDefaults: nodeDefaults }, httpFloor: floor }, null, 2));
  } finally {
    removeDir(dir);
  }
}
