/**
 * What the core engine is extended with: per-workspace models and the route modules that serve them.
 * One list, so the server, the CLI and the evaluation harness assemble the same product.
 */
import type { Config } from './config.ts';
import type { WorkspaceExtension } from './engine/engine.ts';
import { DEFAULT_SERVING_SETTINGS, RecommendationsExtension } from './recommend/serving/extension.ts';
import type { AppExtras } from './server/app.ts';
import { recommendationRoutes } from './server/routes/recommendations.ts';
import { DecisionsExtension } from './decide/serving/extension.ts';
import { ExperimentsExtension } from './experiments/serving.ts';
import { decisionRoutes } from './server/routes/decisions.ts';
import { experimentRoutes } from './server/routes/experiments.ts';
import { TriggersExtension } from './decide/triggers/extension.ts';
import { triggerRoutes } from './server/routes/triggers.ts';
import { createLogger } from './engine/open.ts';

export interface Capabilities extends AppExtras {
  extensions: WorkspaceExtension[];
  stop?: () => Promise<void>;
}

export function capabilities(config: Config): Capabilities {
  const logger = createLogger(config);
  const recommendations = new RecommendationsExtension(config.recommend, { ...DEFAULT_SERVING_SETTINGS, impressionItemsHeld: config.impressionItemsHeld }, (err) => logger.error({ err }, 'impressions not stored'));
  const experiments = new ExperimentsExtension();
  const decisions = new DecisionsExtension(config.decide, experiments);
  const triggers = new TriggersExtension(decisions, { allowInternalAddresses: config.webhookAllowInternal }, logger);
  return {
    extensions: [recommendations, experiments, decisions, triggers],
    routes: [recommendationRoutes(recommendations, experiments), decisionRoutes(decisions), experimentRoutes(experiments), triggerRoutes(triggers)],
    exportSources: [
      (ws, ids) => recommendations.stateOf(ws).impressions.of(ids).map((imp) => ({ type: 'impression', ...imp })),
      (ws, ids) => recommendations.stateOf(ws).learning.recordsOf(ids).map((r) => ({ type: 'recommendation_feedback', ...r })),
      (ws, ids) => decisions.stateOf(ws).of(ids).map((d) => ({ type: 'decision', ...d })),
      (ws, ids) => experiments.stateOf(ws).of(ids).map((a) => ({ type: 'experiment_assignment', ...a })),
      triggers.exportSource,
    ],
    stop: async () => {
      recommendations.stop();
      decisions.stop();
      await triggers.stop();
    },
  };
}
