/**
 * The decision policy of one placement: disjoint LinUCB mixed with ε-uniform exploration.
 *
 * Each action has its own ridge model of reward given the context vector x (see ridge.ts). Its score
 * is an optimistic estimate, (θᵀx + α·√(xᵀA⁻¹x))·value: uncertain actions — new ones above all, whose
 * prior gives them the widest interval — rise to the top until data says otherwise.
 *
 * Why not Thompson sampling: its propensities have no closed form and would need Monte Carlo
 * estimates, which bias offline evaluation. Here the choice is drawn from an explicit distribution,
 *
 *   π(a | x) = (1 − ε)·[a ∈ T]/|T| + ε/K,   T = the actions with the highest score, K = candidates,
 *
 * so the logged propensity is exact, and never below ε/K, which bounds inverse-propensity weights.
 * The ε floor also keeps every action observed in every context, which LinUCB alone does not.
 */
import type { FeatureVector } from './features.ts';
import { DEFAULT_FEATURE_DIMS } from './features.ts';
import type { Random } from './random.ts';
import { RidgeRegression, toSparse, type RidgeState, type SparseVector } from './ridge.ts';

export interface LinUcbOptions {
  /** length of the feature vectors (features.ts) */
  dims: number;
  /** width of the optimism bonus, in posterior standard deviations */
  alpha: number;
  /** share of decisions drawn uniformly among the candidates */
  epsilon: number;
  /** λ: prior strength of a new action, in pseudo-observations */
  ridge: number;
  /** μ₀: expected reward of an action nobody has tried yet */
  priorMean: number;
}

/** Tuned on the simulated environment (simulate.ts) for Bernoulli rewards with rates of a few percent. */
export const DEFAULT_LINUCB_OPTIONS: LinUcbOptions = {
  dims: DEFAULT_FEATURE_DIMS,
  alpha: 0.3,
  epsilon: 0.05,
  ridge: 1,
  priorMean: 0,
};

export interface BanditCandidate {
  actionId: string;
  /** business value of a success; multiplies the score (default 1) */
  value?: number;
}

export interface ActionEstimate {
  actionId: string;
  /** estimated expected reward θᵀx */
  mean: number;
  /** α·√(xᵀA⁻¹x) */
  bonus: number;
  /** (mean + bonus) · value: what the policy ranks by */
  score: number;
  /** π(a | x) */
  probability: number;
}

export interface BanditChoice extends ActionEstimate {
  /** π(chosen | x), exact */
  propensity: number;
  /** true when the choice is not among the actions with the highest estimated value (mean · value) */
  explored: boolean;
}

export interface LinUcbState {
  kind: 'linucb';
  version: 1;
  options: LinUcbOptions;
  /** per action, sorted by id so equal models serialise equally */
  actions: Record<string, RidgeState>;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkOptions(o: LinUcbOptions): void {
  if (!Number.isInteger(o.dims) || o.dims < 2) throw new RangeError('dims must be an integer ≥ 2');
  if (!(o.alpha >= 0) || !Number.isFinite(o.alpha)) throw new RangeError('alpha must be ≥ 0');
  if (!(o.epsilon >= 0 && o.epsilon <= 1)) throw new RangeError('epsilon must be in [0, 1]');
  if (!(o.ridge > 0) || !Number.isFinite(o.ridge)) throw new RangeError('ridge must be > 0');
  if (!Number.isFinite(o.priorMean)) throw new RangeError('priorMean must be finite');
}

export class LinUcbBandit {
  readonly options: LinUcbOptions;
  private readonly models = new Map<string, RidgeRegression>();
  /** what every untried action looks like; never updated */
  private readonly prior: RidgeRegression;

  constructor(options: Partial<LinUcbOptions> = {}) {
    this.options = { ...DEFAULT_LINUCB_OPTIONS, ...options };
    checkOptions(this.options);
    this.prior = new RidgeRegression(this.options.dims, this.options);
  }

