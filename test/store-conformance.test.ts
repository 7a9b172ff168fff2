/** The storage conformance suite against the embedded backend (LMDB). */
import { join } from 'node:path';
import { MemoryStore } from '../src/store/memory/memory-store.ts';
import { openLmdbStore } from './helpers/lmdb-store-harness.ts';
import { removeDir, tempDir } from './helpers/server.ts';
import { describeStoreConformance } from './helpers/store-conformance.ts';

describeStoreConformance('lmdb', async () => {
  const dir = tempDir('kairos-store-');
  return {
    dataDir: dir,
    open: () => openLmdbStore(dir),
    destroy: async () => removeDir(dir),
    isolated: { module: join(import.meta.dirname, 'helpers', 'lmdb-store-harness.ts'), exportName: 'openLmdbStore' },
  };
});

// the in-memory backend (evaluation harness, benchmarks): "reopening" returns the same instance,
// since it keeps nothing across processes by design
describeStoreConformance('memory', async () => {
  const store = new MemoryStore();
  return { open: async () => store, destroy: async () => undefined };
});
