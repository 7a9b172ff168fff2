/**
 * Experiments: which variants split a placement's traffic, in what proportions, measured on which
 * events. Declared once with TypeBox (validation, types and docs), with the rules a schema cannot say
 * (distinct ids, a positive total weight, the reserved "holdout" name) checked after it.
 */
import { isDeepStrictEqual } from 'node:util';
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

/**
 * The recommendation generators a variant's `blend` may weigh: the names of the Recommender's
 * candidate generators (src/recommend/recommender.ts), as the config file's `recommend.placements`
 * name them.
 */
export const BLEND_GENERATORS = ['in-session', 'session-knn', 'covisit', 'collaborative', 'content', 'trending', 'popular', 'new'] as const;

/** the largest weight of one generator in a variant's blend (sums of weights must stay finite) */
export const MAX_BLEND_WEIGHT = 1_000_000;

/**
 * What a variant serves, exactly as serving reads it: `personalized` and `placement` or `blend` by
 * /v1/recommendations (src/recommend/serving/serve.ts), `policy` by /v1/decide
 * (src/decide/serving/extension.ts). Anything else would be stored and silently ignored, so it is
 * refused.
 */
export const VariantConfigSchema = Type.Object(
  {
    personalized: Type.Optional(Type.Boolean({ description: 'false: non-personalized recommendations, as the holdout gets' })),
    placement: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: "serve with this placement's configured blend (unknown placements use `default`)" })),
    blend: Type.Optional(
      Type.Object(Object.fromEntries(BLEND_GENERATORS.map((g) => [g, Type.Optional(Type.Number({ minimum: 0, maximum: MAX_BLEND_WEIGHT }))])), {
        additionalProperties: false,
        minProperties: 1,
        description: 'generator → weight (0–1,000,000, at least one positive), served instead of the placement blend',
      }),
    ),
    policy: Type.Optional(stringEnum(['uniform'] as const, '/v1/decide: choose uniformly among eligible actions instead of the bandit')),
  },
  { additionalProperties: false, description: 'what this variant serves; {} serves as without the experiment' },
);
export type VariantConfig = Static<typeof VariantConfigSchema>;

export const VariantSchema = Type.Object(
  {
    id: Name,
    weight: Type.Number({ minimum: 0, maximum: 1_000_000, description: 'relative share of the non-holdout traffic (0–1,000,000)' }),
    config: VariantConfigSchema,
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

/**
 * A name that cannot be a key of the results: metrics are reported in a JSON object keyed by event
 * name, and a `__proto__` key is what safe JSON parsers (Kairos' own, secure-json-parse) refuse as
 * prototype poisoning, so such an answer would be unreadable to careful clients. Other names that
 * shadow Object.prototype (`constructor`, `toString`) are fine: results are built on null-prototype
 * objects and Maps.
 */
export const RESERVED_NAME = '__proto__';
const reservedMessage = `'${RESERVED_NAME}' cannot name a variant, metric or property`;

/**
 * Validates an experiment written through the API. `stored`: the experiment as it is now, whose
 * variant configs are taken as they are when a write repeats them unchanged (same variant id, equal
 * config): configs stored before variant configs were validated (free-form then) must not stop the
 * GET, edit, PUT round trip, to stop an experiment say.
 */
export function validateExperiment(input: unknown, stored?: Experiment): ExperimentValidation {
  const kept = stored ? keptConfigs(input, stored) : new Map<number, unknown>();
  const checked = kept.size === 0 ? input : { ...(input as object), variants: (input as { variants: unknown[] }).variants.map((v, i) => (kept.has(i) ? { ...(v as object), config: {} } : v)) };
  if (!checkExperimentSchema(checked)) return { ok: false, details: schemaDetails(checkExperimentSchema.errors) };
  const experiment = checked;
  const details: ErrorDetail[] = [];
  const seen = new Set<string>();
  experiment.variants.forEach((v, i) => {
    if (v.id === HOLDOUT_VARIANT) details.push({ field: `/variants/${i}/id`, message: `'${HOLDOUT_VARIANT}' is reserved for the global holdout` });
    else if (v.id === RESERVED_NAME) details.push({ field: `/variants/${i}/id`, message: reservedMessage });
    else if (seen.has(v.id)) details.push({ field: `/variants/${i}/id`, message: `duplicate variant id '${v.id}'` });
    seen.add(v.id);
    const { blend, placement } = v.config;
    if (blend !== undefined && !Object.values(blend).some((w) => w !== undefined && w > 0)) details.push({ field: `/variants/${i}/config/blend`, message: 'needs a generator with a positive weight' });
    if (blend !== undefined && placement !== undefined) details.push({ field: `/variants/${i}/config/placement`, message: "a variant serves either a blend or a placement's blend, not both" });
  });
  if (experiment.variants.every((v) => v.weight === 0)) details.push({ field: '/variants', message: 'at least one variant needs a positive weight' });
  const events = new Set<string>();
  experiment.metrics.forEach((m, i) => {
    const event = metricEvent(m);
    if (event === RESERVED_NAME) details.push({ field: typeof m === 'string' ? `/metrics/${i}` : `/metrics/${i}/event`, message: reservedMessage });
    else if (events.has(event)) details.push({ field: `/metrics/${i}`, message: `event '${event}' is measured twice` });
    if (typeof m !== 'string' && m.revenueProperty === RESERVED_NAME) details.push({ field: `/metrics/${i}/revenueProperty`, message: reservedMessage });
    events.add(event);
  });
  if (details.length > 0) return { ok: false, details };
  for (const [i, config] of kept) experiment.variants[i]!.config = config as VariantConfig;
  return { ok: true, experiment };
}

/** indices of the input's variants that repeat a stored variant's config unchanged, with that config */
function keptConfigs(input: unknown, stored: Experiment): Map<number, unknown> {
  const kept = new Map<number, unknown>();
  const variants = (input as { variants?: unknown } | null)?.variants;
  if (!Array.isArray(variants)) return kept;
  variants.forEach((v, i) => {
    const id = (v as { id?: unknown } | null)?.id;
    const before = stored.variants.find((s) => s.id === id);
    if (before && isDeepStrictEqual((v as { config?: unknown }).config, before.config)) kept.set(i, before.config);
  });
  return kept;
}
