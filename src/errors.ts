/**
 * The one catalogue of Kairos errors. Every error a client can see has a code here; docs/errors.md
 * lists the same table (a test keeps them in agreement).
 */
export const ERRORS = {
  KAIROS_ERR_AUTH: { status: 401, message: 'missing or invalid credentials' },
  KAIROS_ERR_FORBIDDEN: { status: 403, message: 'the key lacks the scope this endpoint needs' },
  KAIROS_ERR_BAD_REQUEST: { status: 400, message: 'the request is not valid HTTP' },
  KAIROS_ERR_BAD_JSON: { status: 400, message: 'the body is not valid JSON (or not valid gzip)' },
  KAIROS_ERR_VALIDATION: { status: 400, message: 'the request failed validation' },
  KAIROS_ERR_TOO_LARGE: { status: 413, message: 'the request or one of its events is too large' },
  KAIROS_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'unsupported content encoding' },
  KAIROS_ERR_NOT_FOUND: { status: 404, message: 'not found' },
  KAIROS_ERR_METHOD_NOT_ALLOWED: { status: 405, message: 'method not allowed on this route' },
  KAIROS_ERR_TIMEOUT: { status: 408, message: 'the request did not arrive in time' },
  KAIROS_ERR_CONFLICT: { status: 409, message: 'the request conflicts with the current state' },
  KAIROS_ERR_HEADERS_TOO_LARGE: { status: 431, message: 'the request headers are too large' },
  KAIROS_ERR_RATE_LIMITED: { status: 429, message: 'too many requests for this key' },
  KAIROS_ERR_PRIVACY_BUDGET: { status: 429, message: 'the workspace\'s privacy budget for aggregates is spent for now' },
  KAIROS_ERR_NOT_READY: { status: 503, message: 'the server is starting or shutting down' },
  KAIROS_ERR_INTERNAL: { status: 500, message: 'internal error' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export interface ErrorDetail {
  /** index of the offending event in a batch, when the request carries several */
  index?: number;
  /** JSON pointer of the offending field within the event or body */
  field: string;
  message: string;
}

export class KairosError extends Error {
  readonly status: number;
  /** seconds a client should wait before retrying (429) */
  retryAfter?: number;

  constructor(
    readonly code: ErrorCode,
    message: string = ERRORS[code].message,
    readonly details?: ErrorDetail[],
  ) {
    super(message);
    this.name = 'KairosError';
    this.status = ERRORS[code].status;
  }

  toJSON(): { error: { code: ErrorCode; message: string; details?: ErrorDetail[] } } {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

export const isKairosError = (e: unknown): e is KairosError => e instanceof KairosError;
