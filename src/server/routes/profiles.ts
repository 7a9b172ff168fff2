/** CONTRACT §7: profiles, export and erasure. */
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { KairosError } from '../../errors.ts';
import { erasePerson } from '../../privacy/erasure.ts';
import { exportPerson } from '../../privacy/export.ts';
import { bearer, type AppContext } from '../app.ts';

const Params = Type.Object({ id: Type.String({ minLength: 1, maxLength: 256 }) });
const EraseQuery = Type.Object({ suppress: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])) }, { additionalProperties: false });

export function registerProfileRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { engine } = ctx;
  const notFound = () => new KairosError('KAIROS_ERR_NOT_FOUND', 'no profile for this id');

  app.get<{ Params: { id: string } }>('/v1/profiles/:id', { schema: { params: Params } }, async (req) => {
    const { ws } = engine.authorize(bearer(req), 'read');
    const profile = ws.profile(req.params.id, Date.now());
    if (!profile) throw notFound();
    return profile;
  });

  app.get<{ Params: { id: string } }>('/v1/profiles/:id/export', { schema: { params: Params } }, async (req, reply) => {
    const { ws } = engine.authorize(bearer(req), 'admin');
    const root = ws.rootOf(req.params.id);
    if (root === undefined) throw notFound();
    reply.type('application/x-ndjson; charset=utf-8');
    reply.header('content-disposition', 'attachment; filename="profile.ndjson"');
    return reply.send(Readable.from(exportPerson(engine, ws, root, Date.now(), ctx.exportSources)));
  });

  app.delete<{ Params: { id: string }; Querystring: { suppress?: 'true' | 'false' } }>(
    '/v1/profiles/:id',
    { schema: { params: Params, querystring: EraseQuery } },
    async (req) => {
      const { ws, key } = engine.authorize(bearer(req), 'admin');
      const receipt = await erasePerson(engine, ws, req.params.id, { suppress: req.query.suppress === 'true', actor: key.id });
      if (!receipt) throw notFound();
      return receipt;
    },
  );
}
