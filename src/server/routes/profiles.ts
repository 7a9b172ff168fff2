/** CONTRACT §7: profiles, export and erasure. */
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { KairosError } from '../../errors.ts';
import { PersonIdSchema } from '../../ingest/event.ts';
import { erasePerson } from '../../privacy/erasure.ts';
import { exportPerson, holdsAnything } from '../../privacy/export.ts';
import { principalOf, type AppContext } from '../app.ts';

// every id ingestion accepts can be read, exported and erased
const Params = Type.Object({ id: PersonIdSchema });
const EraseQuery = Type.Object({ suppress: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])) }, { additionalProperties: false });

export function registerProfileRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { engine } = ctx;
  const notFound = () => new KairosError('KAIROS_ERR_NOT_FOUND', 'no profile for this id');

  app.get<{ Params: { id: string } }>('/v1/profiles/:id', { schema: { params: Params }, config: { scope: 'read' } }, async (req) => {
    const { ws } = principalOf(req);
    const profile = ws.profile(req.params.id, Date.now());
    if (!profile) throw notFound();
    return profile;
  });

  app.get<{ Params: { id: string } }>('/v1/profiles/:id/export', { schema: { params: Params }, config: { scope: 'admin' } }, async (req, reply) => {
    const { ws } = principalOf(req);
    if (!holdsAnything(ws, req.params.id)) throw notFound();
    reply.type('application/x-ndjson; charset=utf-8');
    reply.header('content-disposition', 'attachment; filename="profile.ndjson"');
    return reply.send(Readable.from(exportPerson(engine, ws, req.params.id, Date.now(), ctx.exportSources)));
  });

  app.delete<{ Params: { id: string }; Querystring: { suppress?: 'true' | 'false' } }>(
    '/v1/profiles/:id',
    { schema: { params: Params, querystring: EraseQuery }, config: { scope: 'admin' } },
    async (req) => {
      const { ws, key } = principalOf(req);
      const receipt = await erasePerson(engine, ws, req.params.id, { suppress: req.query.suppress === 'true', actor: key.id });
      if (!receipt) throw notFound();
      return receipt;
    },
  );
}
