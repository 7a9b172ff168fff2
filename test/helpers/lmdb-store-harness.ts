/** Opens the embedded (LMDB) store for the conformance suite, in this process or in a child one. */
import { join } from 'node:path';
import { LmdbStore } from '../../src/store/lmdb/lmdb-store.ts';
import type { Store } from '../../src/store/types.ts';

export const openLmdbStore = async (dataDir: string): Promise<Store> => new LmdbStore(join(dataDir, 'store'));
