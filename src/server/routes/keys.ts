/** CONTRACT §3: API keys and workspaces. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { KairosError } from '../../errors.ts';
import { KEY_NAME_MAX, SCOPES, type Scope } from '../../auth/keys.ts';
import { principalOf, type AppContext } from '../app.ts';

/** an API key with scopes, or (`"kind": "write"`, no scopes) a write key */
export const CreateKeyBody = Type.Union([
  Type.Object(
    {
      kind: Type.Optional(Type.Literal('api')),
      scopes: Type.Array(Type.Union(SCOPES.map((s) => Type.Literal(s))), { minItems: 1, uniqueItems: true }),
      name: Type.Optional(Type.String({ minLength: 1, maxLength: KEY_NAME_MAX })),
    },
    { additionalProperties: false },
  ),
  Type.Object({ kind: Type.Literal('write'), name: Type.Optional(Type.String({ minLength: 1, maxLength: KEY_NAME_MAX })) }, { additionalProperties: false }),
]);
export const CreateWorkspaceBody = Type.Object({ name: Type.String({ minLength: 1, maxLength: KEY_NAME_MAX }) }, { additionalProperties: false });

export function registerKeyRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { engine } = ctx;

  app.post<{ Body: { kind?: 'api' | 'write'; scopes?: Scope[]; name?: string } }>('/v1/keys', { schema: { body: CreateKeyBody }, config: { scope: 'admin' } }, async (req, reply) => {
    const { ws } = principalOf(req);
    const kind = req.body.kind ?? 'api';
    const { record, secret } = await engine.createKey(ws, req.body.scopes ?? [], req.body.name, kind);
    return reply.status(201).send({ id: record.id, key: secret, kind, scopes: record.scopes, name: record.name ?? null });
  });

  app.get('/v1/keys', { config: { scope: 'admin' } }, async (req) => {
    const { ws } = principalOf(req);
    return { keys: engine.listKeys(ws) };
  });

  app.delete<{ Params: { id: string } }>('/v1/keys/:id', { config: { scope: 'admin' } }, async (req) => {
    const { ws } = principalOf(req);
    if (!(await engine.revokeKey(ws, req.params.id))) throw new KairosError('KAIROS_ERR_NOT_FOUND', `no key "${req.params.id}"`);
    return { revoked: true, id: req.params.id };
  });

  app.post<{ Body: { name: string } }>('/v1/workspaces', { schema: { body: CreateWorkspaceBody }, config: { scope: 'admin' } }, async (req, reply) => {
    const p = principalOf(req);
    if (!engine.isInstanceAdmin(p)) throw new KairosError('KAIROS_ERR_FORBIDDEN', 'only an admin key of the default workspace can create workspaces');
    return reply.status(201).send(await engine.createWorkspace(req.body.name));
  });
}
