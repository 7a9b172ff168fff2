/**
 * Segment events: the wire schema (declared once with TypeBox, compiled by Ajv), the semantic rules
 * Segment's spec adds on top, and the normalised form Kairos stores.
 */
import { Type, type Static } from '@sinclair/typebox';
import { randomUUID } from 'node:crypto';
import type { ErrorDetail } from '../errors.ts';
import { MAX_TIME_MS, parseIsoTime } from '../iso-time.ts';
import { WELL_FORMED_PATTERN } from '../safe-json.ts';
import { ajv } from '../validation.ts';

export const EVENT_TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Segment's per-event limit. */
export const MAX_EVENT_BYTES = 32 * 1024;
/** Segment's per-request limit, after decompression. */
export const MAX_REQUEST_BYTES = 500 * 1024;
/** A batch-level context is merged into every event of the batch. */
export const MAX_BATCH_CONTEXT_BYTES = 8 * 1024;
/** Deeper objects are refused: no legitimate event nests this far, and deep input is a DoS vector. */
export const MAX_DEPTH = 32;
/** Person ids (userId, anonymousId, previousId, groupId) have at most this many characters, in events and in every API that takes one. */
export const MAX_ID_LENGTH = 512;
/** messageIds have at most this many characters */
export const MAX_MESSAGE_ID_LENGTH = 256;

/** a person id in a request body or URL: 1–512 UTF-16 units, no lone surrogate */
export const PersonIdSchema = Type.String({ minLength: 1, maxLength: MAX_ID_LENGTH, pattern: WELL_FORMED_PATTERN });
const Id = Type.Union([Type.String({ minLength: 1, maxLength: MAX_ID_LENGTH }), Type.Number()]);
const Obj = Type.Object({}, { additionalProperties: true });
const Time = Type.String({ minLength: 1, maxLength: 64 });

export const WireEventSchema = Type.Object(
  {
    type: Type.Optional(Type.String()),
    userId: Type.Optional(Type.Union([Id, Type.Null()])),
    anonymousId: Type.Optional(Type.Union([Id, Type.Null()])),
    previousId: Type.Optional(Id),
    groupId: Type.Optional(Id),
    event: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    name: Type.Optional(Type.Union([Type.String({ maxLength: 1024 }), Type.Null()])),
    category: Type.Optional(Type.Union([Type.String({ maxLength: 1024 }), Type.Null()])),
    properties: Type.Optional(Obj),
    traits: Type.Optional(Obj),
    context: Type.Optional(Obj),
    integrations: Type.Optional(Obj),
    timestamp: Type.Optional(Time),
    originalTimestamp: Type.Optional(Time),
    sentAt: Type.Optional(Time),
    messageId: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_MESSAGE_ID_LENGTH })),
    writeKey: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);
export type WireEvent = Static<typeof WireEventSchema>;

export const WireBatchSchema = Type.Object(
  {
    batch: Type.Array(Type.Unknown(), { maxItems: 5000 }),
    context: Type.Optional(Obj),
    integrations: Type.Optional(Obj),
    writeKey: Type.Optional(Type.String()),
    sentAt: Type.Optional(Time),
  },
  { additionalProperties: true },
);

const checkWireEvent = ajv.compile<WireEvent>(WireEventSchema);
const checkWireBatch = ajv.compile(WireBatchSchema);

export interface StoredEvent {
  messageId: string;
  type: EventType;
  userId?: string;
  anonymousId?: string;
  previousId?: string;
  groupId?: string;
  event?: string;
  name?: string;
  category?: string;
  properties?: Record<string, unknown>;
  traits?: Record<string, unknown>;
  context?: Record<string, unknown>;
  /** event time (ms since epoch) after clock-skew correction; features order by it */
  timestamp: number;
  /** server time of receipt (ms since epoch) */
  receivedAt: number;
}

const idString = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;

function parseTime(v: string | undefined): number | undefined | null {
  if (v === undefined) return undefined;
  const t = parseIsoTime(v);
  return Number.isFinite(t) ? t : null;
}

/** Depth of nested objects/arrays, computed without recursion so hostile input cannot blow the stack. */
export function exceedsDepth(value: unknown, max: number): boolean {
  // two parallel stacks rather than a [value, depth] pair per value: this runs on every event
  const values: unknown[] = [value];
  const depths: number[] = [0];
  while (values.length > 0) {
    const v = values.pop();
    const d = depths.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (d >= max) return true;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const child: unknown = v[i];
        if (typeof child === 'object' && child !== null) {
          values.push(child);
          depths.push(d + 1);
        }
      }
    } else {
      for (const k in v) {
        if (!Object.hasOwn(v, k)) continue;
        const child = (v as Record<string, unknown>)[k];
        if (typeof child === 'object' && child !== null) {
          values.push(child);
          depths.push(d + 1);
        }
      }
    }
  }
  return false;
}

