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
 * in them once their impressions are gone. The same holds for consent and identity: every candidate
 * outcome is kept (stored), and which ones are examples is judged on the events held, so an opt-out,
 * an opt-in or a merge replays the placements it touches (FeedbackLearning).
 */
import { createHash } from 'node:crypto';
import { itemStoreKey } from '../../catalog/item.ts';
import { addTo, removeFrom } from '../../multimap.ts';
import { namedIds, servedTo } from '../../engine/workspace.ts';

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

/**
 * One candidate outcome, as stored (table `impressions`, key `fb\0<recommendationId>\0<itemId>\0<hash
 * of messageId>`; records of earlier versions, which held only the outcome that counted, lack the
 * last part). Whether it counts is judged on the events held, not when it arrived (FeedbackLearning).
 */
export interface FeedbackRecord {
  recommendationId: string;
  placement: string;
  /** the ids of the impression's person (erasure finds the record by them) */
  ids: string[];
  /** the impression's `servedFor` (absent in records of earlier versions: then `ids[0]`) */
  servedFor?: string;
  /** the ids the outcome event named its sender by (attribution is judged on them) */
  userId?: string;
  anonymousId?: string;
  /** records of earlier versions: the one id the sender was named by (absent in the earliest) */
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
/** the store key of one candidate outcome: the shown item's key and a hash of the outcome's messageId */
export const candidateKey = (rec: Pick<FeedbackRecord, 'recommendationId' | 'itemId' | 'messageId'>): string =>
  `${feedbackKey(rec.recommendationId, rec.itemId)}\u0000${createHash('sha256').update(rec.messageId).digest('base64url').slice(0, 22)}`;

/** the ids an outcome's event named its sender by */
export function senderOf(r: FeedbackRecord): { userId?: string; anonymousId?: string } {
  if (r.userId !== undefined || r.anonymousId !== undefined) return { ...(r.userId !== undefined ? { userId: r.userId } : {}), ...(r.anonymousId !== undefined ? { anonymousId: r.anonymousId } : {}) };
  return r.sender !== undefined ? { userId: r.sender } : {};
}

/**
 * How many candidate outcomes one shown item keeps: a person views, adds and buys it, perhaps from
 * two devices. A full item makes room only for an outcome credited now, in place of one that is not
 * (strangers quoting a recommendation id cannot crowd out the person's own click); what counts can
 * then depend on arrival order only when more than this many candidates are credited later.
 */
export const MAX_CANDIDATES_PER_ITEM = 16;

const before = (a: FeedbackRecord, b: FeedbackRecord): boolean => a.t < b.t || (a.t === b.t && a.messageId < b.messageId);
const order = (a: FeedbackRecord, b: FeedbackRecord): number => (before(a, b) ? -1 : before(b, a) ? 1 : 0);

/**
 * The learners of every placement of a workspace and the outcomes they may learn from. Every outcome
 * event naming a recommendation and one of its items is kept as a candidate; which count is judged
 * against the events held now (`credited`: the sender is the recommendation's person, by merges known
 * now, the event was not sent while they had opted out, and nobody the request named is opted out).
 * Per shown item the earliest credited candidate (event time, then messageId) is the example, and each
 * learner is the replay of its placement's examples in that order. A merge, a preference or an erasure
 * that arrives late rejudges the candidates it touches (recheck), so the weights are a function of the
 * events held, never of the order they arrived in, and never of anyone erased.
 */
export class FeedbackLearning {
  /** store key → candidate */
  private readonly records = new Map<string, FeedbackRecord>();
  /** store key → whether the candidate was credited when last judged */
  private readonly judged = new Map<string, boolean>();
  /** feedbackKey (one shown item) → its candidates' store keys */
  private readonly items = new Map<string, Set<string>>();
  /** id (the recommendation's and the sender's) → store keys of the candidates naming it */
  private readonly byId = new Map<string, Set<string>>();
  private readonly learners = new Map<string, { learner: BlendLearner; last?: FeedbackRecord }>();
  /** ids whose candidates are rejudged before the weights are next read or taught; 'all' after a load */
  private pending: Set<string> | 'all' = new Set();

