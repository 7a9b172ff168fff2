/**
 * Bulk import's parsing thread: reads an NDJSON file, parses and validates it a chunk at a time,
 * and posts each chunk to the main thread already encoded (ingest/batch.ts), which leaves the main
 * thread the ledger, the catalog and the commits. It parses at most AHEAD chunks the main thread has
 * not taken yet.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { encodeBatches, encodedBatchBuffers, type EncodedBatchData } from '../ingest/batch.ts';
import { PolicyApplier, type PrivacyPolicy } from '../privacy/policy.ts';
import { ndjsonRows, validateChunk, type Row } from './import-rows.ts';

export interface ImportWorkerInput {
  file: string;
  chunkSize: number;
  skipInvalid: boolean;
  privacy: PrivacyPolicy;
}

/** chunks parsed before the main thread has taken the earlier ones */
export const AHEAD = 4;

export type ImportWorkerMessage =
  /** a chunk's valid events, in batches of bounded size (one, unless its lines are very large) */
  | { kind: 'chunk'; read: number; invalid: number; problems: string[]; failed: boolean; batches: EncodedBatchData[] }
  | { kind: 'done' }
  | { kind: 'error'; message: string };

if (!parentPort) throw new Error('import-worker.ts runs as a worker thread');
const port = parentPort;
const input = workerData as ImportWorkerInput;
const policy = new PolicyApplier(input.privacy);
const minimise = policy.apply.bind(policy);

// the main thread posts a credit for every chunk it has taken
let credits = AHEAD;
let wake: (() => void) | undefined;
port.on('message', () => {
  credits++;
  wake?.();
});

async function send(rows: Row[]): Promise<boolean> {
  while (credits === 0) await new Promise<void>((resolve) => (wake = resolve));
  credits--;
  const v = validateChunk(rows, input.skipInvalid, minimise);
  let bytes = 0;
  for (const r of rows) bytes += r.bytes;
  const batches = encodeBatches(v.events, bytes);
  port.postMessage({ kind: 'chunk', read: rows.length, invalid: v.invalid, problems: v.problems, failed: v.failed, batches } satisfies ImportWorkerMessage, batches.flatMap(encodedBatchBuffers));
  return !v.failed;
}

try {
  let chunk: Row[] = [];
  let ok = true;
  reading: for await (const rows of ndjsonRows(input.file)) {
    for (const row of rows) {
      chunk.push(row);
      if (chunk.length >= input.chunkSize) {
        ok = await send(chunk);
        chunk = [];
        if (!ok) break reading;
      }
    }
  }
  if (ok && chunk.length) await send(chunk);
  port.postMessage({ kind: 'done' } satisfies ImportWorkerMessage);
} catch (e) {
  port.postMessage({ kind: 'error', message: (e as Error).message } satisfies ImportWorkerMessage);
}
