/** Differentially private aggregates (docs/privacy.md, "Aggregates"): `POST /v1/aggregates`. */
import { setImmediate as yieldToRequests } from 'node:timers/promises';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Workspace } from '../../engine/workspace.ts';
import { stringEnum } from '../../decide/schema-details.ts';
import { KairosError, type ErrorDetail } from '../../errors.ts';
import { INTERACTION_KINDS } from '../../ingest/interactions.ts';
import { MAX_TIME_MS, parseIsoTime } from '../../iso-time.ts';
import { AGGREGATE_GROUPS, AGGREGATE_METRICS, DAY_MS, boundedCounts, publicPartitions, release, type AggregateQuery } from '../../privacy/aggregates.ts';
import { PrivacyBudget, SecureUniform, type Spend } from '../../privacy/dp.ts';
import { principalOf, type AppContext } from '../app.ts';

const Body = Type.Object(
  {
    metric: stringEnum(AGGREGATE_METRICS),
    kind: Type.Optional(stringEnum(INTERACTION_KINDS)),
    groupBy: stringEnum(AGGREGATE_GROUPS),
    from: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    to: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    // below 1e-6 the noise dwarfs any count a shop has, and tiny spends would pile up in the ledger
    epsilon: Type.Number({ minimum: 1e-6, maximum: 10_000 }),
    maxPartitionsPerPerson: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    maxPerPartition: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  },
  { additionalProperties: false },
);
type Body = Static<typeof Body>;

/** the longest range one release covers */
const MAX_RANGE_DAYS = 366;
const BUDGET_KEY = 'dp-budget';

export function registerAggregateRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { engine } = ctx;
  const random = new SecureUniform();
  const epsilonPerDay = engine.config.privacy.aggregates.epsilonPerDay;
  // one ledger per workspace, read from the store once (concurrent first requests share the read)
  const budgets = new WeakMap<Workspace, Promise<PrivacyBudget>>();
  const budgetOf = (ws: Workspace): Promise<PrivacyBudget> => {
    let b = budgets.get(ws);
    if (!b) {
      b = engine.store.get<{ spends: Spend[] }>(ws.id, 'meta', BUDGET_KEY).then((r) => new PrivacyBudget(epsilonPerDay, r?.spends ?? []));
      budgets.set(ws, b);
    }
    return b;
  };

  app.post<{ Body: Body }>('/v1/aggregates', { schema: { body: Body }, config: { scope: 'aggregates' } }, async (req) => {
    const { ws } = principalOf(req);
    const now = Date.now();
    const q = queryOf(req.body, now, epsilonPerDay);
    const partitions = publicPartitions(ws, q);
    const budget = await budgetOf(ws);
    const taken = budget.take(q.epsilon, now);
    if (!taken.ok) {
      const e = new KairosError('KAIROS_ERR_PRIVACY_BUDGET', `this release needs ε = ${q.epsilon}; ${round(epsilonPerDay - budget.spent(now))} of the ${epsilonPerDay} per 24 hours is left`);
      e.retryAfter = taken.retryAfterSeconds;
      throw e;
    }
    // the spend is durable before anything is released: a crash cannot give it back
    await engine.store.commit(ws.id, [{ table: 'meta', key: BUDGET_KEY, value: budget.record(now) }]);
    const counts = await boundedCounts(ws, q, partitions, () => yieldToRequests());
    const r = release(counts, q, random);
    const spent = budget.spent(now);
    return {
      metric: q.metric,
      ...(q.kind !== undefined ? { kind: q.kind } : {}),
      groupBy: q.groupBy,
      from: new Date(q.from).toISOString(),
      to: new Date(q.to).toISOString(),
      epsilon: q.epsilon,
      mechanism: 'discrete_laplace',
      maxPartitionsPerPerson: q.maxPartitionsPerPerson,
      maxPerPartition: q.metric === 'people' ? 1 : q.maxPerPartition,
      sensitivity: r.sensitivity,
      noiseStdDev: round(r.noiseStdDev),
      interval95: r.interval95,
      partitions: r.partitions,
      rows: r.rows,
      budget: { epsilonPerDay, spent: round(spent), remaining: round(Math.max(0, epsilonPerDay - spent)) },
    };
  });
}

const round = (x: number): number => Math.round(x * 1e6) / 1e6;

/** The request with its defaults, or a 400 naming every problem. */
function queryOf(body: Body, now: number, epsilonPerDay: number): AggregateQuery {
  const details: ErrorDetail[] = [];
  const time = (field: 'from' | 'to', fallback: number): number => {
    const raw = body[field];
    if (raw === undefined) return fallback;
    const t = parseIsoTime(raw);
    // a day either side of the dates a time can hold: the range's days must be dates too
    if (Number.isNaN(t) || Math.abs(t) > MAX_TIME_MS - DAY_MS) {
      details.push({ field: `/${field}`, message: 'must be an ISO-8601 time between the years -271820 and 275759' });
      return Number.NaN;
    }
    return t;
  };
  const to = time('to', now);
  const from = time('from', Number.isNaN(to) ? Number.NaN : Math.max(-MAX_TIME_MS + DAY_MS, to - 30 * DAY_MS));
  if (!Number.isNaN(from) && !Number.isNaN(to)) {
    if (!(from < to)) details.push({ field: '/to', message: 'must be later than from' });
    else if (to - from > MAX_RANGE_DAYS * DAY_MS) details.push({ field: '/to', message: `the range may cover at most ${MAX_RANGE_DAYS} days` });
  }
  if (body.epsilon > epsilonPerDay) details.push({ field: '/epsilon', message: `must be at most the workspace's budget of ${epsilonPerDay} per 24 hours` });
  if (body.metric === 'people' && body.maxPerPartition !== undefined && body.maxPerPartition !== 1) {
    details.push({ field: '/maxPerPartition', message: 'a person counts once per partition in people counts: leave it out' });
  }
  if (body.limit !== undefined && body.groupBy !== 'item' && body.groupBy !== 'category') details.push({ field: '/limit', message: 'applies to groupBy item or category only' });
  if (details.length > 0) throw new KairosError('KAIROS_ERR_VALIDATION', 'the aggregate request failed validation', details);
  return {
    metric: body.metric,
    ...(body.kind !== undefined ? { kind: body.kind } : {}),
    groupBy: body.groupBy,
    from,
    to,
    epsilon: body.epsilon,
    maxPartitionsPerPerson: body.maxPartitionsPerPerson ?? 5,
    maxPerPartition: body.metric === 'people' ? 1 : (body.maxPerPartition ?? 3),
    limit: body.limit ?? 100,
  };
}
