/** The storage conformance suite against the embedded backend (LMDB). */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LmdbStore } from '../src/store/lmdb/lmdb-store.ts';
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

describe('lmdb, read-only beside a writer', () => {
  // (beside a writer in another process: test/decide-ope-cli.test.ts, `kairos ope` beside a server)
  it('reads what the writer committed and refuses to write', async () => {
    const dir = tempDir('kairos-store-ro-');
    const writer = new LmdbStore(join(dir, 'store'));
    try {
      await writer.commit('ws', [{ table: 'items', key: 'a', value: { n: 1 } }]);
      const reader = new LmdbStore(join(dir, 'store'), { readOnly: true });
      try {
        expect(await reader.get('ws', 'items', 'a')).toEqual({ n: 1 });
        await expect(reader.commit('ws', [{ table: 'items', key: 'c', value: {} }])).rejects.toThrow(/read-only/);
        await expect(reader.compact()).rejects.toThrow(/read-only/);
        expect(await writer.get('ws', 'items', 'c')).toBeUndefined();
      } finally {
        await reader.close();
      }
      // the writer goes on after the reader closed
      await writer.commit('ws', [{ table: 'items', key: 'd', value: { n: 4 } }]);
      expect(await writer.get('ws', 'items', 'd')).toEqual({ n: 4 });
    } finally {
      await writer.close();
      removeDir(dir);
    }
  });
});
