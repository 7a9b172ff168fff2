/** Gives every workspace a recommender fed by its sessions and catalog, and an impression log. */
import type { WorkspaceExtension } from '../../engine/engine.ts';
import type { Workspace } from '../../engine/workspace.ts';
import type { Mutation, Store } from '../../store/types.ts';
import { workspacePeople } from '../model/people.ts';
import { Recommender, type RecommenderSettings } from '../recommender.ts';
import { ImpressionLog, type Impression } from './impressions.ts';

export interface ServingSettings {
  /** an item of the person's last N impressions of a placement is not shown again unless nothing else qualifies */
  repeatWindow: number;
  /** impressions older than this are dropped at start (the attribution window) */
  impressionTtlDays: number;
}

export const DEFAULT_SERVING_SETTINGS: ServingSettings = { repeatWindow: 3, impressionTtlDays: 7 };

export interface RecommendationState {
  recommender: Recommender;
  impressions: ImpressionLog;
}

export class RecommendationsExtension implements WorkspaceExtension {
  private readonly states = new WeakMap<Workspace, RecommendationState>();
  /** every recommender attached, so stop() reaches their model schedules */
  private readonly attached = new Set<Recommender>();

  constructor(
    private readonly settings: Partial<RecommenderSettings> = {},
    readonly serving: ServingSettings = DEFAULT_SERVING_SETTINGS,
  ) {}

  async attach(ws: Workspace, store: Store): Promise<void> {
    const recommender = new Recommender(ws.catalog, this.settings);
    ws.catalog.listen(recommender);
    ws.addModel(recommender);
    // the collaborative model trains on a schedule (first model once data is loaded) and on demand;
    // an erasure makes its next check retrain without the person
    recommender.matrix.start(workspacePeople(ws));
    this.attached.add(recommender);
    const impressions = new ImpressionLog();
    const oldest = Date.now() - this.serving.impressionTtlDays * 86_400_000;
    const dropped: Mutation[] = [];
    for await (const [key, imp] of store.scan<Impression>(ws.id, 'impressions')) {
      if (imp.at >= oldest) dropped.push(...impressions.restore(imp));
      else dropped.push({ table: 'impressions', key });
    }
    if (dropped.length) await store.commit(ws.id, dropped);
    ws.onForget((ids) => impressions.forget(ids), (ids) => impressions.deletions(ids));
    ws.onForget(() => recommender.matrix.forgotten());
    this.states.set(ws, { recommender, impressions });
  }

  /** stops every workspace's model schedule and any training in flight (at shutdown) */
  stop(): void {
    for (const r of this.attached) r.matrix.stop();
    this.attached.clear();
  }

  stateOf(ws: Workspace): RecommendationState {
    const s = this.states.get(ws);
    if (!s) throw new Error(`workspace ${ws.id} has no recommender`);
    return s;
  }
}
