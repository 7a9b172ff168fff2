/**
 * Offline policy evaluation of the decision log: which logged decisions are draws of the logging
 * policy, the target policies `kairos ope` knows, and cross-fitting (no I/O; the estimators are in
 * ope.ts).
 *
 * What counts as a draw. A decision record (serving/extension.ts) holds the context vector x and, per
 * slot, the served action and the probability the policy had of choosing it. Only slot 1 is a clean
 * draw of π(a | x): slot k > 1 is drawn conditionally on slots 1…k−1 (and on the caps they used), so
 * multi-slot decisions are evaluated on their first slot. Skipped: records without x (the person had
 * opted out of personalization; nothing may be learned from them) and records whose slot 1 repeats an
 * earlier draw (`repeatOf`, the consistency window): that slot has propensity 1 and is not a draw —
 * the reward it earned was passed on to the draw it repeats. The reward of a draw is the best reward
 * recorded for its action (0 when none came).
 *
 * What the target may choose: the record's `candidates` (eligible, live, within caps). For a
 * one-slot decision these are exactly the candidates of the draw; for a multi-slot one they can lack
 * an action that was open in slot 1 but capped by slot 1's own exposure in slot 2 — the target is
 * then evaluated on the smaller set.
 *
 * Cross-fitting. `greedy` (the bandit's estimated means, no exploration) and `bandit` (LinUCB with
 * given α, ε) are learned from the log, as is the ridge reward model of doubly robust. Learning them
 * from the same decisions they are evaluated on would be biased — a policy fitted to the noise of
 * those very clicks looks better on them than it is. So the log is split in two folds by a hash of
 * the decision id (stable across runs), the models of each placement are trained on one fold and
 * evaluate the other, and the per-decision terms of both folds are pooled. What is estimated is
 * therefore the value of "the policy trained on half of the log", averaged over the two halves.
 * Training uses every freshly drawn slot (as the serving bandit does), evaluation slot 1 only.
 */
import { murmur3 } from '../experiments/hash.ts';
import { LinUcbBandit, type LinUcbOptions } from './bandit.ts';
import type { FeatureVector } from './features.ts';
import { doublyRobust, ips, snips, type LoggedDecision, type PolicyEstimate, type TargetPolicy } from './ope.ts';

/** The part of a stored decision record (serving/extension.ts DecisionRecord) evaluation reads. */
export interface LogRecord {
  decisionId: string;
  placement: string;
  /** ms since epoch */
  at: number;
  x?: FeatureVector;
  actions: ReadonlyArray<{ actionId: string; propensity: number; repeatOf?: string }>;
  candidates: readonly string[];
  rewards?: Readonly<Record<string, number>>;
  /** set while a person the decision names is opted out (as the server last judged) */
  withheld?: boolean;
}

export interface LogFilter {
  placement?: string;
  /** ms since epoch, inclusive */
  since?: number;
  /** ms since epoch, exclusive */
  until?: number;
}

export type Fold = 0 | 1;

/** One evaluable decision: slot 1 as a logged draw. */
export interface OpeDecision extends LoggedDecision {
  decisionId: string;
  placement: string;
  at: number;
  fold: Fold;
  candidates: string[];
}

/** A freshly drawn slot of any position: what the cross-fitted models learn from. */
export interface TrainingObservation {
  placement: string;
  fold: Fold;
  x: FeatureVector;
  actionId: string;
  reward: number;
}

export interface LogSelection {
  decisions: OpeDecision[];
  training: TrainingObservation[];
  /** length of the context vectors evaluated (records of another length are skipped) */
  dims: number;
  /** records read, and why some were not evaluated */
  records: number;
  skipped: { outsideFilter: number; optedOut: number; repeated: number; otherDims: number };
}

/** Which half of the log a decision is in: a hash of its id, so the split is the same on every run. */
export const foldOf = (decisionId: string): Fold => (murmur3(decisionId, 0x0fe) & 1) as Fold;