  /** Restores a bandit saved with `toJSON`; throws a RangeError on a state it cannot trust. */
  static fromJSON(state: unknown): LinUcbBandit {
    if (!isRecord(state) || state.kind !== 'linucb' || state.version !== 1 || !isRecord(state.options) || !isRecord(state.actions)) {
      throw new RangeError('not a LinUCB bandit state (kind "linucb", version 1)');
    }
    const bandit = new LinUcbBandit(state.options as Partial<LinUcbOptions>);
    for (const [actionId, model] of Object.entries(state.actions)) {
      if (!isRecord(model) || !Array.isArray(model.A) || !Array.isArray(model.b)) throw new RangeError(`bad model for action ${actionId}`);
      bandit.models.set(actionId, RidgeRegression.fromState(bandit.options.dims, bandit.options, model as unknown as RidgeState));
    }
    return bandit;
  }

  toJSON(): LinUcbState {
    const actions: Record<string, RidgeState> = {};
    for (const id of [...this.models.keys()].sort()) actions[id] = this.models.get(id)!.toState();
    return { kind: 'linucb', version: 1, options: { ...this.options }, actions };
  }

  /** Scores and the full choice distribution π(· | x) over `candidates` (distinct action ids). */
  estimate(x: FeatureVector, candidates: readonly BanditCandidate[]): ActionEstimate[] {
    if (new Set(candidates.map((c) => c.actionId)).size !== candidates.length) throw new RangeError('candidate action ids must be distinct');
    const sx = this.sparse(x);
    const rows = candidates.map((c) => {
      const model = this.models.get(c.actionId) ?? this.prior;
      const mean = model.predict(sx);
      const bonus = this.options.alpha * model.uncertainty(sx);
      return { actionId: c.actionId, mean, bonus, score: (mean + bonus) * (c.value ?? 1), probability: 0 };
    });
    const best = Math.max(...rows.map((r) => r.score));
    const leaders = rows.filter((r) => r.score === best).length;
    const k = rows.length;
    const { epsilon } = this.options;
    for (const r of rows) r.probability = (r.score === best ? (1 - epsilon) / leaders : 0) + epsilon / k;
    return rows;
  }

  /** π(· | x) as a map, the form offline evaluation wants for a target policy. */
  probabilities(x: FeatureVector, candidates: readonly BanditCandidate[]): Map<string, number> {
    return new Map(this.estimate(x, candidates).map((r) => [r.actionId, r.probability]));
  }

  /** Draws one action from π(· | x); undefined when there is no candidate. */
  choose(x: FeatureVector, candidates: readonly BanditCandidate[], random: Random): BanditChoice | undefined {
    if (candidates.length === 0) return undefined;
    const rows = this.estimate(x, candidates);
    const u = random();
    let cumulative = 0;
    let chosen = rows[rows.length - 1]!;
    for (const r of rows) {
      cumulative += r.probability;
      if (u < cumulative) {
        chosen = r;
        break;
      }
    }
    const expectedValues = rows.map((r, i) => r.mean * (candidates[i]!.value ?? 1));
    const explored = expectedValues[rows.indexOf(chosen)]! < Math.max(...expectedValues);
    return { ...chosen, propensity: chosen.probability, explored };
  }

  /** Learns from the reward of showing `actionId` in context x (call once per reward). */
  update(actionId: string, x: FeatureVector, reward: number): void {
    let model = this.models.get(actionId);
    if (model === undefined) {
      model = new RidgeRegression(this.options.dims, this.options);
      this.models.set(actionId, model);
    }
    model.add(this.sparse(x), reward);
  }

  /** Forgets an earlier `update(actionId, x, reward)`, e.g. when the person is erased. */
  forget(actionId: string, x: FeatureVector, reward: number): void {
    const model = this.models.get(actionId);
    if (model === undefined) return;
    model.remove(this.sparse(x), reward);
    if (model.n === 0) this.models.delete(actionId);
  }

  /** Expected reward of an action at x (no optimism): the reward model doubly robust evaluation needs. */
  expectedReward(actionId: string, x: FeatureVector): number {
    return (this.models.get(actionId) ?? this.prior).predict(this.sparse(x));
  }

  /** Drops an action's model (the action was deleted). */
  removeAction(actionId: string): void {
    this.models.delete(actionId);
  }

  private sparse(x: FeatureVector): SparseVector {
    if (x.length !== this.options.dims) throw new RangeError(`feature vector has ${x.length} entries, the bandit expects ${this.options.dims}`);
    return toSparse(x);
  }
}
