/**
 * `npm run bench:ingest`: HTTP ingestion and bulk import throughput, printed as one JSON object.
 * The server runs as its own process (as in production); the load comes from autocannon in this one.
 * Ratios to /healthz in the same run are the figures to compare across machines.
 */
import autocannon from 'autocannon';
import { execFileSync, spawnSync } from 'node:child_process';
import { createWriteStream, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { KAIROS_NODE_FLAGS, ROOT, WRITE_KEY, removeDir, startChild, tempDir } from '../test/helpers/server.ts';
import { syntheticEvents } from './synthetic.ts';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const seconds = Number(args.get('seconds') ?? 10);
const connections = Number(args.get('connections') ?? 64);
const importEvents = Number(args.get('import-events') ?? 1_000_000);
/** people the HTTP events cycle through: fewer people make longer open sessions (2,000 → ~100 events each in 10 s) */
const users = Number(args.get('users') ?? 20_000);
const basic = 'Basic ' + Buffer.from(`${WRITE_KEY}:`).toString('base64');

function dirBytes(dir: string): number {
  let total = 0;
  for (const f of readdirSync(dir, { recursive: true, withFileTypes: true })) if (f.isFile()) total += statSync(join(f.parentPath, f.name)).size;
  return total;
}

async function load(url: string, opts: Partial<autocannon.Options>): Promise<autocannon.Result> {
  return autocannon({ url, connections, duration: seconds, ...opts });
}

async function httpIngest(): Promise<Record<string, unknown>> {
  const dataDir = tempDir('kairos-bench-');
  const server = await startChild(dataDir, { LOG_LEVEL: 'warn' });
  try {
    await load(`${server.url}/healthz`, { duration: 2 });
    const health = await load(`${server.url}/healthz`, {});
    let n = 0;
    const batchBody = () => {
      const batch = [];
      for (let i = 0; i < 100; i++, n++) {
        batch.push({ type: 'track', userId: `u${n % users}`, event: 'Product Viewed', properties: { product_id: `p${(n * 7919) % 50_000}` }, messageId: `b-${n}` });
      }
      return JSON.stringify({ batch });
    };
    const ingest = await load(`${server.url}/v1/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basic },
      requests: [{ setupRequest: (req) => ({ ...req, body: batchBody() }) }],
    });
    const non2xx = ingest.non2xx;
    return {
      connections,
      seconds,
      users,
      eventsPerBatch: 100,
      healthz: { requestsPerSecond: health.requests.average, p50Ms: health.latency.p50, p99Ms: health.latency.p99 },
      batch: {
        requestsPerSecond: ingest.requests.average,
        eventsPerSecond: ingest.requests.average * 100,
        p50Ms: ingest.latency.p50,
        p99Ms: ingest.latency.p99,
        errors: ingest.errors + non2xx,
      },
      ratioToHealthz: ingest.requests.average / health.requests.average,
    };
  } finally {
    await server.stop();
    removeDir(dataDir);
  }
}

async function bulkImport(): Promise<Record<string, unknown>> {
  const dir = tempDir('kairos-bench-import-');
  const file = join(dir, 'events.ndjson');
  const out = createWriteStream(file);
  for (const e of syntheticEvents({ events: importEvents, people: 100_000, items: 100_000 })) {
    if (!out.write(JSON.stringify(e) + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  const dataDir = join(dir, 'data');
  const r = spawnSync(process.execPath, [...KAIROS_NODE_FLAGS, join(ROOT, 'bin', 'kairos.mjs'), 'import', file], {
    env: { ...process.env, KAIROS_DATA_DIR: dataDir, KAIROS_WRITE_KEY: WRITE_KEY, LOG_LEVEL: 'warn' },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`import failed: ${r.stderr}`);
  const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
  const bytes = dirBytes(dataDir);
  // restart cost: how long a server takes to rebuild serving state from this data dir
  const started = Date.now();
  const server = await startChild(dataDir, { LOG_LEVEL: 'warn' });
  const startSeconds = (Date.now() - started) / 1000;
  await server.stop();
  removeDir(dir);
  return {
    events: summary.read,
    stored: summary.stored,
    seconds: summary.seconds,
    eventsPerSecond: summary.eventsPerSecond,
    peakRssMB: summary.peakRssMB,
    bytesOnDisk: bytes,
    bytesPerEvent: Math.round(bytes / Math.max(1, summary.stored ?? 1)),
    serverStartSeconds: startSeconds,
  };
}

const result: Record<string, unknown> = { bench: 'ingest', node: process.version, cpus: execFileSync('nproc').toString().trim() };
result.http = await httpIngest();
if (importEvents > 0) result.import = await bulkImport();
console.log(JSON.stringify(result, null, 2));
