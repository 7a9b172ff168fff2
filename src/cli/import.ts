/**
 * `kairos import FILE`: bulk-load Segment events into the data dir (server stopped), through the same
 * validation and durable records as the HTTP path. NDJSON (one Segment event per line) or CSV with a
 * column mapping. Events without a messageId get one derived from their content, so an interrupted
 * import can simply be run again: what was stored is recognised as a repeat. NDJSON is parsed,
 * validated and encoded on a second thread (import-worker.ts; docs/architecture.md, "Bulk import").
 */
import { on } from 'node:events';
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { loadConfig } from '../config.ts';
import { CATALOG_RECHECK, DEFAULT_WORKSPACE } from '../engine/engine.ts';
import { createLogger, openEngine, type OpenedEngine } from '../engine/open.ts';
import type { IngestResult } from '../ingest/pipeline.ts';
import { csvRows, parseMapping, type ColumnMapping } from './import-csv.ts';
import { validateChunk, type Row } from './import-rows.ts';
import type { ImportWorkerInput, ImportWorkerMessage } from './import-worker.ts';
import { Progress } from './progress.ts';
import { bundledWorkerUrl } from '../worker-bundle.ts';

export { ndjsonRows, type Row } from './import-rows.ts';

const WORKER_ENTRY = new URL('./import-worker.ts', import.meta.url);
/** chunks committing at once: while one waits for its fsync the next are written */
const COMMITS_IN_FLIGHT = 3;

const USAGE = `usage: kairos import FILE [options]

  FILE                  NDJSON, one Segment event per line (.ndjson/.jsonl), or CSV/TSV (.csv/.tsv);
                        gzip-compressed files are read as such (.gz or not)
  --format F            ndjson | csv | tsv (default: from the file name)
  --map FIELD=COLUMN    CSV column mapping, repeatable; FIELD is userId, anonymousId, event, type,
                        timestamp, messageId, properties.NAME, traits.NAME, context.PATH…;
                        FIELD:number=COLUMN or FIELD:boolean=COLUMN types the cell (else a string);
                        a number in the path makes an array: properties.products.0.product_id
  --event NAME          event name for CSV rows without an event column (default "Product Viewed")
  --workspace ID        target workspace (default "default")
  --skip-invalid        report invalid events and go on (default: stop at the first invalid chunk)
  --chunk N             events per durable commit (default 5000; a chunk of very large NDJSON
                        lines is committed in parts of at most ~64 MB)

Timestamps in CSV may be ISO-8601, YYYYMMDD, epoch seconds or epoch milliseconds.
Rows without a messageId get one derived from their content (a rerun recognises what was stored);
identical rows of one file are distinct events, a row found again in another file is the same one.`;