export interface NormaliseInput {
  raw: unknown;
  /** true when the bytes the event arrived in are known to be under the limit (no need to measure) */
  smallEnough?: boolean;
  /** true when the event is known to nest at most MAX_DEPTH levels (no need to walk it) */
  shallowEnough?: boolean;
  /** type implied by the endpoint (single-event endpoints) */
  impliedType?: EventType;
  /** batch-level defaults */
  batchContext?: Record<string, unknown>;
  batchSentAt?: string;
  receivedAt: number;
  index?: number;
}

export type NormaliseResult = { ok: true; event: StoredEvent } | { ok: false; details: ErrorDetail[]; tooLarge?: boolean };

function ajvDetails(errors: typeof checkWireEvent.errors, index: number | undefined): ErrorDetail[] {
  return (errors ?? []).map((e) => ({
    ...(index !== undefined ? { index } : {}),
    field: e.instancePath || (e.params && 'missingProperty' in e.params ? `/${String(e.params.missingProperty)}` : '/'),
    message: e.message ?? 'invalid',
  }));
}

function detailAt(index: number | undefined, field: string, message: string): ErrorDetail {
  return index !== undefined ? { index, field, message } : { field, message };
}

function checkId(details: ErrorDetail[], index: number | undefined, field: string, v: string | undefined, max = MAX_ID_LENGTH): void {
  if (v !== undefined && (v.length === 0 || v.length > max || v.includes('\u0000') || !v.isWellFormed())) {
    details.push(detailAt(index, `/${field}`, `${field} must be 1–${max} characters without NUL or half a surrogate pair`));
  }
}

/** Validates one wire event and turns it into the stored form; never throws on bad input. */
export function normaliseEvent(input: NormaliseInput): NormaliseResult {
  const { raw, index } = input;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, details: [detailAt(index, '/', 'event must be a JSON object')] };
  // depth first: serialising hostile nesting to measure it would overflow the stack
  if (!input.shallowEnough && exceedsDepth(raw, MAX_DEPTH)) return { ok: false, details: [detailAt(index, '/', `event nests deeper than ${MAX_DEPTH} levels`)] };
  if (!input.smallEnough && Buffer.byteLength(JSON.stringify(raw)) > MAX_EVENT_BYTES) {
    return { ok: false, tooLarge: true, details: [detailAt(index, '/', `event is larger than ${MAX_EVENT_BYTES} bytes`)] };
  }
  if (!checkWireEvent(raw)) return { ok: false, details: ajvDetails(checkWireEvent.errors, index) };
  const w = raw;
  const details: ErrorDetail[] = [];
  const type = (input.impliedType ?? w.type) as EventType | undefined;
  if (type === undefined) details.push(detailAt(index, '/type', 'type is required'));
  else if (!EVENT_TYPES.includes(type)) details.push(detailAt(index, '/type', `type must be one of ${EVENT_TYPES.join(', ')}`));
  const userId = idString(w.userId);
  const anonymousId = idString(w.anonymousId);
  const previousId = idString(w.previousId);
  const groupId = idString(w.groupId);
  checkId(details, index, 'userId', userId);
  checkId(details, index, 'anonymousId', anonymousId);
  checkId(details, index, 'previousId', previousId);
  checkId(details, index, 'groupId', groupId);
  checkId(details, index, 'messageId', w.messageId, MAX_MESSAGE_ID_LENGTH);
  if (type === 'alias') {
    if (userId === undefined) details.push(detailAt(index, '/userId', 'alias requires userId'));
    if (previousId === undefined) details.push(detailAt(index, '/previousId', 'alias requires previousId'));
  } else if (userId === undefined && anonymousId === undefined) {
    details.push(detailAt(index, '/userId', 'userId or anonymousId is required'));
  }
  if (type === 'track' && w.event === undefined) details.push(detailAt(index, '/event', 'track requires event'));
  if (type === 'group' && groupId === undefined) details.push(detailAt(index, '/groupId', 'group requires groupId'));
  const timestamp = parseTime(w.timestamp);
  const original = parseTime(w.originalTimestamp);
  const sentAt = parseTime(w.sentAt ?? input.batchSentAt);
  if (timestamp === null) details.push(detailAt(index, '/timestamp', 'timestamp must be an ISO-8601 date'));
  if (original === null) details.push(detailAt(index, '/originalTimestamp', 'originalTimestamp must be an ISO-8601 date'));
  if (sentAt === null) details.push(detailAt(index, '/sentAt', 'sentAt must be an ISO-8601 date'));
  if (details.length > 0) return { ok: false, details };

  let time = input.receivedAt;
  // a sentAt after the receipt shows a client clock ahead by that much (latency cannot): its events
  // move back by it, which keeps their order
  if (typeof timestamp === 'number') time = typeof sentAt === 'number' && sentAt > input.receivedAt ? timestamp - (sentAt - input.receivedAt) : timestamp;
  else if (typeof original === 'number' && typeof sentAt === 'number') time = input.receivedAt - (sentAt - original);
  // two far-apart times can correct to a time no date holds
  if (!(Math.abs(time) <= MAX_TIME_MS)) return { ok: false, details: [detailAt(index, '/sentAt', 'the time corrected by sentAt falls outside the dates a time can hold')] };
  // no event happened after it was received: a time ahead of the receipt (a clock running ahead) is
  // the receipt's. Otherwise it would outweigh real events in time-decayed models, and a consent
  // preference dated ahead would outrank the person's real ones, or let events sent while opted out
  // count once they opt back in
  if (time > input.receivedAt) time = input.receivedAt;

  const context = input.batchContext || w.context ? { ...(input.batchContext ?? {}), ...(w.context ?? {}) } : undefined;
  // field by field, in this order (spreading one-field objects allocates each of them, for every event)
  const event: StoredEvent = { messageId: w.messageId ?? `kairos-${randomUUID()}`, type: type as EventType, timestamp: time, receivedAt: input.receivedAt };
  if (userId !== undefined) event.userId = userId;
  if (anonymousId !== undefined) event.anonymousId = anonymousId;
  if (previousId !== undefined) event.previousId = previousId;
  if (groupId !== undefined) event.groupId = groupId;
  if (w.event !== undefined) event.event = w.event;
  if (typeof w.name === 'string') event.name = w.name;
  if (typeof w.category === 'string') event.category = w.category;
  if (w.properties) event.properties = w.properties;
  if (w.traits) event.traits = w.traits;
  if (context) event.context = context;
  return { ok: true, event };
}

