// Entry of the model-training worker thread. A worker does not inherit the loader hooks the main
// thread registered (bin/kairos.mjs, vitest), so this plain-JS file registers tsx for its own
// imports only (a namespaced registration: it leaves any tsx the thread already has alone) and
// loads the TypeScript worker.
import { register } from 'tsx/esm/api';

const api = register({ namespace: 'kairos-model-worker' });
await api.import('./worker.ts', import.meta.url);