/** Turns stored records into evaluable decisions and training observations. */
export function selectLog(records: Iterable<LogRecord>, filter: LogFilter = {}): LogSelection {
  const kept: LogRecord[] = [];
  const skipped = { outsideFilter: 0, optedOut: 0, repeated: 0, otherDims: 0 };
  let count = 0;
  const lengths = new Map<number, number>();
  for (const rec of records) {
    count++;
    if (filter.placement !== undefined && rec.placement !== filter.placement) skipped.outsideFilter++;
    else if ((filter.since !== undefined && rec.at < filter.since) || (filter.until !== undefined && rec.at >= filter.until)) skipped.outsideFilter++;
    else if (rec.x === undefined || rec.withheld === true) skipped.optedOut++;
    else if (rec.actions.length === 0) skipped.outsideFilter++;
    else {
      kept.push(rec);
      lengths.set(rec.x.length, (lengths.get(rec.x.length) ?? 0) + 1);
    }
  }
  // a change of the bandit's dims leaves records of two lengths: evaluate the most common one
  let dims = 0;
  let most = 0;
  for (const [length, n] of lengths) if (n > most || (n === most && length > dims)) [dims, most] = [length, n];
  const decisions: OpeDecision[] = [];
  const training: TrainingObservation[] = [];
  const seenVectors = new WeakSet<FeatureVector>();
  for (const rec of kept) {
    if (rec.x!.length !== dims) {
      skipped.otherDims++;
      continue;
    }
    // each decision owns its vector: the reward model finds a decision's fold and placement by it
    const x = seenVectors.has(rec.x!) ? [...rec.x!] : rec.x!;
    seenVectors.add(x);
    const fold = foldOf(rec.decisionId);
    for (const a of rec.actions) {
      if (a.repeatOf === undefined) training.push({ placement: rec.placement, fold, x, actionId: a.actionId, reward: rec.rewards?.[a.actionId] ?? 0 });
    }
    const first = rec.actions[0]!;
    if (first.repeatOf !== undefined) {
      skipped.repeated++;
      continue;
    }
    const candidates = rec.candidates.includes(first.actionId) ? [...rec.candidates] : [...rec.candidates, first.actionId];
    decisions.push({
      decisionId: rec.decisionId,
      placement: rec.placement,
      at: rec.at,
      fold,
      x,
      action: first.actionId,
      propensity: first.propensity,
      reward: rec.rewards?.[first.actionId] ?? 0,
      candidates,
    });
  }
  return { decisions, training, dims, records: count, skipped };
}

export type PolicySpec =
  | { name: string; kind: 'uniform' }
  | { name: string; kind: 'fixed'; actionId: string }
  | { name: string; kind: 'greedy' }
  | { name: string; kind: 'bandit'; alpha?: number; epsilon?: number };

/** "uniform", "greedy", "bandit" or "fixed:<actionId>"; a RangeError names what is accepted. */
export function parsePolicy(text: string, bandit: { alpha?: number; epsilon?: number } = {}): PolicySpec {
  const t = text.trim();
  if (t === 'uniform' || t === 'greedy') return { name: t, kind: t };
  if (t === 'bandit') return { name: t, kind: 'bandit', ...bandit };
  if (t.startsWith('fixed:') && t.length > 'fixed:'.length) return { name: t, kind: 'fixed', actionId: t.slice('fixed:'.length) };
  throw new RangeError(`unknown policy "${t}": use uniform, greedy, bandit or fixed:<actionId>`);
}

/**
 * The cross-fitted models of each placement: `models.get(placement)[k]` was trained on the fold
 * other than k, so it may evaluate the decisions of fold k.
 */
export type CrossFitted = Map<string, [LinUcbBandit, LinUcbBandit]>;

export function crossFit(selection: LogSelection, options: Partial<LinUcbOptions> = {}): CrossFitted {
  const models: CrossFitted = new Map();
  const placements = new Set([...selection.decisions.map((d) => d.placement), ...selection.training.map((o) => o.placement)]);
  for (const p of placements) {
    models.set(p, [new LinUcbBandit({ ...options, dims: selection.dims }), new LinUcbBandit({ ...options, dims: selection.dims })]);
  }
  for (const o of selection.training) models.get(o.placement)![o.fold === 0 ? 1 : 0].update(o.actionId, o.x, o.reward);
  return models;
}

/** A copy of a trained bandit that scores with other options (the models are shared). */
const withOptions = (bandit: LinUcbBandit, options: Partial<LinUcbOptions>): LinUcbBandit =>
  LinUcbBandit.fromJSON({ ...bandit.toJSON(), options: { ...bandit.options, ...options } });

