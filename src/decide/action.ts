/**
 * Actions: the offers, messages and banners `/v1/decide` chooses between. The schema is declared once
 * (TypeBox → Ajv) and the rules a schema cannot express (dates, the eligibility language, content size)
 * are checked after it, so a client gets every problem of a body in one answer.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { ErrorDetail } from '../errors.ts';
import { exceedsDepth } from '../ingest/event.ts';
import { parseIsoTime } from '../iso-time.ts';
import { ajv } from '../validation.ts';
import { validateCondition, type Condition } from './conditions.ts';
import { schemaDetails, stringEnum } from './schema-details.ts';

export const CHANNELS = ['web', 'in_app', 'email', 'push', 'sms'] as const;
export type Channel = (typeof CHANNELS)[number];

export const CAP_SCOPES = ['action', 'channel', 'all'] as const;
export type CapScope = (typeof CAP_SCOPES)[number];

export const MAX_CONTENT_BYTES = 16 * 1024;
const MAX_CONTENT_DEPTH = 16;
/** A cap longer than a year is a permanent block in disguise; exposure logs are pruned past it. */
export const MAX_CAP_PERIOD_SECONDS = 366 * 86_400;

const Name = Type.String({ minLength: 1, maxLength: 128 });
/** Date-only (midnight UTC) or date-time with an explicit zone: a zone-less time would depend on the server's. */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/;

export const FrequencyCapSchema = Type.Object(
  {
    count: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'servings allowed per period' }),
    periodSeconds: Type.Integer({ minimum: 1, maximum: MAX_CAP_PERIOD_SECONDS }),
    scope: stringEnum(CAP_SCOPES, 'which servings count: this action, any action of its channel, or any action'),
  },
  { additionalProperties: false },
);
export type FrequencyCap = Static<typeof FrequencyCapSchema>;

export const ActionSchema = Type.Object(
  {
    placements: Type.Array(Name, { minItems: 1, maxItems: 64, uniqueItems: true }),
    channel: stringEnum(CHANNELS),
    content: Type.Object({}, { additionalProperties: true, description: 'returned as given to the caller' }),
    eligibility: Type.Optional(
      Type.Unsafe<Condition>({ type: 'object', description: 'a condition (see src/decide/conditions.ts)' }),
    ),
    frequencyCaps: Type.Optional(Type.Array(FrequencyCapSchema, { maxItems: 16 })),
    value: Type.Optional(Type.Number({ minimum: 0, description: 'business value of a success; ranks by expected reward × value (default 1)' })),
    validFrom: Type.Optional(Type.String({ maxLength: 40 })),
    validUntil: Type.Optional(Type.String({ maxLength: 40 })),
    exclusiveGroup: Type.Optional(Name),
  },
  { additionalProperties: false },
);
export type Action = Static<typeof ActionSchema>;

/** An action together with the id it is stored under (the id lives in the URL, not the body). */
export type ActionRecord = Action & { actionId: string };

const checkActionSchema = ajv.compile<Action>(ActionSchema);

export type ActionValidation = { ok: true; action: Action } | { ok: false; details: ErrorDetail[] };

/**
 * The instant a validity bound names: the shape above (a zone is required with a time), read by the
 * project's strict parser, so a day or hour that does not exist (2026-02-30, T24:00) is refused
 * rather than rolled over as `Date.parse` would.
 */
function instant(s: string | undefined): number | undefined | null {
  if (s === undefined) return undefined;
  if (!ISO_INSTANT.test(s)) return null;
  const t = parseIsoTime(s);
  return Number.isFinite(t) ? t : null;
}

/** a stored bound as ms; one written by an earlier version that the strict parser refuses is read as it was then */
const bound = (s: string): number => {
  const t = parseIsoTime(s);
  return Number.isFinite(t) ? t : Date.parse(s);
};

/** Validates an action body; every problem is reported with the JSON pointer of its field. */
export function validateAction(input: unknown): ActionValidation {
  if (!checkActionSchema(input)) return { ok: false, details: schemaDetails(checkActionSchema.errors) };
  const action = input;
  const details: ErrorDetail[] = [];
  const from = instant(action.validFrom);
  const until = instant(action.validUntil);
  const dateMessage = 'must be an ISO-8601 date (YYYY-MM-DD) or date-time with a zone (…T10:00:00Z)';
  if (from === null) details.push({ field: '/validFrom', message: dateMessage });
  if (until === null) details.push({ field: '/validUntil', message: dateMessage });
  if (typeof from === 'number' && typeof until === 'number' && until <= from) {
    details.push({ field: '/validUntil', message: 'must be later than validFrom' });
  }
  if (exceedsDepth(action.content, MAX_CONTENT_DEPTH)) {
    details.push({ field: '/content', message: `must not nest deeper than ${MAX_CONTENT_DEPTH} levels` });
  } else if (Buffer.byteLength(JSON.stringify(action.content)) > MAX_CONTENT_BYTES) {
    details.push({ field: '/content', message: `must be at most ${MAX_CONTENT_BYTES} bytes as JSON` });
  }
  if (action.eligibility !== undefined) {
    const verdict = validateCondition(action.eligibility);
    if (!verdict.ok) for (const e of verdict.errors) details.push({ field: `/eligibility${e.path}`, message: e.message });
  }
  return details.length === 0 ? { ok: true, action } : { ok: false, details };
}

/** Whether `now` (ms since epoch) lies in [validFrom, validUntil). */
export function isLive(action: Pick<Action, 'validFrom' | 'validUntil'>, now: number): boolean {
  const from = action.validFrom === undefined ? -Infinity : bound(action.validFrom);
  const until = action.validUntil === undefined ? Infinity : bound(action.validUntil);
  return from <= now && now < until;
}
