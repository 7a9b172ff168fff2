/** CONTRACT §7: profiles. */
import type { FastifyInstance } from 'fastify';
import { KairosError } from '../../errors.ts';
import { bearer, type AppContext } from '../app.ts';

export function registerProfileRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Params: { id: string } }>('/v1/profiles/:id', async (req) => {
    const { ws } = ctx.engine.authorize(bearer(req), 'read');
    const profile = ws.profile(req.params.id, Date.now());
    if (!profile) throw new KairosError('KAIROS_ERR_NOT_FOUND', 'no profile for this id');
    return profile;
  });
}
