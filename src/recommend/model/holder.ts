/**
 * The long-history collaborative generator: an EASE item-item model trained off the main thread on
 * a schedule and on demand, and swapped in atomically when ready. Requests keep using the current
 * model while a training runs; nothing on the request path ever waits for one.
 *
 * The holder is a session model like the others: it keeps the workspace's usable sessions (so
 * opted-out and erased people are not in it, exactly as for every other model) and a training
 * snapshots them, grouped into one row per person. The model itself keeps nothing per person: scores
 * come from the query's items at request time, so a new event counts at once and an erased person
 * leaves no row behind; the next training leaves them out of the weights too (an erasure makes the
 * next scheduled check retrain whatever the amount of change).
 */
import type { Candidate, CandidateGenerator, RecommendQuery, SessionModel, SessionRecord } from '../types.ts';
import { DEFAULT_EASE_TRAIN_OPTIONS, type EaseTrainOptions, type InteractionSnapshot, type SparseItemModel } from './ease-train.ts';
import { ItemModelScorer } from './scorer.ts';
import { recentInterest } from '../query-items.ts';
import { packSnapshot } from './snapshot.ts';
import { trainInProcess, trainInWorker, type TrainedModel, type Training } from './trainer.ts';

export interface MatrixOptions extends EaseTrainOptions {
  /** false: never trains, generates nothing */
  enabled: boolean;
  /** most recent distinct items of a person that are scored from */
  historyItems: number;
  /** the n-th most recent of them counts 2^(−n / historyHalfLife); 0 = all count the same */
  historyHalfLife: number;
  /**
   * Distinct items of interest (the context item's, the session's and the history's) at which the
   * model gets its placement's full weight; a query with fewer gets a linear share of it. The model
   * is for long histories: a short session is better served by the session generators, whose
   * ranking a full-weight model would dilute. 0: the full weight whatever the query.
   */
  fullWeightAt: number;
  /** a scheduled retrain happens when this much time passed since the last snapshot… */
  retrainMinutes: number;
  /** …and at least this many sessions were added, changed or removed since (or the data doubled) */
  minChanges: number;
  /** how often the schedule is checked, in seconds */
  checkSeconds: number;
  /** train in a worker thread (false: on the calling thread, for tools and tests) */
  inWorker: boolean;
}

export const DEFAULT_MATRIX_OPTIONS: MatrixOptions = {
  ...DEFAULT_EASE_TRAIN_OPTIONS,
  enabled: true,
  historyItems: 200,
  historyHalfLife: 0,
  fullWeightAt: 20,
  retrainMinutes: 60,
  minChanges: 100,
  checkSeconds: 60,
  inWorker: true,
};

/**
 * Session key → person key, for the sessions `sessions` holds (unmapped sessions are rows of their
 * own). Long passes call `pause()` now and then: it yields to the event loop (and throws when the
 * training was cancelled).
 */
export type PeopleResolver = (sessions: { has(key: string): boolean }, pause: () => Promise<void>) => Promise<ReadonlyMap<string, string>>;

export interface ModelInfo {
  generator: string;
  algorithm: 'ease';
  enabled: boolean;
  /** `ready` once a model has been swapped in */
  state: 'empty' | 'ready';
  /** swaps so far (0 = no model yet) */
  version: number;
  training: boolean;
  /** when the current model's snapshot was taken (ms since epoch) */
  trainedAt?: number;
  /** training time of the current model, ms */
  trainMs?: number;
  /** items, people and interactions of the current model */
  items: number;
  people: number;
  interactions: number;
  /** sessions held now, and sessions added, changed or removed since the last snapshot */
  sessions: number;
  changes: number;
  /** a person was erased or opted out since the last snapshot: the next check retrains */
  erasurePending: boolean;
  /** items the model neither scores from nor offers until it is retrained without such a person */
  maskedItems: number;
  lastError?: string;
}

