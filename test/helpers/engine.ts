/**
 * The engine as `kairos serve` opens it, without HTTP: the server's extensions (so models,
 * decisions, feedback and experiments update on every change), over a data dir, for in-process
 * property tests that deliver events in many orders and compare the state.
 */
import pino, { type Logger } from 'pino';
import { capabilities } from '../../src/capabilities.ts';
import { loadConfig } from '../../src/config.ts';
import type { WorkspaceExtension } from '../../src/engine/engine.ts';
import { openEngine, type OpenedEngine } from '../../src/engine/open.ts';
import { ADMIN_KEY, WRITE_KEY } from './server.ts';

export type ServingEngine = OpenedEngine & { extensions: WorkspaceExtension[] };

export async function openServingEngine(dataDir: string, logger: Logger = pino({ level: 'silent' })): Promise<ServingEngine> {
  const config = loadConfig({ KAIROS_DATA_DIR: dataDir, KAIROS_WRITE_KEY: WRITE_KEY, KAIROS_ADMIN_KEY: ADMIN_KEY, LOG_LEVEL: 'silent' });
  const extensions = capabilities(config).extensions;
  return { ...(await openEngine(config, logger, extensions)), extensions };
}