export async function importCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      format: { type: 'string' },
      map: { type: 'string', multiple: true },
      event: { type: 'string' },
      workspace: { type: 'string' },
      'skip-invalid': { type: 'boolean' },
      chunk: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const file = positionals[0];
  if (values.help || !file) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const name = file.replace(/\.gz$/i, '');
  const format = values.format ?? (/\.(csv)$/i.test(name) ? 'csv' : /\.(tsv|txt)$/i.test(name) ? 'tsv' : 'ndjson');
  if (!['ndjson', 'csv', 'tsv'].includes(format)) {
    console.error(`--format must be ndjson, csv or tsv`);
    return 2;
  }
  const mapping: ColumnMapping[] = [];
  for (const spec of values.map ?? []) {
    const m = parseMapping(spec);
    if (typeof m === 'string') {
      console.error(m);
      return 2;
    }
    mapping.push(m);
  }
  if (format !== 'ndjson' && mapping.length === 0) {
    console.error('CSV import needs a column mapping, e.g. --map userId=user_id --map properties.product_id=item --map timestamp=ts');
    return 2;
  }
  const chunkSize = Number(values.chunk ?? 5000);
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 100_000) {
    console.error('--chunk must be an integer from 1 to 100000');
    return 2;
  }
  const total = statSync(file).size;
  const config = loadConfig();
  const started = Date.now();
  const skipInvalid = values['skip-invalid'] === true;
  // NDJSON is parsed, validated and encoded on a second thread, which starts (loading its code)
  // while the data dir opens; the ledger, the catalog and the commits stay on this one
  const input: ImportWorkerInput = { file, chunkSize, skipInvalid, privacy: config.privacy };
  const worker = format === 'ndjson' ? new Worker(await bundledWorkerUrl(WORKER_ENTRY), { name: 'kairos-import-parser', workerData: input }) : undefined;
  // listened to from the start: what the thread posts while the data dir opens is kept until taken
  const messages = worker && (on(worker, 'message', { close: ['exit'] }) as AsyncIterableIterator<[ImportWorkerMessage]>);
  let opened: OpenedEngine;
  try {
    // events are loaded (not models): the import needs the catalog and the messageIds already
    // stored, so that repeats of what the data dir holds are recognised, not the serving state
    opened = await openEngine(config, createLogger({ ...config, logLevel: 'warn' }), [], 'ledger');
  } catch (e) {
    await worker?.terminate();
    throw e;
  }
  const { engine } = opened;
  const wsId = values.workspace ?? DEFAULT_WORKSPACE;
  const ws = engine.workspaces.get(wsId);
  if (!ws) {
    await worker?.terminate();
    await opened.close();
    console.error(`no workspace "${wsId}"`);
    return 2;
  }
  // import judges no consent: the next start rechecks the items named by people who ever opted out
  if ((await engine.store.get(ws.id, 'meta', CATALOG_RECHECK)) === undefined) await engine.store.commit(ws.id, [{ table: 'meta', key: CATALOG_RECHECK, value: 'stating' }]);
  const progress = new Progress(`importing ${file}`, undefined, ' events');
  const counts = { read: 0, stored: 0, duplicates: 0, invalid: 0, dropped: 0, itemsWritten: 0 };
  let failed = false;
  const stored = (r: IngestResult): void => {
    counts.stored += r.stored;
    counts.duplicates += r.duplicates;
    counts.dropped += r.dropped;
    counts.itemsWritten += r.itemsWritten;
  };
  /** takes a validated chunk's outcome; false when the import stops at it */
  const took = (read: number, invalid: number, problems: string[], chunkFailed: boolean): boolean => {
    counts.read += read;
    counts.invalid += invalid;
    for (const p of problems) console.error(p);
    failed ||= chunkFailed;
    if (!failed) progress.update(counts.read, `(${Math.round(counts.read / Math.max(0.001, (Date.now() - started) / 1000)).toLocaleString('en')}/s)`);
    return !failed;
  };
  // a few chunks commit while the next is taken (each commit waits for its fsync)
  const committing: Array<Promise<void>> = [];
  const commitNext = async (commit: Promise<IngestResult>): Promise<void> => {
    const done = commit.then(stored);
    done.catch(() => {}); // a failure is raised where it is awaited, not as an unhandled rejection
    committing.push(done);
    if (committing.length >= COMMITS_IN_FLIGHT) await committing.shift();
  };
  try {
    if (worker && messages) {
      try {
        let done = false;
        for await (const [msg] of messages) {
          if (msg.kind === 'done') {
            done = true;
            break;
          }
          if (msg.kind === 'error') throw new Error(`reading ${file}: ${msg.message}`);
          worker.postMessage('next');
          if (!took(msg.read, msg.invalid, msg.problems, msg.failed)) break;
          for (const batch of msg.batches) await commitNext(engine.ingestor.ingestEncoded(ws, batch));
        }
        if (!done && !failed) throw new Error(`reading ${file}: the parsing thread stopped before the end`);
      } finally {
        await worker.terminate();
      }
    } else {
      let chunk: Row[] = [];
      const flush = async (): Promise<boolean> => {
        const v = validateChunk(chunk, skipInvalid, (e) => engine.ingestor.minimise(e));
        const read = chunk.length;
        chunk = [];
        if (!took(read, v.invalid, v.problems, v.failed)) return false;
        await commitNext(engine.ingestor.ingestValid(ws, v.events));
        return true;
      };
      const rows = csvRows(file, format === 'csv' ? ',' : '\t', mapping, values.event ?? 'Product Viewed');
      reading: for await (const batch of rows) {
        for (const row of batch) {
          chunk.push(row);
          if (chunk.length >= chunkSize && !(await flush())) break reading;
        }
      }
      if (!failed && chunk.length) await flush();
    }
    await Promise.all(committing);
  } finally {
    await opened.close();
  }
  const seconds = (Date.now() - started) / 1000;
  progress.finish(counts.read);
  console.log(
    JSON.stringify({
      file, format, bytes: total, ...counts, seconds,
      eventsPerSecond: Math.round(counts.read / Math.max(seconds, 0.001)),
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    }),
  );
  if (failed) console.error('stopped at an invalid chunk: fix the lines above, or pass --skip-invalid; rerunning is safe');
  return failed ? 1 : 0;
}
