/**
 * Learning a placement's blend from feedback. Every served item carries its signals: each generator's
 * normalised score for it (what the blend weighs). A click or purchase attributed to a recommendation
 * (`properties.recommendation_id`) says the chosen item should have outranked the items shown with
 * it, so each (chosen, other) pair is one step of pairwise logistic regression (RankNet-style) on the
 * signal difference:
 *
 *   w ← w + η·[ (1 − σ(w·(f_c − f_o))) · (f_c − f_o) − λ·(w − w₀) ]
 *
 * w₀ are the configured (tuned) weights: the L2 pull toward them keeps a placement with little
 * feedback where tuning put it, and weights stay ≥ 0 so a generator can be silenced but not inverted.
 *
 * The learned weights are a pure function of the feedback examples in order, so they are rebuilt by
 * replay (at start, and after an erasure removed a person's examples): nothing about a person survives
 * in them once their impressions are gone. The same holds for consent: examples naming a person who
 * opted out of Personalization are kept (stored) but left out of the replay until they opt back in.
 */
import { itemStoreKey } from '../../catalog/item.ts';
import { servedTo } from '../../engine/workspace.ts';

/** one generator's normalised score per generator name */
export type Signals = Readonly<Record<string, number>>;

export interface FeedbackExample {
  /** signals of the item the person chose */
  chosen: Signals;
  /** signals of the other items shown with it */
  others: readonly Signals[];
  /** how much the outcome counts (a purchase more than a click) */
  weight: number;
}

export interface LearnerOptions {
  /** η: step size */
  learningRate: number;
  /** λ: pull toward the configured weights */
  prior: number;
  /** examples needed before the learned weights replace the configured ones */
  minExamples: number;
}

export const DEFAULT_LEARNER_OPTIONS: LearnerOptions = { learningRate: 0.05, prior: 0.01, minExamples: 50 };

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

export class BlendLearner {
  private readonly w: Map<string, number>;
  private examples = 0;

  constructor(
    /** w₀: the placement's configured weights */
    readonly base: Readonly<Record<string, number>>,
    readonly options: LearnerOptions = DEFAULT_LEARNER_OPTIONS,
  ) {
    this.w = new Map(Object.entries(base));
  }

  get exampleCount(): number {
    return this.examples;
  }

  learn(ex: FeedbackExample): void {
    const { learningRate: eta, prior: lambda } = this.options;
    for (const other of ex.others) {
      const names = new Set([...Object.keys(ex.chosen), ...Object.keys(other)]);
      let margin = 0;
      for (const g of names) margin += (this.w.get(g) ?? 0) * ((ex.chosen[g] ?? 0) - (other[g] ?? 0));
      const pull = 1 - sigmoid(margin);
      for (const g of names) {
        if (!(g in this.base)) continue; // a generator the placement does not weigh is not asked for candidates
        const wg = this.w.get(g) ?? 0;
        const grad = pull * ((ex.chosen[g] ?? 0) - (other[g] ?? 0)) - lambda * (wg - this.base[g]!);
        this.w.set(g, Math.max(0, wg + eta * ex.weight * grad));
      }
    }
    this.examples++;
  }

  /** the weights to serve with: the configured ones until there is enough feedback */
  weights(): Record<string, number> {
    if (this.examples < this.options.minExamples) return { ...this.base };
    return Object.fromEntries(this.w);
  }
}

/** One attributed outcome, as stored (table `impressions`, key `fb\0<recommendationId>\0<itemId>`). */
export interface FeedbackRecord {
  recommendationId: string;
  placement: string;
  /** the ids of the impression's person (erasure finds the record by them) */
  ids: string[];
  /** the impression's `servedFor` (absent in records of earlier versions: then `ids[0]`) */
  servedFor?: string;
  /** the id the outcome event named its sender by (absent in records of earlier versions) */
  sender?: string;
  itemId: string;
  /** event time and id of the outcome: examples are replayed in this order */
  t: number;
  messageId: string;
  example: FeedbackExample;
}

/** What the export shows of an outcome that is partly another person's (see FeedbackLearning.recordsOf). */
export interface FeedbackStub {
  recommendationId: string;
  placement: string;
  /** only the exported person's own ids */
  ids: string[];
  /** the outcome, when this person sent it */
  itemId?: string;
  t?: number;
  messageId?: string;
  forAnotherPerson: true;
}

export const FEEDBACK_PREFIX = 'fb\u0000';
/** an item id longer in UTF-8 than a store key allows is keyed by its hash there, as in the items table */
export const feedbackKey = (recommendationId: string, itemId: string): string => `${FEEDBACK_PREFIX}${recommendationId}\u0000${itemStoreKey(itemId)}`;

const before = (a: FeedbackRecord, b: FeedbackRecord): boolean => a.t < b.t || (a.t === b.t && a.messageId < b.messageId);

/**
 * The learners of every placement of a workspace and the examples they were taught: each learner is
 * the replay of its placement's examples in (event time, messageId) order, so a late example or an
 * erasure triggers a replay and the weights never depend on arrival order or on anyone erased.
 */
export class FeedbackLearning {
  private readonly records = new Map<string, FeedbackRecord>();
  private readonly learners = new Map<string, { learner: BlendLearner; last?: FeedbackRecord }>();
  /** ids whose Personalization preference changed since the last replay (see consentChanged) */
  private readonly consentPending = new Set<string>();

