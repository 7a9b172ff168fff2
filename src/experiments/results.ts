/**
 * The results of an experiment (`GET /v1/experiments/{id}/results`), computed from per-variant
 * counters: exposed people, converted people per metric and, for revenue metrics, Σ and Σ² of
 * revenue per exposed person. Lift and p-values compare each variant with the control (the first
 * variant unless told otherwise; "holdout" may be named to measure total uplift).
 *
 * A comparison gets a lift and a p-value look only once both arms are `comparable` (stats.ts): until
 * then its p-value is 1 (no evidence yet) and it has no lift. Objects keyed by variant or metric name
 * have no prototype, so names like "constructor" or "toString" are keys like any other.
 */
import { HOLDOUT_VARIANT } from './experiment.ts';
import {
  alwaysValidPValue,
  comparable,
  conversionRate,
  relativeLift,
  sampleMean,
  sampleRatioMismatch,
  type Interval,
  type MeanEstimate,
  type SampleRatioCheck,
} from './stats.ts';

export interface MetricTotals {
  /** exposed people who sent the metric's event after exposure */
  conversions: number;
  /**
   * per exposed person's revenue total: Σx and Σx² over people (non-buyers add 0), and how many
   * people's total is not 0 (they carry the spread: absent in totals that do not count them, where
   * the people who converted stand in)
   */
  revenue?: { sum: number; sumSquares: number; payers?: number };
}

export interface VariantTotals {
  /** a variant id or "holdout" */
  variant: string;
  exposures: number;
  /** by metric event name */
  metrics: Readonly<Record<string, MetricTotals>>;
}

export type PValues = NonNullable<MetricResult['pValue']>;

export const floorKey = (variant: string, metric: string): string => `${variant}\u0000${metric}`;

export interface MetricResult {
  conversions: number;
  conversionRate: number;
  revenuePerPerson?: number;
  /**
   * relative lift vs the control; absent for the control, when the control's value is 0, and until
   * both arms are big enough to compare (stats.ts `comparable`)
   */
  lift?: { conversionRate?: Interval; revenuePerPerson?: Interval };
  /** always-valid p-values vs the control (1 until both arms are big enough to compare); absent for the control */
  pValue?: { conversionRate: number; revenuePerPerson?: number };
}

export interface VariantResult {
  variant: string;
  exposures: number;
  metrics: Record<string, MetricResult>;
}

export interface ExperimentResults {
  control: string;
  variants: VariantResult[];
  sampleRatio: SampleRatioCheck;
}

export interface ResultsInput {
  totals: readonly VariantTotals[];
  /** expected share of exposures per variant and "holdout" (assign.ts `expectedShares`) */
  expectedShares: ReadonlyMap<string, number> | Readonly<Record<string, number>>;
  /** default: the first non-holdout variant of `totals` */
  control?: string;
  /**
   * the lowest p-values of earlier looks, by `floorKey(variant, metric)`: the always-valid p-value
   * is the minimum over every look, and the caller replays the looks (ExperimentState.results)
   */
  floors?: ReadonlyMap<string, PValues>;
  /**
   * the floors are the p-values: the caller took every look, the last one included
   * (ExperimentState.results replays every step), so the totals get no look of their own
   */
  floorsFinal?: boolean;
  /** mixing effect size φ of the sequential test (stats.ts) */
  effectSize?: number;
  /** the always-valid lift intervals of the replayed looks, by floorKey (stats.ts alwaysValidLiftAt) */
  liftIntervals?: ReadonlyMap<string, { conversionRate?: [number, number]; revenuePerPerson?: [number, number] }>;
}

/** the p-values of one look at a variant against the control, for one metric */
export function pValuesAt(own: VariantTotals, control: VariantTotals, metric: string, effectSize?: number, floor?: PValues): PValues {
  const mine = estimatesOf(own, metric);
  const base = estimatesOf(control, metric);
  const options = (previous: number | undefined) => ({ ...(previous !== undefined ? { previous } : {}), ...(effectSize !== undefined ? { effectSize } : {}) });
  const ready = readiness(own, control, metric);
  return {
    conversionRate: ready.rate ? alwaysValidPValue(mine.rate, base.rate, options(floor?.conversionRate)) : (floor?.conversionRate ?? 1),
    ...(mine.revenue && base.revenue
      ? { revenuePerPerson: ready.mean ? alwaysValidPValue(mine.revenue, base.revenue, options(floor?.revenuePerPerson)) : (floor?.revenuePerPerson ?? 1) }
      : {}),
  };
}

