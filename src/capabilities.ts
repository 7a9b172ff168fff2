/**
 * What the core engine is extended with: per-workspace models and the route modules that serve them.
 * One list, so the server, the CLI and the evaluation harness assemble the same product.
 */
import type { Config } from './config.ts';
import type { WorkspaceExtension } from './engine/engine.ts';
import type { AppExtras } from './server/app.ts';

export interface Capabilities extends AppExtras {
  extensions: WorkspaceExtension[];
  stop?: () => Promise<void>;
}

export function capabilities(_config: Config): Capabilities {
  return { extensions: [], routes: [] };
}