export class MatrixModelHolder implements SessionModel, CandidateGenerator {
  readonly name = 'collaborative';
  readonly options: MatrixOptions;
  private readonly sessions = new Map<string, SessionRecord>();
  private scorer: ItemModelScorer | undefined;
  private version = 0;
  private trainedAt: number | undefined;
  private trainMs: number | undefined;
  private changes = 0;
  private erasurePending = false;
  /**
   * Items of sessions withdrawn for privacy (erasure, opt-out) since the last snapshot, and those
   * withdrawn before the snapshot of a training still under way: the model serving now learned from
   * those sessions, so until a model trained without them swaps in, none of these items is scored
   * from or offered (what the person's data taught the model about them is never served).
   */
  private masked = new Set<string>();
  private maskedInTraining = new Set<string>();
  private snapshotAt = 0;
  private snapshotSessions = 0;
  private lastError: string | undefined;
  private training: Training | undefined;
  private running: Promise<ModelInfo> | undefined;
  private queued: Promise<ModelInfo> | undefined;
  private people: PeopleResolver | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(options: Partial<MatrixOptions> = {}) {
    this.options = { ...DEFAULT_MATRIX_OPTIONS, ...options };
  }

  addSession(s: SessionRecord): void {
    this.sessions.set(s.key, s);
    this.changes++;
  }

  removeSession(s: SessionRecord): void {
    this.sessions.delete(s.key);
    this.changes++;
  }

  spliceSession(prev: SessionRecord, next: SessionRecord): void {
    if (prev.key !== next.key) this.sessions.delete(prev.key);
    this.sessions.set(next.key, next);
    this.changes++;
  }

  withdrawn(s: SessionRecord): void {
    if (this.scorer === undefined && this.running === undefined) return;
    for (const item of s.items) this.masked.add(item.itemId);
    this.erasurePending = true;
  }

  weightShare(q: RecommendQuery): number {
    const full = this.options.fullWeightAt;
    return full > 0 ? recentInterest(q, full).length / full : 1;
  }

  generate(q: RecommendQuery, limit: number): Candidate[] {
    if (this.scorer === undefined) return [];
    const masked = this.masked.size + this.maskedInTraining.size > 0 ? (id: string) => this.masked.has(id) || this.maskedInTraining.has(id) : undefined;
    return this.scorer.generate(q, limit, this.options.historyItems, this.options.historyHalfLife, masked);
  }

  /**
   * Starts the schedule: every `checkSeconds`, retrain when there is no model yet and there is data,
   * after an erasure, when the data doubled, or when `retrainMinutes` passed and `minChanges`
   * sessions changed. `people` groups sessions into people (without it, each session is a row).
   */
  start(people?: PeopleResolver): void {
    this.people = people;
    if (!this.options.enabled || this.timer || this.stopped) return;
    this.timer = setInterval(() => this.tick(), this.options.checkSeconds * 1000);
    this.timer.unref();
  }

  /** one check of the schedule (the timer calls it); starts a retrain when one is due */
  tick(now = Date.now()): boolean {
    if (!this.due(now)) return false;
    this.retrain().catch(() => {});
    return true;
  }

  private due(now: number): boolean {
    if (!this.options.enabled || this.stopped || this.running) return false;
    if (this.changes === 0 && !this.erasurePending) return false;
    if (this.scorer === undefined) return this.sessions.size > 0;
    if (this.erasurePending || this.changes >= Math.max(this.options.minChanges, this.snapshotSessions)) return true;
    return now - this.snapshotAt >= this.options.retrainMinutes * 60_000 && this.changes >= this.options.minChanges;
  }


  /**
   * Trains on the current sessions and swaps the model in; resolves with the new status. While a
   * training runs, a call queues one more (with the data as it is then) and further calls share it.
   */
  retrain(): Promise<ModelInfo> {
    if (this.stopped) return Promise.reject(new Error('model holder stopped'));
    if (!this.options.enabled) return Promise.reject(new Error('collaborative model disabled'));
    if (this.queued) return this.queued;
    if (this.running) {
      const queued = this.running.catch(() => {}).then(() => {
        this.queued = undefined;
        return this.retrain();
      });
      this.queued = queued;
      return queued;
    }
    return this.run();
  }

