/** CONTRACT §8: actions, decisions and rewards. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { KairosError } from '../../errors.ts';
import { validateAction } from '../../decide/action.ts';
import { DecideError, type DecisionsExtension } from '../../decide/serving/extension.ts';
import { DecideRequestSchema, type DecideRequest } from '../../decide/serving/types.ts';
import { RESERVED_NAME } from '../../experiments/experiment.ts';
import { principalOf, type AppContext, type RouteRegistrar } from '../app.ts';

const Name = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:~-]+$' });
const ActionParams = Type.Object({ actionId: Name });
const DecisionParams = Type.Object({ decisionId: Type.String({ minLength: 1, maxLength: 64 }) });
const RewardBody = Type.Object(
  {
    value: Type.Number({ minimum: 0, maximum: 1e9, description: 'the outcome; the bandit keeps the largest reward per decision and action' }),
    actionId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false },
);

const asKairosError = (e: unknown): unknown => {
  if (!(e instanceof DecideError)) return e;
  if (e.kind === 'not_found') return new KairosError('KAIROS_ERR_NOT_FOUND', e.message);
  if (e.kind === 'expired') return new KairosError('KAIROS_ERR_CONFLICT', e.message);
  return new KairosError('KAIROS_ERR_VALIDATION', e.message, [{ field: '/actionId', message: e.message }]);
};

export function decisionRoutes(ext: DecisionsExtension): RouteRegistrar {
  return (app: FastifyInstance, ctx: AppContext) => {
    const { metrics } = ctx;

    app.put<{ Params: { actionId: string }; Body: unknown }>(
      '/v1/actions/:actionId',
      // the body is validated by validateAction, which also checks what a schema cannot (dates, conditions)
      { schema: { params: ActionParams }, config: { scope: 'write' } },
      async (req) => {
        const { ws } = principalOf(req);
        // the one name a JSON object cannot hold as a plain key (an action's rewards are keyed by it)
        if (req.params.actionId === RESERVED_NAME) {
          throw new KairosError('KAIROS_ERR_VALIDATION', `"${RESERVED_NAME}" is reserved`, [{ field: '/actionId', message: `"${RESERVED_NAME}" is reserved` }]);
        }
        const verdict = validateAction(req.body);
        if (!verdict.ok) throw new KairosError('KAIROS_ERR_VALIDATION', 'the action failed validation', verdict.details);
        return ext.putAction(ws, req.params.actionId, verdict.action, Date.now());
      },
    );

    app.get('/v1/actions', { config: { scope: 'write' } }, async (req) => {
      const { ws } = principalOf(req);
      return { actions: [...ext.stateOf(ws).actions.values()].sort((a, b) => (a.actionId < b.actionId ? -1 : 1)) };
    });

    app.get<{ Params: { actionId: string } }>('/v1/actions/:actionId', { schema: { params: ActionParams }, config: { scope: 'write' } }, async (req) => {
      const { ws } = principalOf(req);
      const action = ext.stateOf(ws).actions.get(req.params.actionId);
      if (!action) throw new KairosError('KAIROS_ERR_NOT_FOUND', `no action "${req.params.actionId}"`);
      return action;
    });

    app.delete<{ Params: { actionId: string } }>('/v1/actions/:actionId', { schema: { params: ActionParams }, config: { scope: 'write' } }, async (req) => {
      const { ws } = principalOf(req);
      if (!(await ext.deleteAction(ws, req.params.actionId))) throw new KairosError('KAIROS_ERR_NOT_FOUND', `no action "${req.params.actionId}"`);
      return { actionId: req.params.actionId, deleted: true };
    });

    app.post<{ Body: DecideRequest }>('/v1/decide', { schema: { body: DecideRequestSchema }, config: { scope: 'read' } }, async (req) => {
      const { ws } = principalOf(req);
      if (req.body.userId === undefined && req.body.anonymousId === undefined) {
        throw new KairosError('KAIROS_ERR_VALIDATION', 'a decision is for a person: give userId or anonymousId', [{ field: '/userId', message: 'userId or anonymousId is required' }]);
      }
      const started = process.hrtime.bigint();
      const response = await ext.decide(ws, req.body, { now: Date.now() });
      metrics.decideDuration.observe({ placement: metrics.placementLabel(req.body.placement, ws.id) }, Number(process.hrtime.bigint() - started) / 1e9);
      return response;
    });

    app.post<{ Params: { decisionId: string }; Body: { value: number; actionId?: string } }>(
      '/v1/decisions/:decisionId/reward',
      { schema: { params: DecisionParams, body: RewardBody }, config: { scope: 'write' } },
      async (req) => {
        const { ws } = principalOf(req);
        try {
          return await ext.reward(ws, req.params.decisionId, req.body.value, Date.now(), req.body.actionId);
        } catch (e) {
          throw asKairosError(e);
        }
      },
    );
  };
}
