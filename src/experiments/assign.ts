/**
 * Deterministic assignment of people to an experiment's variants: pure, so every server, the
 * evaluation harness and a client library holding the same inputs agree without coordination.
 *
 *   1. Global holdout first: u_h = murmur3("kairos-holdout:" + personId) / 2³²; the person is held
 *      out when u_h < holdoutPercent / 100. The namespace does not involve the experiment, so the
 *      holdout is the same people in every experiment (nested when percents differ): they get no
 *      personalization anywhere, which is what measuring total uplift needs.
 *   2. Otherwise u = murmur3(seed + ":" + personId) / 2³² with seed = experiment seed (default: its
 *      id), and the variant is the first whose cumulative normalised weight exceeds u. The two hashes
 *      are independent, so among people not held out variants get exactly their weights.
 *
 * personId must be the canonical id of the person. Identity merges change the canonical id, so
 * stickiness comes from the engine persisting the first exposure and passing it to `stickyAssignment`.
 */
import { unitHash } from './hash.ts';
import { DEFAULT_HOLDOUT_PERCENT, HOLDOUT_VARIANT, type Variant } from './experiment.ts';

export const HOLDOUT_NAMESPACE = 'kairos-holdout';

export interface AssignableExperiment {
  id: string;
  seed?: string;
  variants: ReadonlyArray<Pick<Variant, 'id' | 'weight'>>;
  holdoutPercent?: number;
}

export interface Assignment {
  experimentId: string;
  /** a variant id, or "holdout" */
  variant: string;
  holdout: boolean;
}

export const isHeldOut = (personId: string, holdoutPercent: number = DEFAULT_HOLDOUT_PERCENT): boolean =>
  unitHash(`${HOLDOUT_NAMESPACE}:${personId}`) < holdoutPercent / 100;

/** The variant among `variants` that owns bucket u ∈ [0, 1). */
export function variantAt(variants: AssignableExperiment['variants'], u: number): string {
  const total = variants.reduce((s, v) => s + Math.max(0, v.weight), 0);
  if (!(total > 0)) throw new RangeError('an experiment needs a variant with positive weight');
  let cumulative = 0;
  let last: string | undefined;
  for (const v of variants) {
    if (!(v.weight > 0)) continue;
    cumulative += v.weight / total;
    last = v.id;
    if (u < cumulative) return v.id;
  }
  // u just below 1 can exceed a cumulative sum that rounding left short of 1
  return last!;
}

export function assign(experiment: AssignableExperiment, personId: string): Assignment {
  if (isHeldOut(personId, experiment.holdoutPercent)) return { experimentId: experiment.id, variant: HOLDOUT_VARIANT, holdout: true };
  const u = unitHash(`${experiment.seed ?? experiment.id}:${personId}`);
  return { experimentId: experiment.id, variant: variantAt(experiment.variants, u), holdout: false };
}

/**
 * The persisted first assignment when there is one and it still names a variant of the experiment
 * (or the holdout), else a fresh one; `fresh` tells the caller to persist it. Changing weights
 * therefore moves only people not yet exposed, as sticky bucketing should.
 */
export function stickyAssignment(
  experiment: AssignableExperiment,
  personId: string,
  persisted?: Assignment,
): { assignment: Assignment; fresh: boolean } {
  return persisted !== undefined && stillNamed(experiment, persisted) ? { assignment: persisted, fresh: false } : { assignment: assign(experiment, personId), fresh: true };
}

/** whether an assignment still names one of the experiment's variants (or its holdout) */
export function stillNamed(experiment: AssignableExperiment, a: Assignment): boolean {
  return a.experimentId === experiment.id && (a.holdout ? a.variant === HOLDOUT_VARIANT : experiment.variants.some((v) => v.id === a.variant));
}

/**
 * The share of exposures each variant (and "holdout") should get: what the sample-ratio check compares
 * with. A null-prototype object, so any variant id is an own key (even one like "constructor").
 */
export function expectedShares(experiment: AssignableExperiment): Record<string, number> {
  const holdout = (experiment.holdoutPercent ?? DEFAULT_HOLDOUT_PERCENT) / 100;
  const total = experiment.variants.reduce((s, v) => s + Math.max(0, v.weight), 0);
  const shares = Object.create(null) as Record<string, number>;
  shares[HOLDOUT_VARIANT] = holdout;
  for (const v of experiment.variants) shares[v.id] = total > 0 ? ((1 - holdout) * Math.max(0, v.weight)) / total : 0;
  return shares;
}