  constructor(
    private readonly baseOf: (placement: string) => Readonly<Record<string, number>>,
    private readonly options: LearnerOptions = DEFAULT_LEARNER_OPTIONS,
    /** whether a person holding one of these ids is opted out of Personalization now (their examples are left out) */
    private readonly withheld: (ids: readonly string[]) => boolean = () => false,
  ) {}

  /**
   * Takes an outcome for a shown item unless one at least as early (event time, then messageId) is
   * held for it: the first outcome in event time counts, whatever order they arrive in. Returns
   * whether it was taken (the caller stores it, replacing any later one).
   */
  offer(rec: FeedbackRecord): boolean {
    this.settle();
    const key = feedbackKey(rec.recommendationId, rec.itemId);
    const replaced = this.records.get(key);
    if (replaced && !before(rec, replaced)) return false;
    this.records.set(key, rec);
    if (this.withheld(rec.ids)) {
      // kept for an opt-in; the replaced one may have been learned
      if (replaced) this.replay(rec.placement);
      return true;
    }
    const held = this.learners.get(rec.placement);
    // a replaced outcome, or one earlier than the last learned: the placement's examples are replayed
    if (replaced || (held?.last && before(rec, held.last))) {
      this.replay(rec.placement);
      return true;
    }
    const state = held ?? { learner: new BlendLearner(this.baseOf(rec.placement), this.options) };
    state.learner.learn(rec.example);
    state.last = rec;
    this.learners.set(rec.placement, state);
    return true;
  }

  /** the learned weights of a placement once it has enough feedback, else undefined (serve the configured ones) */
  weightsFor(placement: string): Record<string, number> | undefined {
    this.settle();
    const held = this.learners.get(placement);
    return held && held.learner.exampleCount >= this.options.minExamples ? held.learner.weights() : undefined;
  }

  status(): Array<{ placement: string; examples: number; learning: boolean; weights: Record<string, number> }> {
    this.settle();
    // by placement name: which placement got feedback first is arrival order, not state
    return [...this.learners]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([placement, { learner }]) => ({
        placement,
        examples: learner.exampleCount,
        learning: learner.exampleCount >= this.options.minExamples,
        weights: learner.weights(),
      }));
  }

  /**
   * A person's Personalization preference changed (or a merge brought one; or, at start, it is false):
   * the placements their examples taught are replayed with the examples of everyone not opted out,
   * before the weights are next read or taught (at start every person who ever stated a preference is
   * told: one replay per placement, not one per person). Idempotent, and the weights are the same as a
   * replay at start would give.
   */
  consentChanged(ids: readonly string[]): void {
    for (const id of ids) this.consentPending.add(id);
  }

  private settle(): void {
    if (this.consentPending.size === 0) return;
    const placements = new Set<string>();
    for (const r of this.records.values()) if (!placements.has(r.placement) && r.ids.some((id) => this.consentPending.has(id))) placements.add(r.placement);
    this.consentPending.clear();
    for (const p of placements) this.replay(p);
  }

  private replay(placement: string): void {
    const examples = [...this.records.values()].filter((r) => r.placement === placement && !this.withheld(r.ids)).sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
    if (examples.length === 0) {
      this.learners.delete(placement);
      return;
    }
    const learner = new BlendLearner(this.baseOf(placement), this.options);
    for (const r of examples) learner.learn(r.example);
    this.learners.set(placement, { learner, last: examples[examples.length - 1]! });
  }

  private of(ids: readonly string[]): Array<[string, FeedbackRecord]> {
    const gone = new Set(ids);
    return [...this.records].filter(([, r]) => r.ids.some((id) => gone.has(id)));
  }

  /**
   * export: the outcomes of recommendations whose requests named one of the person's `ids` (all of
   * them), showing only their own ids. The example (the signals of the items shown, and which was
   * chosen) is shown only when the recommendation was served to this person and the outcome is theirs;
   * else only what is theirs: that it happened, and their own outcome if they sent it.
   */
  recordsOf(ids: readonly string[]): Array<FeedbackRecord | FeedbackStub> {
    const own = new Set(ids);
    return this.of(ids).map(([, r]) => {
      const mine = r.ids.filter((id) => own.has(id));
      const sent = r.sender === undefined || own.has(r.sender);
      if (sent && own.has(servedTo(r))) return { ...r, ids: mine };
      return { recommendationId: r.recommendationId, placement: r.placement, ids: mine, ...(sent ? { itemId: r.itemId, t: r.t, messageId: r.messageId } : {}), forAnotherPerson: true as const };
    });
  }

  deletions(ids: readonly string[]): Array<{ table: 'impressions'; key: string }> {
    return this.of(ids).map(([key]) => ({ table: 'impressions' as const, key }));
  }

  /** forgets a person's examples and replays the placements they taught */
  forget(ids: readonly string[]): void {
    this.settle();
    const placements = new Set<string>();
    for (const [key, r] of this.of(ids)) {
      this.records.delete(key);
      placements.add(r.placement);
    }
    for (const p of placements) this.replay(p);
  }

  /** drops examples older than `oldest` (ms) and replays; returns their store keys */
  expire(oldest: number): string[] {
    this.settle();
    const out: string[] = [];
    const placements = new Set<string>();
    for (const [key, r] of this.records) {
      if (r.t >= oldest) continue;
      this.records.delete(key);
      placements.add(r.placement);
      out.push(key);
    }
    for (const p of placements) this.replay(p);
    return out;
  }
}
