/**
 * One delivery attempt: POST the payload to the webhook, signed, with its idempotency key, and
 * classify the answer. 2xx delivers; 408, 429 and 5xx (and network errors, timeouts) are retried,
 * after `Retry-After` when the receiver sends one; every other status is a permanent refusal.
 * Redirects are not followed: a webhook URL that moved must be updated, not guessed. Internal
 * addresses are refused (address-guard.ts) unless the instance allows them.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Channel } from '../action.ts';
import { guardedLookup, INTERNAL_ADDRESS_CODE, isInternalAddress } from './address-guard.ts';
import type { DecidedAction } from '../decision.ts';
import { SIGNATURE_HEADER, signatureHeader } from './signature.ts';

/** The JSON body a webhook receives. */
export interface DeliveryPayload {
  idempotencyKey: string;
  triggerId: string;
  decisionId: string;
  placement: string;
  channel: Channel;
  person: { userId: string | null; anonymousId: string | null };
  actions: DecidedAction[];
  /** when the decision was made (ISO 8601) */
  firedAt: string;
}

export type AttemptOutcome =
  | { kind: 'delivered'; status: number }
  | { kind: 'retry'; status?: number; message: string; retryAfterMs?: number }
  /** a permanent refusal: by the receiver (its status), or before sending (an internal address) */
  | { kind: 'rejected'; status?: number; message: string }
  /** the attempt was abandoned (shutdown): it does not count */
  | { kind: 'aborted' };

/** A `Retry-After` longer than this is taken as this: the delivery stays inside its retry budget. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/** `Retry-After` as delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const value = header.trim();
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS) : undefined;
}

const retryable = (status: number): boolean => status === 408 || status === 429 || status >= 500;

export interface AttemptRequest {
  url: string;
  secret: string;
  idempotencyKey: string;
  body: string;
  now: number;
  timeoutMs: number;
  /** aborted on shutdown */
  signal: AbortSignal;
  /** deliver to loopback, private and link-local addresses too (KAIROS_WEBHOOK_ALLOW_INTERNAL) */
  allowInternalAddresses: boolean;
}

interface Answer {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
}

/** one POST; resolves with the answer's head (its body is discarded) */
function post(url: URL, headers: Record<string, string>, body: string, signal: AbortSignal, guarded: boolean): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, signal, ...(guarded ? { lookup: guardedLookup } : {}) }, (res) => {
      // the answer's body is of no use: drain it so the connection can be reused
      res.resume();
      resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: res.headers });
    });
    req.once('error', reject);
    req.end(body);
  });
}

export async function attemptDelivery(a: AttemptRequest): Promise<AttemptOutcome> {
  const url = new URL(a.url);
  // an address in the URL is not looked up, so it is checked here; a name is checked as it resolves
  if (!a.allowInternalAddresses && isInternalAddress(url.hostname)) {
    return { kind: 'rejected', message: `not sent: ${url.hostname} is an internal address` };
  }
  const timeout = AbortSignal.timeout(a.timeoutMs);
  let res: Answer;
  try {
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'kairos-webhooks/1',
      'idempotency-key': a.idempotencyKey,
      [SIGNATURE_HEADER]: signatureHeader(a.secret, a.body, Math.floor(a.now / 1000)),
    };
    res = await post(url, headers, a.body, AbortSignal.any([a.signal, timeout]), !a.allowInternalAddresses);
  } catch (e) {
    if (a.signal.aborted) return { kind: 'aborted' };
    if (timeout.aborted) return { kind: 'retry', message: `network error: no answer within ${a.timeoutMs} ms` };
    const err = e as Error & { code?: string };
    if (err.code === INTERNAL_ADDRESS_CODE) return { kind: 'rejected', message: `not sent: ${err.message}` };
    return { kind: 'retry', message: `network error: ${err.code ?? err.message}` };
  }
  if (res.status >= 200 && res.status < 300) return { kind: 'delivered', status: res.status };
  const message = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
  if (!retryable(res.status)) return { kind: 'rejected', status: res.status, message };
  const retryAfter = res.headers['retry-after'];
  const after = retryAfterMs(typeof retryAfter === 'string' ? retryAfter : null, a.now);
  return { kind: 'retry', status: res.status, message, ...(after !== undefined ? { retryAfterMs: after } : {}) };
}

/** Cap of one backoff step, whatever the attempt count and base. */
export const MAX_BACKOFF_MS = 3_600_000;

/**
 * The wait before the next attempt after `attempts` failed ones: base × 2^(attempts−1), capped at an
 * hour, jittered uniformly over its upper half so that receivers recovering from an outage are not
 * hit by every sender at once, yet never retried sooner than half the step.
 */
export function backoffMs(attempts: number, backoffSeconds: number, random: () => number = Math.random): number {
  const step = Math.min(backoffSeconds * 1000 * 2 ** Math.max(0, attempts - 1), MAX_BACKOFF_MS);
  return step / 2 + random() * (step / 2);
}