  constructor(
    private readonly baseOf: (placement: string) => Readonly<Record<string, number>>,
    private readonly options: LearnerOptions = DEFAULT_LEARNER_OPTIONS,
    /** whether a candidate counts, judged on the events held now (see the class comment) */
    private readonly credited: (rec: FeedbackRecord) => boolean = () => true,
  ) {}

  /** a candidate read back from the store (at start): judged once the events are loaded */
  load(key: string, rec: FeedbackRecord): void {
    this.insert(key, rec);
    this.pending = 'all';
  }

  /**
   * Takes a candidate outcome; returns its store key (and the key of a candidate it evicted, to
   * delete), or undefined when it is already held (the same event derived again) or its item is full
   * (MAX_CANDIDATES_PER_ITEM) of candidates no less credited than it. Only the earliest credited
   * candidate of a shown item teaches: a new earliest one replaces the one taught before.
   */
  offer(rec: FeedbackRecord): { key: string; evicted?: string } | undefined {
    this.settle();
    const key = candidateKey(rec);
    if (this.records.has(key)) return undefined;
    const item = feedbackKey(rec.recommendationId, rec.itemId);
    const members = this.items.get(item);
    const credited = this.credited(rec);
    let evicted: string | undefined;
    if (members && members.size >= MAX_CANDIDATES_PER_ITEM) {
      if (!credited) return undefined;
      evicted = [...members].find((k) => this.judged.get(k) !== true);
      if (evicted === undefined) return undefined;
      this.remove(evicted);
    }
    const taken = { key, ...(evicted !== undefined ? { evicted } : {}) };
    const shown = this.exampleOf(item);
    this.insert(key, rec);
    this.judged.set(key, credited);
    if (!credited) return taken;
    if (shown && !before(rec, shown)) return taken;
    const held = this.learners.get(rec.placement);
    // a displaced example, or one earlier than the last learned: the placement's examples are replayed
    if (shown || (held?.last && before(rec, held.last))) {
      this.replay(rec.placement);
      return taken;
    }
    const state = held ?? { learner: new BlendLearner(this.baseOf(rec.placement), this.options) };
    state.learner.learn(rec.example);
    state.last = rec;
    this.learners.set(rec.placement, state);
    return taken;
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
   * Whether candidates naming these ids count may have changed (a merge, a preference, retention;
   * undefined: anything may have): they are rejudged before the weights are next read or taught, and
   * the placements where an example changed are replayed. Idempotent.
   */
  recheck(ids: readonly string[] | undefined): void {
    if (this.pending === 'all') return;
    if (ids === undefined) this.pending = 'all';
    else for (const id of ids) if (this.byId.has(id)) this.pending.add(id);
  }

  private settle(): void {
    const pending = this.pending;
    if (pending !== 'all' && pending.size === 0) return;
    this.pending = new Set();
    const placements = new Set<string>();
    if (pending === 'all') {
      for (const [key, rec] of this.records) {
        this.judge(key, rec);
        placements.add(rec.placement);
      }
      for (const p of this.learners.keys()) placements.add(p);
    } else {
      for (const key of this.keysOf(pending)) {
        const rec = this.records.get(key)!;
        const was = this.judged.get(key);
        if (this.judge(key, rec) !== was) placements.add(rec.placement);
      }
    }
    for (const p of placements) this.replay(p);
  }

  private judge(key: string, rec: FeedbackRecord): boolean {
    const ok = this.credited(rec);
    this.judged.set(key, ok);
    return ok;
  }

  /** the example of one shown item: its earliest credited candidate */
  private exampleOf(item: string): FeedbackRecord | undefined {
    let first: FeedbackRecord | undefined;
    for (const key of this.items.get(item) ?? []) {
      const rec = this.records.get(key)!;
      if (this.judged.get(key) && (first === undefined || before(rec, first))) first = rec;
    }
    return first;
  }

  private replay(placement: string): void {
    const first = new Map<string, FeedbackRecord>();
    for (const [key, r] of this.records) {
      if (r.placement !== placement || !this.judged.get(key)) continue;
      const item = feedbackKey(r.recommendationId, r.itemId);
      const held = first.get(item);
      if (held === undefined || before(r, held)) first.set(item, r);
    }
    const examples = [...first.values()].sort(order);
    if (examples.length === 0) {
      this.learners.delete(placement);
      return;
    }
    const learner = new BlendLearner(this.baseOf(placement), this.options);
    for (const r of examples) learner.learn(r.example);
    this.learners.set(placement, { learner, last: examples[examples.length - 1]! });
  }

  private idsOf(rec: FeedbackRecord): string[] {
    return [...new Set([...rec.ids, ...namedIds(senderOf(rec))])];
  }

  private insert(key: string, rec: FeedbackRecord): void {
    this.records.set(key, rec);
    addTo(this.items, feedbackKey(rec.recommendationId, rec.itemId), key);
    for (const id of this.idsOf(rec)) addTo(this.byId, id, key);
  }

  private remove(key: string): FeedbackRecord | undefined {
    const rec = this.records.get(key);
    if (!rec) return undefined;
    this.records.delete(key);
    this.judged.delete(key);
    removeFrom(this.items, feedbackKey(rec.recommendationId, rec.itemId), key);
    for (const id of this.idsOf(rec)) removeFrom(this.byId, id, key);
    return rec;
  }

  /** store keys of the candidates naming one of these ids, as the recommendation's person or as sender */
  private keysOf(ids: Iterable<string>): Set<string> {
    const out = new Set<string>();
    for (const id of ids) for (const key of this.byId.get(id) ?? []) out.add(key);
    return out;
  }

  /**
   * export: the outcomes of recommendations whose requests named one of the person's `ids` (all of
   * them), and the outcomes they sent, showing only their own ids. The example (the signals of the
   * items shown, and which was chosen) is shown only when the recommendation was served to this person
   * and the outcome is theirs; else only what is theirs: that it happened, and their own outcome if
   * they sent it.
   */
  recordsOf(ids: readonly string[]): Array<FeedbackRecord | FeedbackStub> {
    const own = new Set(ids);
    return [...this.keysOf(ids)].map((key) => {
      const r = this.records.get(key)!;
      const mine = r.ids.filter((id) => own.has(id));
      const sender = namedIds(senderOf(r));
      const sent = sender.length === 0 || sender.some((id) => own.has(id));
      if (sent && own.has(servedTo(r))) {
        const { userId, anonymousId, sender: _, ...rest } = r;
        return { ...rest, ids: mine, ...(userId !== undefined && own.has(userId) ? { userId } : {}), ...(anonymousId !== undefined && own.has(anonymousId) ? { anonymousId } : {}) };
      }
      return { recommendationId: r.recommendationId, placement: r.placement, ids: mine, ...(sent ? { itemId: r.itemId, t: r.t, messageId: r.messageId } : {}), forAnotherPerson: true as const };
    });
  }

  deletions(ids: readonly string[]): Array<{ table: 'impressions'; key: string }> {
    return [...this.keysOf(ids)].map((key) => ({ table: 'impressions' as const, key }));
  }

  /** forgets the candidates naming a person (as the recommendation's person or as sender) and replays the placements they were in */
  forget(ids: readonly string[]): void {
    this.settle();
    const placements = new Set<string>();
    for (const key of this.keysOf(ids)) placements.add(this.remove(key)!.placement);
    for (const p of placements) this.replay(p);
  }

  /** drops candidates older than `oldest` (ms) and replays; returns their store keys */
  expire(oldest: number): string[] {
    this.settle();
    const out: string[] = [];
    const placements = new Set<string>();
    for (const [key, r] of [...this.records]) {
      if (r.t >= oldest) continue;
      this.remove(key);
      placements.add(r.placement);
      out.push(key);
    }
    for (const p of placements) this.replay(p);
    return out;
  }
}
