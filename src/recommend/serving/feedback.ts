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
 * in them once their impressions are gone.
 */

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
