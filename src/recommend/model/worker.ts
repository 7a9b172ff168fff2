/**
 * The model-training worker thread: receives one snapshot, trains, posts the model back with its
 * buffers transferred (no copy), and is then terminated by the trainer. The thread starts from a
 * bundle of this module (worker-bundle.ts).
 */
import { parentPort } from 'node:worker_threads';
import { modelBuffers, trainEase, type EaseTrainOptions, type InteractionSnapshot } from './ease-train.ts';

export interface TrainRequest {
  snapshot: InteractionSnapshot;
  options: Partial<EaseTrainOptions>;
}

export type TrainResponse = { ok: true; model: ReturnType<typeof trainEase>; ms: number } | { ok: false; error: string };

if (!parentPort) throw new Error('worker.ts runs as a worker thread');
const port = parentPort;
port.once('message', (req: TrainRequest) => {
  const started = performance.now();
  try {
    const model = trainEase(req.snapshot, req.options);
    port.postMessage({ ok: true, model, ms: performance.now() - started } satisfies TrainResponse, modelBuffers(model));
  } catch (e) {
    port.postMessage({ ok: false, error: (e as Error).message } satisfies TrainResponse);
  }
});