/** the p-values the looks left (1 where no look counted) */
function finalPValues(floor: PValues | undefined, revenue: boolean): PValues {
  return { conversionRate: floor?.conversionRate ?? 1, ...(revenue ? { revenuePerPerson: floor?.revenuePerPerson ?? 1 } : {}) };
}

/** whether a variant and the control are big enough to compare, for the rate and for the mean of a metric */
export function readiness(own: VariantTotals, control: VariantTotals, metric: string): { rate: boolean; mean: boolean } {
  const arm = (v: VariantTotals) => ({ people: v.exposures, converted: metricOf(v, metric)?.conversions ?? 0 });
  // for the mean, the people with revenue: a conversion whose revenue was missing or invalid adds no spread
  const paying = (v: VariantTotals) => ({ people: v.exposures, converted: metricOf(v, metric)?.revenue?.payers ?? metricOf(v, metric)?.conversions ?? 0 });
  return { rate: comparable(arm(own), arm(control), 'rate'), mean: comparable(paying(own), paying(control), 'mean') };
}

/** own entries only: a metric named like an Object.prototype member is not one */
const metricOf = (v: VariantTotals, metric: string): MetricTotals | undefined => (Object.hasOwn(v.metrics, metric) ? v.metrics[metric] : undefined);

function estimatesOf(v: VariantTotals, metric: string): { rate: MeanEstimate; revenue?: MeanEstimate } {
  const m = metricOf(v, metric);
  const rate = conversionRate(v.exposures, m?.conversions ?? 0);
  return m?.revenue ? { rate, revenue: sampleMean(v.exposures, m.revenue.sum, m.revenue.sumSquares) } : { rate };
}

export function experimentResults(input: ResultsInput): ExperimentResults {
  const control = input.control ?? input.totals.find((t) => t.variant !== HOLDOUT_VARIANT)?.variant;
  const controlTotals = input.totals.find((t) => t.variant === control);
  if (control === undefined || controlTotals === undefined) throw new RangeError('the results need the control variant’s totals');
  const metrics = [...new Set(input.totals.flatMap((t) => Object.keys(t.metrics)))];

  const variants = input.totals.map((v): VariantResult => {
    const results = Object.create(null) as Record<string, MetricResult>;
    for (const metric of metrics) {
      const own = estimatesOf(v, metric);
      const result: MetricResult = {
        conversions: metricOf(v, metric)?.conversions ?? 0,
        conversionRate: own.rate.mean,
        ...(own.revenue ? { revenuePerPerson: own.revenue.mean } : {}),
      };
      if (v.variant !== control) {
        const base = estimatesOf(controlTotals, metric);
        const ready = readiness(v, controlTotals, metric);
        const rateLift = ready.rate ? relativeLift(own.rate, base.rate) : undefined;
        const revenueLift = ready.mean && own.revenue && base.revenue ? relativeLift(own.revenue, base.revenue) : undefined;
        const always = input.liftIntervals?.get(floorKey(v.variant, metric));
        if (rateLift && always?.conversionRate) rateLift.ci95AlwaysValid = always.conversionRate;
        if (revenueLift && always?.revenuePerPerson) revenueLift.ci95AlwaysValid = always.revenuePerPerson;
        if (rateLift || revenueLift) result.lift = { ...(rateLift ? { conversionRate: rateLift } : {}), ...(revenueLift ? { revenuePerPerson: revenueLift } : {}) };
        const floor = input.floors?.get(floorKey(v.variant, metric));
        result.pValue = input.floorsFinal ? finalPValues(floor, own.revenue !== undefined && base.revenue !== undefined) : pValuesAt(v, controlTotals, metric, input.effectSize, floor);
      }
      results[metric] = result;
    }
    return { variant: v.variant, exposures: v.exposures, metrics: results };
  });

  // compared among the buckets reported, so leaving the holdout out of `totals` does not look like a mismatch
  const shares = input.expectedShares instanceof Map ? input.expectedShares : new Map(Object.entries(input.expectedShares));
  const observed = new Map(input.totals.map((t) => [t.variant, t.exposures]));
  const expected = new Map(input.totals.map((t) => [t.variant, shares.get(t.variant) ?? 0]));
  return { control, variants, sampleRatio: sampleRatioMismatch(observed, expected) };
}
