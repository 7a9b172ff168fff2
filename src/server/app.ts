/**
 * The HTTP adapter: Fastify with one body parser for every content type (see body.ts), one error
 * handler that maps everything to the catalogue in errors.ts, per-route latency metrics, and the
 * route modules. Handlers parse, call the engine, and format; nothing else.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ERRORS, KairosError, isKairosError, type ErrorCode } from '../errors.ts';
import type { Engine, Principal } from '../engine/engine.ts';
import type { Scope } from '../auth/keys.ts';
import { MAX_REQUEST_BYTES, exceedsDepth } from '../ingest/event.ts';
import { parseJsonBody } from './body.ts';
import type { ExportSource } from '../privacy/export.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { registerIngestRoutes } from './routes/ingest.ts';
import { registerItemRoutes } from './routes/items.ts';
import { registerProfileRoutes } from './routes/profiles.ts';
import { registerAggregateRoutes } from './routes/aggregates.ts';
import { registerKeyRoutes } from './routes/keys.ts';
import { registerOpsRoutes } from './routes/ops.ts';
import { AJV_OPTIONS } from '../validation.ts';
import { RateLimiter } from '../auth/rate-limit.ts';

/** Non-ingestion bodies (bulk catalog upserts) may be larger than Segment's 500 KB. */
export const MAX_API_BODY_BYTES = 16 * 1024 * 1024;
/**
 * API bodies (actions, experiments, decisions, catalog…) may nest this deep at most: deeper JSON is
 * refused before any handler, serializer or store encoder walks it recursively. Ingestion applies its
 * own per-event limit (CONTRACT §4).
 */
export const MAX_API_BODY_DEPTH = 64;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** decompressed body limit of the route, bytes */
    maxBody?: number;
    /** API scope the route needs: checked on request, before the body is read or validated */
    scope?: Scope;
  }
  interface FastifyRequest {
    /** size of the body after decompression */
    bodyBytes: number;
    /** the API key's principal, on routes that declare a scope */
    principal: Principal | null;
  }
}

export interface AppContext {
  engine: Engine;
  /** per-person records extensions add to exports (impressions, assignments…) */
  exportSources: readonly ExportSource[];
  metrics: Metrics;
  /** false while starting or shutting down: /readyz answers 503 */
  ready: { value: boolean };
}

export type RouteRegistrar = (app: FastifyInstance, ctx: AppContext) => void;

