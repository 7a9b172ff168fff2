/**
 * Bulk import's parsing thread starts from a bundle of its TypeScript modules (worker-bundle.ts),
 * not through tsx's loader hooks. The bundle must run as a worker on its own, and load each package
 * from the file the main thread resolves it to (never a second copy bundled in).
 */
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { ImportWorkerInput, ImportWorkerMessage } from '../src/cli/import-worker.ts';
import { bundledWorkerUrl } from '../src/worker-bundle.ts';
import { EncodedBatch } from '../src/ingest/batch.ts';
import { DEFAULT_PRIVACY_POLICY } from '../src/privacy/policy.ts';
import { removeDir, tempDir } from './helpers/server.ts';

const IMPORT_WORKER = new URL('../src/cli/import-worker.ts', import.meta.url);

describe('bundledWorkerUrl', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) removeDir(dir);
    dir = undefined;
  });

  it('imports packages by the file URL Node resolves them to, and bundles the TypeScript modules', async () => {
    const url = await bundledWorkerUrl(IMPORT_WORKER);
    expect(url.protocol).toBe('data:');
    const code = decodeURIComponent(url.href.slice('data:text/javascript,'.length));
    for (const pkg of ['msgpackr', 'ajv']) expect(code).toContain(JSON.stringify(import.meta.resolve(pkg)));
    expect(code).not.toMatch(/from\s+["'](msgpackr|ajv|@sinclair\/typebox)["']/);
    // the worker's own modules are inside, not imported
    expect(code).not.toMatch(/from\s+["'][^"']*\.ts["']/);
    expect(code).toContain('function encodeBatches(');
    expect(code.trimEnd().endsWith('//# sourceURL=import-worker.bundle.js')).toBe(true);
  });

  it('runs the import parsing thread: chunks of valid events, encoded, and the invalid ones reported', async () => {
    dir = tempDir('kairos-worker-bundle-');
    const file = join(dir, 'events.ndjson');
    const track = (i: number): string =>
      JSON.stringify({ type: 'track', event: 'Product Viewed', userId: `u${i}`, messageId: `m${i}`, timestamp: `2026-01-0${i}T00:00:00.000Z`, properties: { product_id: `p${i}` } });
    writeFileSync(file, [track(1), '{"type":"track"}', track(2), track(3)].join('\n') + '\n');
    const input: ImportWorkerInput = { file, chunkSize: 2, skipInvalid: true, privacy: DEFAULT_PRIVACY_POLICY };
    const worker = new Worker(await bundledWorkerUrl(IMPORT_WORKER), { workerData: input });
    const messages: ImportWorkerMessage[] = [];
    try {
      for (;;) {
        const [msg] = (await once(worker, 'message')) as [ImportWorkerMessage];
        messages.push(msg);
        if (msg.kind !== 'chunk') break;
        worker.postMessage('next');
      }
    } finally {
      await worker.terminate();
    }
    expect(messages.map((m) => m.kind)).toEqual(['chunk', 'chunk', 'done']);
    const chunks = messages.filter((m) => m.kind === 'chunk');
    expect(chunks.map((c) => [c.read, c.invalid])).toEqual([[2, 1], [2, 0]]);
    expect(chunks[0]!.problems.join('\n')).toMatch(/line 2/);
    const stored = chunks.flatMap((c) => c.batches.map((b) => new EncodedBatch(b)));
    const ids = stored.flatMap((b) => Array.from({ length: b.length }, (_, i) => [b.messageId(i), b.ids(i)]));
    expect(ids).toEqual([['m1', ['u1']], ['m2', ['u2']], ['m3', ['u3']]]);
  });
});
