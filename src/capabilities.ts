/**
 * What the core engine is extended with: per-workspace models and the route modules that serve them.
 * One list, so the server, the CLI and the evaluation harness assemble the same product.
 */
import type { Config } from './config.ts';
import type { WorkspaceExtension } from './engine/engine.ts';
import { RecommendationsExtension } from './recommend/serving/extension.ts';
import type { AppExtras } from './server/app.ts';
import { recommendationRoutes } from './server/routes/recommendations.ts';

export interface Capabilities extends AppExtras {
  extensions: WorkspaceExtension[];
  stop?: () => Promise<void>;
}

export function capabilities(config: Config): Capabilities {
  const recommendations = new RecommendationsExtension(config.recommend);
  return {
    extensions: [recommendations],
    routes: [recommendationRoutes(recommendations)],
    exportSources: [(ws, ids) => recommendations.stateOf(ws).impressions.of(ids).map((imp) => ({ type: 'impression', ...imp }))],
  };
}