  private run(): Promise<ModelInfo> {
    const at = Date.now();
    // the session records (immutable) are the snapshot; people and rows are worked out in slices
    const records = [...this.sessions.values()];
    this.changes = 0;
    this.erasurePending = false;
    for (const id of this.masked) this.maskedInTraining.add(id);
    this.masked.clear();
    this.snapshotAt = at;
    this.snapshotSessions = records.length;
    const running = this.train(records)
      .then(
        ({ model, ms }) => {
          if (this.stopped) throw new Error('model holder stopped');
          this.swapIn(model, at, ms);
          this.maskedInTraining.clear();
          this.running = undefined;
          this.training = undefined;
          return this.status();
        },
        (e: Error) => {
          if (!this.stopped) {
            this.lastError = e.message;
            // the data of this snapshot still has to reach a model, and what it withdrew stays masked
            this.changes = Math.max(this.changes, 1);
            if (this.maskedInTraining.size > 0) {
              for (const id of this.maskedInTraining) this.masked.add(id);
              this.maskedInTraining.clear();
              this.erasurePending = true;
            }
          }
          throw e;
        },
      )
      .finally(() => {
        if (this.running === running) {
          this.running = undefined;
          this.training = undefined;
        }
      });
    this.running = running;
    return running;
  }

  /** the swap: one assignment, between two requests */
  private swapIn(model: SparseItemModel, at: number, ms: number): void {
    this.scorer = new ItemModelScorer(model);
    this.version++;
    this.trainedAt = at;
    this.trainMs = Math.round(ms);
    this.lastError = undefined;
  }

  /** what a training reads of the options (the others are about serving and scheduling) */
  get trainOptions(): EaseTrainOptions {
    const { lambda, minSupport, maxItems, neighbours } = this.options;
    return { lambda, minSupport, maxItems, neighbours };
  }

  /** the model serving now (undefined before the first); its arrays are never modified */
  get model(): SparseItemModel | undefined {
    return this.scorer?.model;
  }

  /**
   * Serves a model trained before on the same sessions, as if a training had just produced it
   * (`kairos tune` trains once for all trials that share the model's settings). Nothing checks that
   * the data is the same: that is the caller's promise.
   */
  adopt(model: SparseItemModel): void {
    if (this.stopped) throw new Error('model holder stopped');
    this.changes = 0;
    this.erasurePending = false;
    this.masked.clear();
    this.maskedInTraining.clear();
    this.snapshotAt = Date.now();
    this.snapshotSessions = this.sessions.size;
    this.swapIn(model, this.snapshotAt, 0);
  }

  /** packs the rows a slice at a time (requests are served in between), then trains */
  private async train(records: readonly SessionRecord[]): Promise<TrainedModel> {
    const personOf = await this.people?.(this.sessions, this.pause);
    const snapshot = await packSnapshot(records, personOf, this.pause);
    if (this.stopped) throw new Error('model holder stopped');
    const training = (this.options.inWorker ? trainInWorker : trainInProcess)(snapshot, this.trainOptions);
    this.training = training;
    return training.result;
  }

  /** the rows a training would use now (tests and tools) */
  async snapshot(): Promise<InteractionSnapshot> {
    const records = [...this.sessions.values()];
    return packSnapshot(records, await this.people?.(this.sessions, this.pause), this.pause);
  }

  /** yields to the event loop; throws once stopped */
  private readonly pause = async (): Promise<void> => {
    await new Promise((resolve) => setImmediate(resolve));
    if (this.stopped) throw new Error('model holder stopped');
  };

  status(): ModelInfo {
    const m = this.scorer?.model;
    return {
      generator: this.name,
      algorithm: 'ease',
      enabled: this.options.enabled,
      state: m ? 'ready' : 'empty',
      version: this.version,
      training: this.running !== undefined,
      ...(this.trainedAt !== undefined ? { trainedAt: this.trainedAt } : {}),
      ...(this.trainMs !== undefined ? { trainMs: this.trainMs } : {}),
      items: m?.itemIds.length ?? 0,
      people: m?.people ?? 0,
      interactions: m?.interactions ?? 0,
      sessions: this.sessions.size,
      changes: this.changes,
      erasurePending: this.erasurePending,
      maskedItems: new Set([...this.masked, ...this.maskedInTraining]).size,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
    };
  }

  /** stops the schedule and any training in flight (its promise rejects); the current model keeps serving */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    this.training?.cancel();
  }
}
