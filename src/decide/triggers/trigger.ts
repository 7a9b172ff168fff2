/**
 * Triggers: rules on the event stream that run a decision for a person and deliver it to a webhook.
 * The body schema is declared once (TypeBox → Ajv); what a schema cannot express (exactly one kind of
 * `when`, the condition language, the URL, window arithmetic) is checked after it, so a client gets
 * every problem of a body in one answer.
 */
import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { ErrorDetail } from '../../errors.ts';
import { ajv } from '../../validation.ts';
import { CHANNELS, type Channel } from '../action.ts';
import { validateCondition, type Condition } from '../conditions.ts';
import { schemaDetails, stringEnum } from '../schema-details.ts';
import { internalHostProblem } from './address-guard.ts';

/** Trigger ids appear in store keys after a `/`: they may not hold one. */
export const TRIGGER_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:~-]{0,127}$';
export const MAX_WINDOW_SECONDS = 30 * 86_400;
export const TRIGGER_STATUSES = ['active', 'paused'] as const;
export type TriggerStatus = (typeof TRIGGER_STATUSES)[number];
/** Retry policy of a webhook when the trigger does not set one (backoff.ts has the schedule). */
export const DEFAULT_MAX_ATTEMPTS = 10;
export const DEFAULT_BACKOFF_SECONDS = 30;

const EventName = Type.String({ minLength: 1, maxLength: 256 });
const Window = Type.Integer({ minimum: 1, maximum: MAX_WINDOW_SECONDS });

export const TriggerBodySchema = Type.Object(
  {
    when: Type.Object(
      {
        event: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'a track event name: each such event is an anchor' })),
        condition: Type.Optional(Type.Unsafe<Condition>({ type: 'object', description: 'fires when it turns from false to true for a person' })),
      },
      { additionalProperties: false },
    ),
    unless: Type.Optional(Type.Object({ event: EventName, withinSeconds: Window }, { additionalProperties: false })),
    delaySeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_WINDOW_SECONDS, description: 'wait after the anchor (default: unless.withinSeconds, else 0)' })),
    placement: Type.String({ minLength: 1, maxLength: 128 }),
    channel: stringEnum(CHANNELS),
    webhook: Type.Object(
      {
        url: Type.String({ minLength: 1, maxLength: 2048 }),
        secret: Type.Optional(Type.String({ minLength: 16, maxLength: 256, description: 'HMAC key; may be left out on update to keep the current one' })),
        maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 25 })),
        backoffSeconds: Type.Optional(Type.Number({ minimum: 0.01, maximum: 3600, description: 'first retry delay; doubles per attempt' })),
      },
      { additionalProperties: false },
    ),
    status: Type.Optional(stringEnum(TRIGGER_STATUSES)),
  },
  { additionalProperties: false },
);
export type TriggerBody = Static<typeof TriggerBodySchema>;

export type TriggerWhen = { event: string } | { condition: Condition };

/** A trigger as stored (table `outbox`, key `trigger/<id>`). The secret is needed to sign: it is kept as given. */
export interface TriggerRecord {
  triggerId: string;
  when: TriggerWhen;
  unless?: { event: string; withinSeconds: number };
  delaySeconds: number;
  placement: string;
  channel: Channel;
  webhook: { url: string; secret: string; maxAttempts: number; backoffSeconds: number };
  status: TriggerStatus;
  createdAt: string;
  updatedAt: string;
}

/** What the API shows: the secret only as a fingerprint, so a client can tell which one is set. */
export type PublicTrigger = Omit<TriggerRecord, 'webhook'> & { webhook: Omit<TriggerRecord['webhook'], 'secret'> & { secretFingerprint: string } };

export const secretFingerprint = (secret: string): string => `sha256:${createHash('sha256').update(secret).digest('hex').slice(0, 16)}`;

export function publicTrigger(t: TriggerRecord): PublicTrigger {
  const { secret, ...webhook } = t.webhook;
  return { ...t, webhook: { ...webhook, secretFingerprint: secretFingerprint(secret) } };
}

const checkBody = ajv.compile<TriggerBody>(TriggerBodySchema);