function fastifyErrorToKairos(err: FastifyError): KairosError {
  if (err.validation) {
    const details = err.validation.map((v) => ({
      field: (v.instancePath || (v.params && 'missingProperty' in v.params ? `/${String(v.params.missingProperty)}` : '/')) as string,
      message: v.message ?? 'invalid',
    }));
    return new KairosError('KAIROS_ERR_VALIDATION', err.message, details);
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new KairosError('KAIROS_ERR_TOO_LARGE', 'the request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new KairosError('KAIROS_ERR_BAD_JSON', err.message);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new KairosError('KAIROS_ERR_BAD_JSON', 'the body is empty');
    default:
      if (err.statusCode === 404) return new KairosError('KAIROS_ERR_NOT_FOUND', err.message);
      if (err.statusCode === 413) return new KairosError('KAIROS_ERR_TOO_LARGE', err.message);
      if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return new KairosError('KAIROS_ERR_VALIDATION', err.message);
      return new KairosError('KAIROS_ERR_INTERNAL');
  }
}

export interface AppExtras {
  /** route modules of capabilities beyond the core (recommendations, decisions, experiments) */
  routes?: readonly RouteRegistrar[];
  exportSources?: readonly ExportSource[];
}

export function buildApp(engine: Engine, logger: Logger, extras: AppExtras = {}): { app: FastifyInstance; ctx: AppContext } {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // no per-request log lines: they would carry ids of people who may later be erased
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_API_BODY_BYTES,
    // hostile clients must not hold connections forever
    requestTimeout: 30_000,
    // item ids may be 512 characters (ItemId), up to 12 bytes each once percent-encoded
    routerOptions: { maxParamLength: 512 * 12 },
    // strict schemas: unknown fields are refused, not silently dropped, and nothing is coerced
    // (query strings, which are text by nature, are declared as strings and parsed by the route);
    // lengths and numbers are judged as by the engine's own validator (validation.ts)
    ajv: { customOptions: { ...AJV_OPTIONS, removeAdditional: false } },
    // requests that reach a closing server are refused by the onRequest hook below, in the documented shape
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // errors Fastify meets before a route runs (a URL that is not valid percent-encoding, say) are
    // answered in the documented shape too
    frameworkErrors: (err, _req, reply) => {
      const k = fastifyErrorToKairos(err);
      void (reply as FastifyReply).status(k.status).send(k.toJSON());
    },
    // and so are those Node's HTTP parser meets before Fastify sees a request
    clientErrorHandler: answerClientError,
  });
  const metrics = createMetrics({
    storeBytes: () => engine.store.sizeBytes(),
    modelAgeSeconds: () => {
      let newest = 0;
      for (const ws of engine.workspaces.values()) newest = Math.max(newest, ws.modelUpdatedAt);
      return newest ? (Date.now() - newest) / 1000 : 0;
    },
  });
  const ctx: AppContext = { engine, metrics, ready: { value: true }, exportSources: extras.exportSources ?? [] };

  app.decorateRequest('bodyBytes', 0);
  app.decorateRequest('principal', null);
  // once closing (SIGTERM), a request still arriving on an open connection gets a coded 503 and the
  // connection is closed; requests already under way finish
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (_req, reply) => {
    if (!closing) return;
    void reply.header('connection', 'close');
    throw new KairosError('KAIROS_ERR_NOT_READY', 'the server is shutting down');
  });
  // failed authentications per client address (KAIROS_AUTH_FAILURES, bursts of ten times as many):
  // past the budget the address is refused until it refills, a right key included, else a guess
  // that hits would still tell itself apart; keys chosen by people cannot be guessed at line rate
  const failures = new RateLimiter(engine.config.authFailuresPerSecond, engine.config.authFailuresPerSecond * 10);
  app.addHook('onRequest', async (req) => {
    // the operational endpoints need no key: nothing to guess there
    if (!req.url.startsWith('/v1/')) return;
    const wait = failures.wait(req.ip);
    if (wait === undefined) return;
    const e = new KairosError('KAIROS_ERR_RATE_LIMITED', `too many failed authentications from this address; retry in ${wait}s`);
    e.retryAfter = wait;
    throw e;
  });
  // authentication before anything else: an unauthenticated client learns nothing of the schemas
  // and cannot make the server read, inflate or parse a body
  app.addHook('onRequest', async (req) => {
    const scope = req.routeOptions.config?.scope;
    if (scope) req.principal = engine.authorize(bearer(req), scope);
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (req: FastifyRequest, body: Buffer, done) => {
    // a route that takes no body (a DELETE, a retrain) does not mind an empty one that some clients
    // label JSON
    if (body.length === 0 && !takesBody(req)) return done(null, undefined);
    try {
      const limit = req.routeOptions.config.maxBody ?? MAX_API_BODY_BYTES;
      const encoding = req.headers['content-encoding'];
      const parsed = parseJsonBody(body, Array.isArray(encoding) ? encoding[0] : encoding, limit);
      req.bodyBytes = parsed.bytes;
      if (req.routeOptions.config.maxBody === undefined && exceedsDepth(parsed.value, MAX_API_BODY_DEPTH)) {
        throw new KairosError('KAIROS_ERR_VALIDATION', `the body nests deeper than ${MAX_API_BODY_DEPTH} levels`, [{ field: '', message: `nests deeper than ${MAX_API_BODY_DEPTH} levels` }]);
      }
      done(null, parsed.value);
    } catch (e) {
      done(e as Error, undefined);
    }
  });

  // a request with no Content-Type skips the parser above: an empty body is the same error either way
  app.addHook('preValidation', async (req) => {
    if (req.body === undefined && takesBody(req)) throw new KairosError('KAIROS_ERR_BAD_JSON', 'the body is empty');
  });

  app.setErrorHandler((err: FastifyError | KairosError, req, reply) => {
    const k = isKairosError(err) ? err : fastifyErrorToKairos(err);
    if (k.code === 'KAIROS_ERR_AUTH') failures.take(req.ip);
    // a refusal while shutting down is expected, not a failure (no stack trace for each of them)
    if (k.code === 'KAIROS_ERR_NOT_READY') req.log.info({ code: k.code }, k.message);
    else if (k.status >= 500) req.log.error({ err }, 'request failed');
    if (req.routeOptions.config.maxBody === MAX_REQUEST_BYTES) metrics.eventsRejected.inc({ reason: k.code });
    if (k.retryAfter !== undefined) reply.header('retry-after', String(k.retryAfter));
    return reply.status(k.status).send(k.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    const k = new KairosError('KAIROS_ERR_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`);
    return reply.status(404).send(k.toJSON());
  });

  app.addHook('onResponse', async (req, reply) => {
    metrics.httpDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  const ctxRoutes: RouteRegistrar[] = [registerOpsRoutes, registerIngestRoutes, registerItemRoutes, registerProfileRoutes, registerAggregateRoutes, registerKeyRoutes, ...(extras.routes ?? [])];
  for (const r of ctxRoutes) r(app, ctx);
  return { app, ctx };
}

/** whether the route reads a body: a schema for it, ingestion (its own size limit), or a PUT */
function takesBody(req: FastifyRequest): boolean {
  const o = req.routeOptions;
  return o.schema?.body !== undefined || o.config.maxBody !== undefined || req.method === 'PUT';
}

/**
 * A request Node's HTTP parser refused (malformed, headers too large, too slow): answered on the raw
 * socket in the documented error shape, then the connection is closed, since what follows on it
 * cannot be framed.
 */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const code: ErrorCode = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'KAIROS_ERR_TIMEOUT' : err.code === 'HPE_HEADER_OVERFLOW' ? 'KAIROS_ERR_HEADERS_TOO_LARGE' : 'KAIROS_ERR_BAD_REQUEST';
  const body = JSON.stringify(new KairosError(code).toJSON());
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${ERRORS[code].status} ${STATUS_CODES[ERRORS[code].status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

/** The principal of a route that declares a scope (set by the onRequest hook). */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new Error(`route ${req.routeOptions.url} reads a principal but declares no scope`);
  return req.principal;
}

/** `Authorization: Bearer <key>` */
export function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(h);
  return m?.[1]?.trim();
}
