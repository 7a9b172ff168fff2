/**
 * CONTRACT §8: triggered messages (docs/triggers.md). Admin scope throughout: a trigger sends people's
 * ids and decided content to an outside URL and holds the secret that vouches for it, so creating one
 * is a data export decision, like `GET /v1/profiles/{id}/export`; its delivery log names people too.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { KairosError } from '../../errors.ts';
import { firingView, type TriggersExtension } from '../../decide/triggers/extension.ts';
import { FIRING_STATUSES, type FiringStatus } from '../../decide/triggers/outbox.ts';
import { publicTrigger, TRIGGER_ID_PATTERN, validateTrigger } from '../../decide/triggers/trigger.ts';
import { stringEnum } from '../../decide/schema-details.ts';
import { principalOf, type AppContext, type RouteRegistrar } from '../app.ts';

const TriggerParams = Type.Object({ triggerId: Type.String({ pattern: TRIGGER_ID_PATTERN }) });
const DeliveryParams = Type.Object({ triggerId: Type.String({ pattern: TRIGGER_ID_PATTERN }), idempotencyKey: Type.String({ minLength: 1, maxLength: 64 }) });
const DeliveriesQuery = Type.Object(
  {
    status: Type.Optional(stringEnum(FIRING_STATUSES)),
    limit: Type.Optional(Type.String({ pattern: '^([1-9]|[1-9][0-9]|[1-9][0-9][0-9]|1000)$', description: '1–1000, default 100' })),
  },
  { additionalProperties: false },
);

export function triggerRoutes(ext: TriggersExtension): RouteRegistrar {
  return (app: FastifyInstance, _ctx: AppContext) => {
    const notFound = (id: string) => new KairosError('KAIROS_ERR_NOT_FOUND', `no trigger "${id}"`);

    app.put<{ Params: { triggerId: string }; Body: unknown }>(
      '/v1/triggers/:triggerId',
      // the body is validated by validateTrigger, which also checks what a schema cannot (URL, condition, windows)
      { schema: { params: TriggerParams }, config: { scope: 'admin' } },
      async (req) => {
        const { ws } = principalOf(req);
        const now = Date.now();
        const verdict = validateTrigger(req.params.triggerId, req.body, ext.trigger(ws, req.params.triggerId), now, ext.settings.allowInternalAddresses);
        if (!verdict.ok) throw new KairosError('KAIROS_ERR_VALIDATION', 'the trigger failed validation', verdict.details);
        return publicTrigger(await ext.putTrigger(ws, verdict.trigger, now));
      },
    );

    app.get('/v1/triggers', { config: { scope: 'admin' } }, async (req) => {
      const { ws } = principalOf(req);
      return { triggers: ext.triggers(ws).map(publicTrigger) };
    });

    app.get<{ Params: { triggerId: string } }>('/v1/triggers/:triggerId', { schema: { params: TriggerParams }, config: { scope: 'admin' } }, async (req) => {
      const { ws } = principalOf(req);
      const t = ext.trigger(ws, req.params.triggerId);
      if (!t) throw notFound(req.params.triggerId);
      return publicTrigger(t);
    });

    app.delete<{ Params: { triggerId: string } }>('/v1/triggers/:triggerId', { schema: { params: TriggerParams }, config: { scope: 'admin' } }, async (req) => {
      const { ws } = principalOf(req);
      if (!(await ext.deleteTrigger(ws, req.params.triggerId))) throw notFound(req.params.triggerId);
      return { triggerId: req.params.triggerId, deleted: true };
    });

    app.get<{ Params: { triggerId: string }; Querystring: { status?: FiringStatus; limit?: string } }>(
      '/v1/triggers/:triggerId/deliveries',
      { schema: { params: TriggerParams, querystring: DeliveriesQuery }, config: { scope: 'admin' } },
      async (req) => {
        const { ws } = principalOf(req);
        if (!ext.trigger(ws, req.params.triggerId)) throw notFound(req.params.triggerId);
        const all = ext.firings(ws, req.params.triggerId, req.query.status);
        const limit = Number(req.query.limit ?? 100);
        return { deliveries: all.slice(0, limit).map(firingView), total: all.length };
      },
    );

    app.post<{ Params: { triggerId: string; idempotencyKey: string } }>(
      '/v1/triggers/:triggerId/deliveries/:idempotencyKey/retry',
      { schema: { params: DeliveryParams }, config: { scope: 'admin' } },
      async (req) => {
        const { ws } = principalOf(req);
        const { triggerId, idempotencyKey } = req.params;
        if (!ext.trigger(ws, triggerId)) throw notFound(triggerId);
        const result = await ext.redeliver(ws, triggerId, idempotencyKey, Date.now());
        if (!result) throw new KairosError('KAIROS_ERR_NOT_FOUND', `no delivery "${idempotencyKey}" of trigger "${triggerId}"`);
        if (!result.requeued) {
          const why = result.firing.status !== 'dead' ? `is ${result.firing.status}` : result.firing.payload ? 'is being retried' : 'has no decided message (its decision failed)';
          throw new KairosError('KAIROS_ERR_CONFLICT', `delivery "${idempotencyKey}" ${why}: only dead letters with a message can be sent again`);
        }
        return firingView(result.firing);
      },
    );
  };
}