function urlProblem(raw: string, allowInternalAddresses: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute http or https URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must use http or https (got ${url.protocol.slice(0, -1)})`;
  // credentials in the URL would be shown back by GET and logged by proxies: sign with the secret instead
  if (url.username || url.password) return 'must not carry credentials (user:password@)';
  const internal = allowInternalAddresses ? undefined : internalHostProblem(url.hostname);
  if (internal) return `${internal}: webhooks may not reach this machine or its private network unless the instance sets KAIROS_WEBHOOK_ALLOW_INTERNAL=true`;
  return undefined;
}

/** JSON pointers of condition leaves whose path reads `context`: a trigger has no request to take it from. */
function contextPaths(node: unknown, at: string): string[] {
  if (typeof node !== 'object' || node === null) return [];
  const n = node as Record<string, unknown>;
  if (Array.isArray(n.and)) return n.and.flatMap((m, i) => contextPaths(m, `${at}/and/${i}`));
  if (Array.isArray(n.or)) return n.or.flatMap((m, i) => contextPaths(m, `${at}/or/${i}`));
  if ('not' in n) return contextPaths(n.not, `${at}/not`);
  return typeof n.path === 'string' && n.path.split('.')[0] === 'context' ? [`${at}/path`] : [];
}

export type TriggerValidation = { ok: true; trigger: TriggerRecord } | { ok: false; details: ErrorDetail[] };

/**
 * Validates a `PUT /v1/triggers/{id}` body and resolves it against the stored trigger (`existing`):
 * defaults filled in, the secret kept when the body leaves it out.
 */
export function validateTrigger(triggerId: string, input: unknown, existing: TriggerRecord | undefined, now: number, allowInternalAddresses = false): TriggerValidation {
  if (!checkBody(input)) return { ok: false, details: schemaDetails(checkBody.errors) };
  const body = input;
  const details: ErrorDetail[] = [];
  const { event, condition } = body.when;
  if ((event === undefined) === (condition === undefined)) {
    details.push({ field: '/when', message: 'must hold exactly one of event (a track event name) or condition (on traits, features, segments)' });
  }
  if (condition !== undefined) {
    const verdict = validateCondition(condition);
    if (!verdict.ok) for (const e of verdict.errors) details.push({ field: `/when/condition${e.path}`, message: e.message });
    else for (const field of contextPaths(condition, '/when/condition')) details.push({ field, message: 'a trigger has no request context: use traits, features or segments' });
  }
  const within = body.unless?.withinSeconds ?? 0;
  if (body.delaySeconds !== undefined && body.delaySeconds < within) {
    details.push({ field: '/delaySeconds', message: `must be at least unless.withinSeconds (${within}): the trigger can only tell that no "${body.unless!.event}" came once the window is over` });
  }
  const badUrl = urlProblem(body.webhook.url, allowInternalAddresses);
  if (badUrl) details.push({ field: '/webhook/url', message: badUrl });
  const secret = body.webhook.secret ?? existing?.webhook.secret;
  if (secret === undefined) details.push({ field: '/webhook/secret', message: 'is required when creating a trigger (at least 16 characters)' });
  if (details.length > 0 || secret === undefined) return { ok: false, details };
  const at = new Date(now).toISOString();
  return {
    ok: true,
    trigger: {
      triggerId,
      when: event !== undefined ? { event } : { condition: condition! },
      ...(body.unless ? { unless: { event: body.unless.event, withinSeconds: body.unless.withinSeconds } } : {}),
      delaySeconds: body.delaySeconds ?? within,
      placement: body.placement,
      channel: body.channel,
      webhook: {
        url: body.webhook.url,
        secret,
        maxAttempts: body.webhook.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
        backoffSeconds: body.webhook.backoffSeconds ?? DEFAULT_BACKOFF_SECONDS,
      },
      status: body.status ?? 'active',
      createdAt: existing?.createdAt ?? at,
      updatedAt: at,
    },
  };
}

/** Whether two triggers watch for the same thing (a changed condition needs a fresh baseline). */
export const sameWhen = (a: TriggerWhen, b: TriggerWhen): boolean => JSON.stringify(a) === JSON.stringify(b);
