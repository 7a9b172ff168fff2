/** Opens the engine the way every entry point does: config → logger → store → engine. */
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import type { Config } from '../config.ts';
import { lockDataDir } from '../store/lock.ts';
import { LmdbStore } from '../store/lmdb/lmdb-store.ts';
import { Engine, type WorkspaceExtension } from './engine.ts';

export function createLogger(config: Config): Logger {
  return pino({ level: config.logLevel, base: { service: 'kairos' } });
}

export interface OpenedEngine {
  engine: Engine;
  /** closes the engine and releases the data dir */
  close(): Promise<void>;
}

export async function openEngine(config: Config, logger: Logger, extensions: WorkspaceExtension[] = [], serving: boolean | 'ledger' = true): Promise<OpenedEngine> {
  const release = lockDataDir(config.dataDir);
  try {
    const store = new LmdbStore(join(config.dataDir, 'store'));
    const engine = await Engine.open({ config, store, logger, extensions, serving });
    return {
      engine,
      async close() {
        try {
          await engine.close();
        } finally {
          release();
        }
      },
    };
  } catch (e) {
    release();
    throw e;
  }
}
