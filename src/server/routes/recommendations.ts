/** CONTRACT §6: recommendations and similar items. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { isKairosError, KairosError } from '../../errors.ts';
import { validateEvents } from '../../ingest/pipeline.ts';
import { MAX_ITEM_ID_UNITS } from '../../catalog/item.ts';
import type { RecommendationsExtension } from '../../recommend/serving/extension.ts';
import { DEFAULT_PLACEMENT, inlineWithholds, RecommendRequestSchema, serveRecommendation, type RecommendRequest } from '../../recommend/serving/serve.ts';
import { namedIds, personOf } from '../../engine/workspace.ts';
import type { ExperimentsExtension } from '../../experiments/serving.ts';
import { principalOf, type AppContext, type RouteRegistrar } from '../app.ts';
import { checkItemIds } from './items.ts';

/**
 * Inline events are checked as ingestion checks a `track` (times, product ids, sizes, nesting): what
 * could not be sent cannot shape an answer either. Problems point into the request (`/events/2/…`).
 */
function checkInlineEvents(events: RecommendRequest['events'], now: number): void {
  if (!events?.length) return;
  try {
    validateEvents({ events: events.map((e) => ({ ...e, type: 'track', anonymousId: 'inline', messageId: 'inline' })), receivedAt: now });
  } catch (err) {
    if (!isKairosError(err)) throw err;
    throw new KairosError(err.code, err.message, err.details?.map(({ index, field, message }) => ({ field: `/events/${index ?? 0}${field === '/' ? '' : field}`, message })));
  }
}

const SimilarParams = Type.Object({ itemId: Type.String({ minLength: 1, maxLength: MAX_ITEM_ID_UNITS }) });
const SimilarQuery = Type.Object({ count: Type.Optional(Type.String({ pattern: '^([1-9]|[1-9][0-9]|100)$' })) }, { additionalProperties: false });

export function recommendationRoutes(ext: RecommendationsExtension, experiments?: ExperimentsExtension): RouteRegistrar {
  return (app: FastifyInstance, ctx: AppContext) => {
    const { engine, metrics } = ctx;

    app.post<{ Body: RecommendRequest }>('/v1/recommendations', { schema: { body: RecommendRequestSchema }, config: { scope: 'read' } }, async (req) => {
      const { context, filter } = req.body;
      const named = (filter?.exclude ?? []).map((itemId, i) => ({ field: `/filter/exclude/${i}`, itemId }));
      if (context?.itemId !== undefined) named.unshift({ field: '/context/itemId', itemId: context.itemId });
      checkItemIds(named);
      const now = Date.now();
      checkInlineEvents(req.body.events, now);
      const { ws } = principalOf(req);
      const started = process.hrtime.bigint();
      const placement = req.body.context?.placement ?? DEFAULT_PLACEMENT;
      // a person withholding consent in this very request is not exposed, as one who did so before is not
      const { exposed, writes: exposure } = (inlineWithholds(req.body) ? undefined : experiments?.stateOf(ws).expose(personOf(ws, req.body), namedIds(req.body), placement, now)) ?? { writes: [] };
      const { response, writes } = serveRecommendation(ws, ext.stateOf(ws), ext.serving, req.body, now, exposed);
      metrics.recommendDuration.observe({ placement: metrics.placementLabel(placement, ws.id) }, Number(process.hrtime.bigint() - started) / 1e9);
      // a first experiment exposure must be durable before the variant is shown (stickiness);
      // the impression is for attribution: it joins the next batched write, not awaited
      if (exposure.length) await engine.store.commit(ws.id, exposure);
      ext.stateOf(ws).impressionWrites.add(writes);
      return response;
    });

    // the collaborative model (EASE, trained in a worker thread on a schedule): its status, and a
    // retrain on demand that answers once the new model serves (requests never wait for training)
    app.get('/v1/models', { config: { scope: 'admin' } }, async (req) => {
      const { ws } = principalOf(req);
      const state = ext.stateOf(ws);
      return { models: [state.recommender.matrix.status()], blends: state.learning.status() };
    });

    app.post('/v1/models/collaborative/retrain', { config: { scope: 'admin' } }, async (req) => {
      const { ws } = principalOf(req);
      return ext.stateOf(ws).recommender.matrix.retrain();
    });

    app.get<{ Params: { itemId: string }; Querystring: { count?: string } }>(
      '/v1/items/:itemId/similar',
      { schema: { params: SimilarParams, querystring: SimilarQuery }, config: { scope: 'read' } },
      async (req) => {
        checkItemIds([{ field: '/itemId', itemId: req.params.itemId }]);
        const { ws } = principalOf(req);
        if (!ws.catalog.has(req.params.itemId)) throw new KairosError('KAIROS_ERR_NOT_FOUND', `no item "${req.params.itemId}"`);
        // exploration seeded by item and day, as recommendations are by person, placement, context and day
        const now = Date.now();
        return ext.stateOf(ws).recommender.similar(req.params.itemId, Number(req.query.count ?? 10), `${req.params.itemId}\u0000${Math.floor(now / 86_400_000)}`, now);
      },
    );
  };
}
