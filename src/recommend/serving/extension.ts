/** Gives every workspace a recommender fed by its sessions and catalog, and an impression log. */
import type { WorkspaceExtension } from '../../engine/engine.ts';
import { servedTo, type Workspace } from '../../engine/workspace.ts';
import type { Mutation, Store } from '../../store/types.ts';
import { DeferredWrites } from '../../store/deferred-writes.ts';
import { workspacePeople } from '../model/people.ts';
import { Recommender, type RecommenderSettings } from '../recommender.ts';
import type { StoredEvent } from '../../ingest/event.ts';
import { interactionsOf } from '../../ingest/interactions.ts';
import { FEEDBACK_PREFIX, FeedbackLearning, senderOf, type FeedbackRecord } from './feedback.ts';
import { DEFAULT_IMPRESSION_LIMITS, ImpressionLog, type Impression } from './impressions.ts';

export interface ServingSettings {
  /** an item of the person's last N impressions of a placement is not shown again unless nothing else qualifies */
  repeatWindow: number;
  /** impressions older than this are forgotten (the attribution window) */
  impressionTtlDays: number;
  /**
   * shown items held in all impressions of a workspace together (about 270 bytes each, with their scores): past it the
   * oldest impressions are forgotten, so memory stays bounded however busy the shop
   */
  impressionItemsHeld: number;
  /** each placement's blend learns from the attributed outcomes of this many days (replayed at start) */
  feedbackDays: number;
}

export const DEFAULT_SERVING_SETTINGS: ServingSettings = {
  repeatWindow: 3,
  impressionTtlDays: DEFAULT_IMPRESSION_LIMITS.ttlMs / 86_400_000,
  impressionItemsHeld: DEFAULT_IMPRESSION_LIMITS.maxItems,
  feedbackDays: 30,
};

export interface RecommendationState {
  recommender: Recommender;
  impressions: ImpressionLog;
  /** per placement, blend weights learned from clicks and purchases attributed to recommendations */
  learning: FeedbackLearning;
  /**
   * where served impressions are written: batched every 100 ms rather than one fsync per request
   * (a crash loses at most the last batch, i.e. attribution of those few recommendations)
   */
  impressionWrites: DeferredWrites;
}

export class RecommendationsExtension implements WorkspaceExtension {
  private readonly states = new WeakMap<Workspace, RecommendationState>();
  /** every recommender attached, so stop() reaches their model schedules */
  private readonly attached = new Set<Recommender>();
  /** every workspace's buffered impression writes, flushed by close() */
  private readonly writers = new Set<DeferredWrites>();

  constructor(
    private readonly settings: Partial<RecommenderSettings> = {},
    readonly serving: ServingSettings = DEFAULT_SERVING_SETTINGS,
    private readonly onWriteError: (err: unknown) => void = (err) => console.error('impressions not stored', err),
  ) {}

