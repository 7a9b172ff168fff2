/**
 * Runs one EASE training off the main thread: a worker thread per training (it holds the Gram matrix
 * and its inverse only while training, then exits), the snapshot's buffers transferred in and the
 * model's transferred back, so neither direction copies. The worker is unref'd: a training never
 * keeps the process alive, and `cancel()` terminates it.
 */
import { Worker } from 'node:worker_threads';
import { snapshotBuffers, trainEase, type EaseTrainOptions, type InteractionSnapshot, type SparseItemModel } from './ease-train.ts';
import { bundledWorkerUrl } from '../../worker-bundle.ts';
import type { TrainRequest, TrainResponse } from './worker.ts';

export interface TrainedModel {
  model: SparseItemModel;
  /** time spent training (in the worker), ms */
  ms: number;
}

export interface Training {
  result: Promise<TrainedModel>;
  /** stops the training; `result` rejects */
  cancel(): void;
}

const WORKER_ENTRY = new URL('./worker.ts', import.meta.url);

/**
 * trains in a worker thread (started from a bundle of worker.ts: worker-bundle.ts); the snapshot's
 * buffers are transferred once the thread starts (unusable here afterwards)
 */
export function trainInWorker(snapshot: InteractionSnapshot, options: Partial<EaseTrainOptions>): Training {
  let worker: Worker | undefined;
  let settle: { resolve: (m: TrainedModel) => void; reject: (e: Error) => void } | undefined;
  const result = new Promise<TrainedModel>((resolve, reject) => (settle = { resolve, reject }));
  const finish = (outcome: TrainedModel | Error): void => {
    const s = settle;
    if (!s) return;
    settle = undefined;
    void worker?.terminate();
    if (outcome instanceof Error) s.reject(outcome);
    else s.resolve(outcome);
  };
  bundledWorkerUrl(WORKER_ENTRY).then((url) => {
    if (!settle) return; // cancelled before the thread started
    const w = (worker = new Worker(url, { name: 'kairos-model-trainer' }));
    w.unref();
    w.once('message', (res: TrainResponse) => finish(res.ok ? { model: res.model, ms: res.ms } : new Error(`model training failed: ${res.error}`)));
    w.once('error', (e) => finish(e instanceof Error ? e : new Error(String(e))));
    w.once('exit', (code) => finish(new Error(`model training worker exited (code ${code})`)));
    w.postMessage({ snapshot, options } satisfies TrainRequest, snapshotBuffers(snapshot));
  }, (e: unknown) => finish(new Error(`model training worker could not be built: ${(e as Error).message}`)));
  return { result, cancel: () => finish(new Error('model training cancelled')) };
}

/** the same training on the calling thread (tools and tests that want no thread) */
export function trainInProcess(snapshot: InteractionSnapshot, options: Partial<EaseTrainOptions>): Training {
  const started = performance.now();
  const result = new Promise<TrainedModel>((resolve) => resolve({ model: trainEase(snapshot, options), ms: performance.now() - started }));
  return { result, cancel: () => {} };
}