/** π(· | decision) of a target policy for every decision, computed once. */
export function targetDistributions(
  selection: LogSelection,
  models: CrossFitted,
  spec: PolicySpec,
  values: ReadonlyMap<string, number> = new Map(),
): Map<OpeDecision, Map<string, number>> {
  const out = new Map<OpeDecision, Map<string, number>>();
  const uniform = (d: OpeDecision) => new Map(d.candidates.map((a) => [a, 1 / d.candidates.length]));
  if (spec.kind === 'uniform' || spec.kind === 'fixed') {
    for (const d of selection.decisions) {
      // a fixed action that is not a candidate (ineligible, capped, expired) cannot be shown: the policy falls back to uniform
      out.set(d, spec.kind === 'fixed' && d.candidates.includes(spec.actionId) ? new Map([[spec.actionId, 1]]) : uniform(d));
    }
    return out;
  }
  const options: Partial<LinUcbOptions> =
    spec.kind === 'greedy' ? { alpha: 0, epsilon: 0 } : { ...(spec.alpha !== undefined ? { alpha: spec.alpha } : {}), ...(spec.epsilon !== undefined ? { epsilon: spec.epsilon } : {}) };
  const policies = new Map([...models].map(([p, [m0, m1]]) => [p, [withOptions(m0, options), withOptions(m1, options)] as const]));
  for (const d of selection.decisions) {
    const bandit = policies.get(d.placement)![d.fold];
    out.set(d, bandit.probabilities(d.x, d.candidates.map((actionId) => ({ actionId, value: values.get(actionId) ?? 1 }))));
  }
  return out;
}

export interface EstimateJson {
  estimate: number;
  ci95: [number, number];
  standardError: number;
}

export interface PolicyReport {
  ips: EstimateJson;
  /** null when the target never chooses a logged action (the ratio is undefined) */
  snips: EstimateJson | null;
  dr: EstimateJson;
  /** effective sample size of the importance weights, (Σw)² / Σw²: how many decisions the estimate is worth */
  effectiveSampleSize: number;
  maxWeight: number;
  /** the true value, when the caller knows the expected rewards (simulations) */
  truth?: number;
}

export interface OpeReport {
  /** decisions evaluated */
  decisions: number;
  records: number;
  skipped: LogSelection['skipped'];
  placements: string[];
  logged: { meanReward: number; ci95: [number, number] };
  policies: Record<string, PolicyReport>;
}

export interface EvaluateOptions {
  policies: readonly PolicySpec[];
  /** the serving bandit's options (dims comes from the log) */
  bandit?: Partial<LinUcbOptions>;
  /** business value per action: the greedy and bandit targets rank by estimated reward × value */
  values?: ReadonlyMap<string, number>;
  /** the true expected reward of an action in a decision's context, for simulations: adds `truth` */
  expectedReward?: (decision: OpeDecision, actionId: string) => number;
}

const json = (e: PolicyEstimate): EstimateJson => ({ estimate: e.estimate, ci95: e.ci95, standardError: e.standardError });

/** IPS, SNIPS and doubly robust estimates of each target policy on a selected log. */
export function evaluateLog(selection: LogSelection, options: EvaluateOptions): OpeReport {
  const log = selection.decisions;
  if (log.length === 0) throw new RangeError('no logged decision to evaluate');
  const models = crossFit(selection, options.bandit);
  const byVector = new WeakMap<FeatureVector, OpeDecision>();
  for (const d of log) byVector.set(d.x, d);
  // q̂(x, a): the ridge model of the decision's placement trained on the other fold
  const rewardModel = (x: FeatureVector, action: string): number => {
    const d = byVector.get(x)!;
    return models.get(d.placement)![d.fold].expectedReward(action, x);
  };
  const n = log.length;
  const meanReward = log.reduce((s, d) => s + d.reward, 0) / n;
  const logged = ips(log, (d) => new Map([[d.action, d.propensity]]));
  const policies: Record<string, PolicyReport> = {};
  for (const spec of options.policies) {
    const dist = targetDistributions(selection, models, spec, options.values);
    const target: TargetPolicy = (d) => dist.get(d as OpeDecision)!;
    let sumW = 0;
    let sumW2 = 0;
    let maxWeight = 0;
    for (const d of log) {
      const w = (dist.get(d)!.get(d.action) ?? 0) / d.propensity;
      sumW += w;
      sumW2 += w * w;
      maxWeight = Math.max(maxWeight, w);
    }
    const report: PolicyReport = {
      ips: json(ips(log, target)),
      snips: sumW > 0 ? json(snips(log, target)) : null,
      dr: json(doublyRobust(log, target, rewardModel)),
      effectiveSampleSize: sumW2 > 0 ? (sumW * sumW) / sumW2 : 0,
      maxWeight,
    };
    if (options.expectedReward) {
      let truth = 0;
      for (const d of log) for (const [a, p] of dist.get(d)!) truth += p * options.expectedReward(d, a);
      report.truth = truth / n;
    }
    policies[spec.name] = report;
  }
  return {
    decisions: n,
    records: selection.records,
    skipped: selection.skipped,
    placements: [...new Set(log.map((d) => d.placement))].sort(),
    logged: { meanReward, ci95: logged.ci95 },
    policies,
  };
}
