/** CONTRACT §8: experiments and their results. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { KairosError } from '../../errors.ts';
import { validateExperiment } from '../../experiments/experiment.ts';
import type { ExperimentsExtension } from '../../experiments/serving.ts';
import { principalOf, type AppContext, type RouteRegistrar } from '../app.ts';

const Params = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:~-]+$' }) });

export function experimentRoutes(ext: ExperimentsExtension): RouteRegistrar {
  return (app: FastifyInstance, _ctx: AppContext) => {
    const notFound = (id: string) => new KairosError('KAIROS_ERR_NOT_FOUND', `no experiment "${id}"`);

    app.put<{ Params: { id: string }; Body: unknown }>('/v1/experiments/:id', { schema: { params: Params }, config: { scope: 'write' } }, async (req) => {
      const { ws } = principalOf(req);
      const verdict = validateExperiment(req.body, ext.stateOf(ws).experiments.get(req.params.id));
      if (!verdict.ok) throw new KairosError('KAIROS_ERR_VALIDATION', 'the experiment failed validation', verdict.details);
      return ext.put(ws, req.params.id, verdict.experiment, Date.now());
    });

    app.get('/v1/experiments', { config: { scope: 'read' } }, async (req) => {
      const { ws } = principalOf(req);
      return { experiments: [...ext.stateOf(ws).experiments.values()].sort((a, b) => (a.id < b.id ? -1 : 1)) };
    });

    app.get<{ Params: { id: string } }>('/v1/experiments/:id', { schema: { params: Params }, config: { scope: 'read' } }, async (req) => {
      const { ws } = principalOf(req);
      const exp = ext.stateOf(ws).experiments.get(req.params.id);
      if (!exp) throw notFound(req.params.id);
      return exp;
    });

    app.get<{ Params: { id: string } }>('/v1/experiments/:id/results', { schema: { params: Params }, config: { scope: 'read' } }, async (req) => {
      const { ws } = principalOf(req);
      const state = ext.stateOf(ws);
      if (!state.experiments.has(req.params.id)) throw notFound(req.params.id);
      return state.results(req.params.id);
    });
  };
}
