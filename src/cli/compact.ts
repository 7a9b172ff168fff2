/** `kairos compact`: rewrite the store so deleted (erased) data leaves no byte behind. */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import { compactStore } from '../engine/engine.ts';
import { lockDataDir } from '../store/lock.ts';
import { LmdbStore } from '../store/lmdb/lmdb-store.ts';

export async function compactCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log('usage: kairos compact\n\nRewrites the data dir (KAIROS_DATA_DIR) while the server is stopped; the server also compacts by itself.');
    return 0;
  }
  const config = loadConfig();
  const release = lockDataDir(config.dataDir);
  try {
    const store = new LmdbStore(join(config.dataDir, 'store'));
    const report = await compactStore(store);
    await store.close();
    console.log(JSON.stringify({ compacted: true, ...report }));
    return 0;
  } finally {
    release();
  }
}
