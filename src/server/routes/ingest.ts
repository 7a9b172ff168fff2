/** CONTRACT §4: Segment HTTP Tracking API compatible ingestion. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KairosError } from '../../errors.ts';
import type { Workspace } from '../../engine/workspace.ts';
import { EVENT_TYPES, MAX_REQUEST_BYTES, checkBatch } from '../../ingest/event.ts';
import type { AppContext } from '../app.ts';

/** Segment's convention: the write key as Basic username (empty password), else `writeKey` in the body. */
function basicUser(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Basic\s+(.+)$/i.exec(h);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!.trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(0, colon) : decoded;
}

function workspaceOf(ctx: AppContext, req: FastifyRequest, body: unknown): Workspace {
  const fromBody = typeof body === 'object' && body !== null && typeof (body as { writeKey?: unknown }).writeKey === 'string' ? (body as { writeKey: string }).writeKey : undefined;
  const key = basicUser(req) || fromBody;
  const ws = key ? ctx.engine.authenticateWriteKey(key) : undefined;
  if (!ws) throw new KairosError('KAIROS_ERR_AUTH', 'a valid write key is required (HTTP Basic username, or writeKey in the body)');
  return ws;
}

export function registerIngestRoutes(app: FastifyInstance, ctx: AppContext): void {
  const opts = { config: { maxBody: MAX_REQUEST_BYTES }, bodyLimit: MAX_REQUEST_BYTES };
  const reply = async (ws: Workspace, result: Promise<{ stored: number; duplicates: number }>) => {
    const r = await result;
    ctx.metrics.eventsIngested.inc({ workspace: ctx.metrics.workspaceLabel(ws.id) }, r.stored);
    if (r.duplicates) ctx.metrics.eventsDuplicate.inc({ workspace: ctx.metrics.workspaceLabel(ws.id) }, r.duplicates);
    return { success: true };
  };

  // fail fast on a wrong Basic key, before reading the body (empty Basic credentials leave the
  // body's writeKey to decide, as workspaceOf does)
  app.addHook('onRequest', async (req) => {
    if (req.method !== 'POST' || !req.url.startsWith('/v1/')) return;
    const path = req.url.slice(4).split('?')[0]!;
    if (!(EVENT_TYPES as readonly string[]).includes(path) && path !== 'batch' && path !== 'import') return;
    const user = basicUser(req);
    if (user && !ctx.engine.isWriteKey(user)) throw new KairosError('KAIROS_ERR_AUTH', 'invalid write key');
  });

  for (const type of EVENT_TYPES) {
    app.post(`/v1/${type}`, opts, async (req) => {
      const ws = workspaceOf(ctx, req, req.body);
      return reply(ws, ctx.engine.ingest(ws, { events: [req.body], impliedType: type, maxEventBytes: req.bodyBytes }));
    });
  }
  for (const path of ['/v1/batch', '/v1/import']) {
    app.post(path, opts, async (req) => {
      const ws = workspaceOf(ctx, req, req.body);
      const checked = checkBatch(req.body);
      if (!checked.ok) {
        if (checked.tooLarge) throw new KairosError('KAIROS_ERR_TOO_LARGE', 'the batch context is too large', checked.details);
        throw new KairosError('KAIROS_ERR_VALIDATION', 'the body must be {"batch": [events…]}', checked.details);
      }
      const { batch, context, sentAt } = checked.batch;
      return reply(ws, ctx.engine.ingest(ws, { events: batch, maxEventBytes: req.bodyBytes, ...(context ? { batchContext: context } : {}), ...(sentAt ? { batchSentAt: sentAt } : {}) }));
    });
  }
}