  async attach(ws: Workspace, store: Store): Promise<void> {
    const recommender = new Recommender(ws.catalog, this.settings);
    ws.catalog.listen(recommender);
    ws.addModel(recommender);
    // the collaborative model trains on a schedule (first model once data is loaded) and on demand;
    // an erasure makes its next check retrain without the person
    recommender.matrix.start(workspacePeople(ws));
    this.attached.add(recommender);
    const impressions = new ImpressionLog({ ttlMs: this.serving.impressionTtlDays * 86_400_000, maxItems: this.serving.impressionItemsHeld });
    // a candidate outcome counts while its sender is the recommendation's person (by the merges known
    // now), it was not sent while they had opted out, and nobody the request named is opted out; the
    // earliest records name no sender: they were kept only when credited, and stay so
    const learning = new FeedbackLearning(
      (placement) => recommender.weightsOf(placement),
      undefined,
      (rec) => {
        if (ws.anyOptedOut(rec.ids)) return false;
        const sender = senderOf(rec);
        return (sender.userId === undefined && sender.anonymousId === undefined) || ws.attributable(rec.ids, { messageId: rec.messageId, timestamp: rec.t, ...sender });
      },
    );
    const now = Date.now();
    const oldestFeedback = now - this.serving.feedbackDays * 86_400_000;
    const dropped: Mutation[] = [];
    const restored: Impression[] = [];
    for await (const [key, value] of store.scan<Impression | FeedbackRecord>(ws.id, 'impressions')) {
      if (key.startsWith(FEEDBACK_PREFIX)) {
        const rec = value as FeedbackRecord;
        if (rec.t >= oldestFeedback) learning.load(key, rec);
        else dropped.push({ table: 'impressions', key });
        continue;
      }
      restored.push(value as Impression);
    }
    // what is past the limits now (too old, or beyond the items held) is forgotten, in the store too
    dropped.push(...impressions.restoreAll(restored, now));
    if (dropped.length) await store.commit(ws.id, dropped);
    const impressionWrites = new DeferredWrites(store, ws.id, this.onWriteError);
    this.writers.add(impressionWrites);
    // an erased person's impressions still waiting in the buffer must never reach the store
    const dropBuffered = (ids: readonly string[]): Mutation[] => {
      const deletions = impressions.deletions(ids);
      impressionWrites.drop('impressions', deletions.map((d) => d.key));
      return deletions;
    };
    ws.onForget(
      (ids) => {
        dropBuffered(ids);
        impressions.forget(ids);
      },
      dropBuffered,
    );
    ws.onForget((ids) => learning.forget(ids), (ids) => learning.deletions(ids));
    // a merge, an opt-out or an opt-in (arriving in any order) rejudges the candidates it touches
    ws.onAttributionChange((ids) => learning.recheck(ids));
    // outcomes attributed to a recommendation are durable before the event's request is acknowledged
    ws.onApplied((events) => {
      const writes = this.feedbackFrom(ws, impressions, learning, events);
      return writes.length ? store.commit(ws.id, writes) : undefined;
    });
    this.states.set(ws, { recommender, impressions, learning, impressionWrites });
  }

  /**
   * Events carrying `properties.recommendation_id` teach the placement's blend: the item the person
   * acted on (viewed, clicked, added, bought — weighted like any interaction) should have ranked above
   * the items shown with it. Every such outcome on a shown item, within the attribution window, is
   * kept as a candidate; FeedbackLearning judges which count against the events held (the sender is
   * the person the recommendation was for, merges included, and neither they nor anyone the request
   * named opted out), and only the first that counts per shown item (in event time) teaches.
   */
  private feedbackFrom(ws: Workspace, impressions: ImpressionLog, learning: FeedbackLearning, events: readonly StoredEvent[]): Mutation[] {
    const writes: Mutation[] = [];
    for (const e of events) {
      if (e.type !== 'track') continue;
      const recommendationId = (e.properties as Record<string, unknown> | undefined)?.recommendation_id;
      if (typeof recommendationId !== 'string') continue;
      const imp = impressions.get(recommendationId);
      if (!imp?.signals || e.timestamp - imp.at > this.serving.impressionTtlDays * 86_400_000) continue;
      for (const x of interactionsOf(e)) {
        if (x.itemId === undefined) continue;
        const at = imp.items.indexOf(x.itemId);
        const weight = ws.settings.interactionWeights[x.kind];
        if (at < 0 || !(weight > 0)) continue;
        const rec: FeedbackRecord = {
          recommendationId,
          placement: imp.placement,
          ids: imp.ids,
          servedFor: servedTo(imp),
          ...(e.userId !== undefined ? { userId: e.userId } : {}),
          ...(e.anonymousId !== undefined ? { anonymousId: e.anonymousId } : {}),
          itemId: x.itemId,
          t: e.timestamp,
          messageId: e.messageId,
          example: { chosen: imp.signals[at] ?? {}, others: imp.signals.filter((_, i) => i !== at), weight },
        };
        const taken = learning.offer(rec);
        if (taken === undefined) continue;
        writes.push({ table: 'impressions', key: taken.key, value: rec });
        if (taken.evicted !== undefined) writes.push({ table: 'impressions', key: taken.evicted });
      }
    }
    return writes;
  }

  /** stops every workspace's model schedule and any training in flight (at shutdown) */
  stop(): void {
    for (const r of this.attached) r.matrix.stop();
    this.attached.clear();
  }

  /** makes buffered impressions durable (the engine calls this before it closes the store) */
  async close(): Promise<void> {
    await Promise.all([...this.writers].map((w) => w.close()));
  }

  stateOf(ws: Workspace): RecommendationState {
    const s = this.states.get(ws);
    if (!s) throw new Error(`workspace ${ws.id} has no recommender`);
    return s;
  }
}
