/**
 * Drives the engine in process, exactly as the server does: a Workspace fed with stored events
 * (apply → flush), the recommendations extension attached to an in-memory store, and
 * serveRecommendation answering CONTRACT §6 requests. Impressions are recorded as in production but
 * the repeat window is 0, so what was shown never changes what is evaluated next.
 */
import type { TuningConfig } from '../config.ts';
import { Workspace } from '../engine/workspace.ts';
import type { StoredEvent } from '../ingest/event.ts';
import type { SparseItemModel } from '../recommend/model/ease-train.ts';
import type { RecommenderSettings } from '../recommend/recommender.ts';
import { DEFAULT_SERVING_SETTINGS, RecommendationsExtension, type RecommendationState, type ServingSettings } from '../recommend/serving/extension.ts';
import { serveRecommendation, type RecommendRequest } from '../recommend/serving/serve.ts';
import { MemoryStore } from '../store/memory/memory-store.ts';
import type { CatalogEntry, Interaction } from './dataset.ts';
import type { EngineDriver, TopNCase } from './driver.ts';
import { inlineEvent, propertiesOf, REQUEST_LIMITS, testSessionId, type IdentityField } from './events.ts';

/** what `kairos tune` chooses and the server loads: `{"tuning": …, "recommend": …}` */
export interface EngineSettings {
  tuning: TuningConfig;
  recommend: Partial<RecommenderSettings>;
}

const SERVING: ServingSettings = { ...DEFAULT_SERVING_SETTINGS, repeatWindow: 0 };
const SEGMENT_EVENTS = 512;

export interface InProcessOptions {
  settings: EngineSettings;
  /** userId for people of top-N datasets, anonymousId for sessions */
  identity: IdentityField;
  /** online: test events are ingested as they happen and the session is asked for by id */
  online: boolean;
  /**
   * collaborative models trained before on the same train data, by their training options and the
   * engine's tuning: `kairos tune` trains once for every trial that shares them
   */
  models?: Map<string, SparseItemModel>;
}

export class InProcessEngine implements EngineDriver {
  readonly name = 'kairos';
  private messages = 0;
  private segment = '';

  private constructor(
    private readonly ws: Workspace,
    private readonly state: RecommendationState,
    private readonly o: InProcessOptions,
  ) {}

  static async open(o: InProcessOptions): Promise<InProcessEngine> {
    const ws = new Workspace('eval', o.settings.tuning);
    const ext = new RecommendationsExtension(o.settings.recommend, SERVING);
    await ext.attach(ws, new MemoryStore());
    return new InProcessEngine(ws, ext.stateOf(ws), o);
  }

  async loadCatalog(entries: readonly CatalogEntry[], createdAt: (itemId: string) => number): Promise<void> {
    for (const e of entries) this.ws.catalog.upsert(e.itemId, e.properties, createdAt(e.itemId));
  }

  async ingest(list: readonly Interaction[], onProgress?: (done: number) => void): Promise<void> {
    list.forEach((x, i) => {
      this.apply(x, x.person);
      if (onProgress && i % 10_000 === 0) onProgress(i);
    });
    this.ws.flush();
    // the server trains the collaborative model on a schedule; here it is trained once on train data
    const { matrix } = this.state.recommender;
    if (!matrix.options.enabled) return;
    const key = JSON.stringify([matrix.trainOptions, this.o.settings.tuning]);
    const trained = this.o.models?.get(key);
    if (trained) matrix.adopt(trained);
    else {
      await matrix.retrain();
      if (matrix.model) this.o.models?.set(key, matrix.model);
    }
  }

  /** as the ingestion pipeline does: unknown items enter the catalog when an event first names them */
  private apply(x: Interaction, person: string): void {
    if (!this.ws.catalog.has(x.item)) this.ws.catalog.upsert(x.item, {}, x.t);
    if (this.messages % SEGMENT_EVENTS === 0) this.segment = this.ws.allocateSegment();
    const e: StoredEvent = {
      messageId: `eval-${this.messages++}`,
      type: 'track',
      [this.o.identity]: person,
      event: x.event,
      properties: propertiesOf(x),
      timestamp: x.t,
      receivedAt: x.t,
    };
    this.ws.apply(e, this.segment);
  }

  observe(x: Interaction): void {
    this.apply(x, testSessionId(x.person));
    this.ws.flush();
  }

  nextItems(session: string, prefix: readonly Interaction[], now: number, count: number): string[] {
    const req: RecommendRequest = this.o.online
      ? { anonymousId: testSessionId(session), count }
      : { anonymousId: testSessionId(session), events: prefix.slice(-REQUEST_LIMITS.inlineEvents).map((x) => inlineEvent(x)), count };
    return this.serve(req, now);
  }

  topN(c: TopNCase, count: number): string[] {
    return this.serve({ [this.o.identity]: c.person, count, filter: { exclude: [...c.trainItems] } }, c.now);
  }

  private serve(req: RecommendRequest, now: number): string[] {
    return serveRecommendation(this.ws, this.state, SERVING, req, now).response.items.map((i) => i.itemId);
  }

  async close(): Promise<void> {
    this.state.recommender.matrix.stop();
  }
}