export interface WireBatch {
  batch: unknown[];
  context?: Record<string, unknown>;
  sentAt?: string;
}

export function checkBatch(body: unknown): { ok: true; batch: WireBatch } | { ok: false; details: ErrorDetail[]; tooLarge?: boolean } {
  if (!checkWireBatch(body)) return { ok: false, details: ajvDetails(checkWireBatch.errors, undefined) };
  // the batch context becomes part of every event: it obeys the events' nesting limit (checked once here)
  const context = (body as WireBatch).context;
  if (context && exceedsDepth(context, MAX_DEPTH - 1)) return { ok: false, details: [{ field: '/context', message: `the batch context nests deeper than ${MAX_DEPTH} levels` }] };
  // …and, copied into each event, it must not multiply a request's size by its number of events
  if (context && Buffer.byteLength(JSON.stringify(context)) > MAX_BATCH_CONTEXT_BYTES) {
    return { ok: false, tooLarge: true, details: [{ field: '/context', message: `the batch context is larger than ${MAX_BATCH_CONTEXT_BYTES} bytes` }] };
  }
  return { ok: true, batch: body as WireBatch };
}

/** The ids an event names, in the order that decides where it is stored (userId first). */
export function idsOf(e: StoredEvent): string[] {
  // array literals of the exact size (an empty array grown by push reserves 17 slots): this runs
  // several times for every ingested event
  const user = e.userId;
  const anonymous = e.anonymousId !== undefined && e.anonymousId !== user ? e.anonymousId : undefined;
  const previous = e.previousId !== undefined && e.previousId !== user && e.previousId !== e.anonymousId ? e.previousId : undefined;
  if (user !== undefined) {
    if (anonymous === undefined) return previous === undefined ? [user] : [user, previous];
    return previous === undefined ? [user, anonymous] : [user, anonymous, previous];
  }
  if (anonymous === undefined) return previous === undefined ? [] : [previous];
  return previous === undefined ? [anonymous] : [anonymous, previous];
}

/** `context.consent.categoryPreferences.Personalization`, when the event states it. */
export function personalizationPreference(e: Pick<StoredEvent, 'context'>): boolean | undefined {
  const consent = e.context?.consent;
  if (typeof consent !== 'object' || consent === null) return undefined;
  const prefs = (consent as Record<string, unknown>).categoryPreferences;
  if (typeof prefs !== 'object' || prefs === null) return undefined;
  const v = (prefs as Record<string, unknown>).Personalization;
  return typeof v === 'boolean' ? v : undefined;
}
