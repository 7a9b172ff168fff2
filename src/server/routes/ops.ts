/** CONTRACT §9: health, readiness, metrics. No key needed. */
import type { FastifyInstance } from 'fastify';
import { KairosError } from '../../errors.ts';
import type { AppContext } from '../app.ts';

export function registerOpsRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => {
    if (!ctx.ready.value) throw new KairosError('KAIROS_ERR_NOT_READY');
    return { status: 'ready' };
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });
}
