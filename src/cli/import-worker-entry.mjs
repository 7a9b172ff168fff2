// Entry of bulk import's parsing thread. A worker does not inherit the loader hooks the main thread
// registered, so this plain-JS file registers tsx for its own imports (namespaced, as the model
// worker's entry does) and loads the TypeScript worker.
import { register } from 'tsx/esm/api';

const api = register({ namespace: 'kairos-import-worker' });
await api.import('./import-worker.ts', import.meta.url);
