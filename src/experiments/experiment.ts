/**
 * Experiments: which variants split a placement's traffic, in what proportions, measured on which
 * events. Declared once with TypeBox (validation, types and docs), with the rules a schema cannot say
 * (distinct ids, a positive total weight, the reserved "holdout" name) checked after it.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { ErrorDetail } from '../errors.ts';
import { schemaDetails, stringEnum } from '../decide/schema-details.ts';
import { ajv } from '../validation.ts';

export const EXPERIMENT_STATUSES = ['draft', 'running', 'stopped'] as const;
export type ExperimentStatus = (typeof EXPERIMENT_STATUSES)[number];

/** The variant name of people in the global holdout; no variant may take it. */
export const HOLDOUT_VARIANT = 'holdout';
export const DEFAULT_HOLDOUT_PERCENT = 5;

const Name = Type.String({ minLength: 1, maxLength: 128 });

export const VariantSchema = Type.Object(
  {
    id: Name,
    weight: Type.Number({ minimum: 0, maximum: 1_000_000, description: 'relative share of the non-holdout traffic (0–1,000,000)' }),
    config: Type.Object({}, { additionalProperties: true, description: 'strategy, blend or action policy this variant serves' }),
  },
  { additionalProperties: false },
);
export type Variant = Static<typeof VariantSchema>;

export const MetricSchema = Type.Union([
  Type.String({ minLength: 1, maxLength: 256, description: 'an event name; a person converts by sending it once' }),
  Type.Object(
    { event: Type.String({ minLength: 1, maxLength: 256 }), revenueProperty: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })) },
    { additionalProperties: false },
  ),
]);
export type Metric = Static<typeof MetricSchema>;

export const ExperimentSchema = Type.Object(
  {
    placement: Name,
    variants: Type.Array(VariantSchema, { minItems: 1, maxItems: 20, description: 'the first variant is the control' }),
    holdoutPercent: Type.Optional(Type.Number({ minimum: 0, exclusiveMaximum: 100, description: 'global holdout share, default 5' })),
    metrics: Type.Array(MetricSchema, { minItems: 1, maxItems: 20 }),
    status: stringEnum(EXPERIMENT_STATUSES),
    seed: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'hash seed of assignment, default the experiment id' })),
  },
  { additionalProperties: false },
);
export type Experiment = Static<typeof ExperimentSchema>;

const checkExperimentSchema = ajv.compile<Experiment>(ExperimentSchema);

export type ExperimentValidation = { ok: true; experiment: Experiment } | { ok: false; details: ErrorDetail[] };

/** The event a metric counts. */
export const metricEvent = (m: Metric): string => (typeof m === 'string' ? m : m.event);

export function validateExperiment(input: unknown): ExperimentValidation {
  if (!checkExperimentSchema(input)) return { ok: false, details: schemaDetails(checkExperimentSchema.errors) };
  const experiment = input;
  const details: ErrorDetail[] = [];
  const seen = new Set<string>();
  experiment.variants.forEach((v, i) => {
    if (v.id === HOLDOUT_VARIANT) details.push({ field: `/variants/${i}/id`, message: `'${HOLDOUT_VARIANT}' is reserved for the global holdout` });
    else if (seen.has(v.id)) details.push({ field: `/variants/${i}/id`, message: `duplicate variant id '${v.id}'` });
    seen.add(v.id);
  });
  if (experiment.variants.every((v) => v.weight === 0)) details.push({ field: '/variants', message: 'at least one variant needs a positive weight' });
  const events = new Set<string>();
  experiment.metrics.forEach((m, i) => {
    const event = metricEvent(m);
    if (events.has(event)) details.push({ field: `/metrics/${i}`, message: `event '${event}' is measured twice` });
    events.add(event);
  });
  return details.length === 0 ? { ok: true, experiment } : { ok: false, details };
}
