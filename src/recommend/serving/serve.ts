/**
 * CONTRACT §6 as a function: a recommendation request against a workspace's state → the answer.
 * The HTTP route, the evaluation harness and the benchmark all call this.
 */
import { createHash } from 'node:crypto';
import { randomToken } from '../../random-ids.ts';
import { Type, type Static } from '@sinclair/typebox';
import { namedIds, personIds, personOf, servedForOf, type Workspace, type PersonView } from '../../engine/workspace.ts';
import { itemInteractions, itemsOf } from '../../features/sessions.ts';
import { PersonIdSchema, personalizationPreference, type StoredEvent } from '../../ingest/event.ts';
import { MAX_ITEM_ID_UNITS } from '../../catalog/item.ts';
import { interactionsOf } from '../../ingest/interactions.ts';
import { parseIsoTime } from '../../iso-time.ts';
import type { Mutation } from '../../store/types.ts';
import type { Recommendations } from '../recommender.ts';
import type { RecommendQuery, SessionItem } from '../types.ts';
import type { RecommendationState, ServingSettings } from './extension.ts';

const Id = PersonIdSchema;
const ItemId = Type.String({ minLength: 1, maxLength: MAX_ITEM_ID_UNITS });
const Props = Type.Object({}, { additionalProperties: true });

export const InlineEventSchema = Type.Object(
  { event: Type.String({ minLength: 1, maxLength: 256 }), properties: Type.Optional(Props), timestamp: Type.Optional(Type.String({ maxLength: 64 })) },
  { additionalProperties: true },
);

export const RecommendFilterSchema = Type.Object(
  {
    category: Type.Optional(Type.String({ maxLength: 1024 })),
    exclude: Type.Optional(Type.Array(ItemId, { maxItems: 1000 })),
    properties: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]))),
    price: Type.Optional(Type.Object({ min: Type.Optional(Type.Number()), max: Type.Optional(Type.Number()) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

export const RecommendRequestSchema = Type.Object(
  {
    userId: Type.Optional(Id),
    anonymousId: Type.Optional(Id),
    context: Type.Optional(
      Type.Object(
        { itemId: Type.Optional(ItemId), placement: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })), page: Type.Optional(Props) },
        { additionalProperties: true },
      ),
    ),
    events: Type.Optional(Type.Array(InlineEventSchema, { maxItems: 100 })),
    count: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    filter: Type.Optional(RecommendFilterSchema),
  },
  { additionalProperties: false },
);
export type RecommendRequest = Static<typeof RecommendRequestSchema>;

export interface RecommendResponse extends Recommendations {
  recommendationId: string;
  experiment?: { id: string; variant: string };
}

export const DEFAULT_PLACEMENT = 'default';

/**
 * Item interactions of a person's history a request reads: the most recent 2,000. Generators read
 * recent interest (the collaborative model its 200 most recent distinct items, the others 10);
 * reminders sum an item's weight over this window; purchases still exclude over the whole history.
 */
export const HISTORY_LIMIT = 2000;

/** Interactions the caller holds but has not sent: used for this answer only, never stored. */
function inlineItems(ws: Workspace, events: RecommendRequest['events'], now: number): SessionItem[] {
  if (!events?.length) return [];
  const out: SessionItem[] = [];
  events.forEach((e, i) => {
    const parsed = e.timestamp !== undefined ? parseIsoTime(e.timestamp) : NaN;
    const t = Number.isFinite(parsed) ? parsed : now;
    const event: StoredEvent = { type: 'track', event: e.event, messageId: `inline-${i}`, timestamp: t, receivedAt: now, ...(e.properties ? { properties: e.properties } : {}) };
    for (const x of interactionsOf(event)) if (x.itemId !== undefined) out.push({ itemId: x.itemId, kind: x.kind, t: x.t, weight: ws.settings.interactionWeights[x.kind] });
  });
  return out.sort((a, b) => a.t - b.t);
}

/**
 * The person's current session: their last one, if it is still open (no gap over the timeout), as
 * far as its most recent HISTORY_LIMIT item interactions (events are kept or left whole). A session
 * tens of thousands of events long (a crawler) costs a request what anyone's does.
 */
function currentSession(ws: Workspace, view: PersonView | undefined, now: number): SessionItem[] {
  if (!view || view.usable.length === 0) return [];
  const gap = ws.settings.sessionGapMinutes * 60_000;
  const usable = view.usable;
  if (now - usable[usable.length - 1]!.t > gap) return [];
  let start = usable.length - 1;
  for (let n = itemInteractions(usable[start]!); start > 0 && n < HISTORY_LIMIT && usable[start]!.t - usable[start - 1]!.t <= gap; ) n += itemInteractions(usable[--start]!);
  return itemsOf(start === 0 ? usable : usable.slice(start), ws.settings.interactionWeights);
}

/**
 * Whether one of a request's inline events withholds Personalization consent: it applies to that
 * answer at once, as a stored one would (no personalization, no experiment exposure).
 */
export const inlineWithholds = (req: Pick<RecommendRequest, 'events'>): boolean =>
  req.events?.some((e) => personalizationPreference(e as Pick<StoredEvent, 'context'>) === false) === true;

/** whether the answer may use the person at all: neither a stored preference nor an inline event withholds consent */
const consents = (view: PersonView | undefined, req: RecommendRequest): boolean => view?.personalization !== false && !inlineWithholds(req);

export function buildQuery(ws: Workspace, view: PersonView | undefined, req: RecommendRequest, now: number, allowPersonal = true): RecommendQuery {
  const consented = consents(view, req);
  const personalized = allowPersonal && consented;
  if (!personalized) {
    // a holdout or a non-personalized variant: the Recommender keeps every generator off the session,
    // but still leaves out what the person bought (stored purchases, and those of inline events); a
    // person who withheld consent is not looked at at all
    const session = consented ? inlineItems(ws, req.events, now) : [];
    return { now, session, history: [], personalized, ...(consented && view ? { purchased: ws.purchasesOf(view) } : {}), ...(req.context?.itemId ? { contextItemId: req.context.itemId } : {}) };
  }
  const session = currentSession(ws, view, now).concat(inlineItems(ws, req.events, now));
  return {
    now,
    session,
    history: view ? ws.historyOf(view, HISTORY_LIMIT) : [],
    ...(view ? { purchased: ws.purchasesOf(view) } : {}),
    personalized,
    ...(req.context?.itemId ? { contextItemId: req.context.itemId } : {}),
  };
}

const newRecommendationId = (): string => `rec_${randomToken(12)}`;

/**
 * Exploration is seeded by person, placement, context and day: refreshing a page gives the same
 * list for the same state, while the explored items still rotate from day to day.
 */
function seedOf(view: PersonView | undefined, req: RecommendRequest, placement: string, now: number): string {
  // the person's smallest id: the same seed whichever of their ids the request names
  let who: string | undefined;
  if (view) for (const id of view.ids) if (who === undefined || id < who) who = id;
  who ??= req.userId ?? req.anonymousId ?? '';
  const day = Math.floor(now / 86_400_000);
  return createHash('sha256').update(`${who}\u0000${placement}\u0000${req.context?.itemId ?? ''}\u0000${day}`).digest('base64url').slice(0, 16);
}

export interface Served {
  response: RecommendResponse;
  /** the impression to persist (attribution) and evictions, not awaited by the request */
  writes: Mutation[];
}

/**
 * How an experiment changes a recommendation: the global holdout and a variant with
 * `personalized: false` get non-personalized lists; a variant's `blend` (generator → weight) is served
 * as given, and its `placement` serves with that placement's configured blend.
 */
export interface ServingVariant {
  experiment: { id: string; variant: string };
  holdout: boolean;
  config: Record<string, unknown>;
}

export function serveRecommendation(ws: Workspace, state: RecommendationState, settings: ServingSettings, req: RecommendRequest, now: number, variant?: ServingVariant): Served {
  const view = personOf(ws, req);
  const placement = req.context?.placement ?? DEFAULT_PLACEMENT;
  const personal = !variant?.holdout && variant?.config.personalized !== false;
  const blendPlacement = typeof variant?.config.placement === 'string' ? variant.config.placement : placement;
  const q = buildQuery(ws, view, req, now, personal);
  // a person who withheld consent: nothing kept under their ids shapes the answer (the repeat rule
  // reads impressions), and nothing about it is kept under them (no impression to attribute to:
  // their outcomes teach nothing anyway)
  const consented = consents(view, req);
  const recent = consented && settings.repeatWindow > 0 ? state.impressions.recentItems(personIds(view, req), placement, settings.repeatWindow) : new Set<string>();
  // an experiment's variant may set the blend; otherwise the weights learned from this placement's
  // feedback, once it has enough; otherwise the configured ones
  const weights = variantBlend(variant) ?? state.learning.weightsFor(blendPlacement);
  const { signals, ...result } = state.recommender.recommend(q, {
    count: req.count ?? 10,
    ...(req.filter ? { filter: req.filter } : {}),
    recentImpressions: recent,
    placement: blendPlacement,
    seed: seedOf(view, req, placement, now),
    ...(weights ? { weights } : {}),
  });
  const recommendationId = newRecommendationId();
  const response = { recommendationId, ...result, ...(variant ? { experiment: variant.experiment } : {}) };
  if (!consented) return { response, writes: [] };
  // kept under the ids the request named, not every id of the person: a person may have thousands,
  // and look-ups go through all of them anyway (recentItems, erasure, export)
  const ids = namedIds(req);
  // the id the person was resolved by: the export shows the items only to whoever holds it
  const servedFor = servedForOf(view, ids);
  return { response, writes: state.impressions.record({ recommendationId, placement, ids, servedFor, items: result.items.map((i) => i.itemId), at: now, signals }) };
}

/** a variant's `blend`: generator name → weight ≥ 0 (anything else in it is ignored) */
function variantBlend(variant: ServingVariant | undefined): Record<string, number> | undefined {
  const blend = variant?.config.blend;
  if (typeof blend !== 'object' || blend === null || Array.isArray(blend)) return undefined;
  const out: Record<string, number> = {};
  for (const [g, w] of Object.entries(blend)) if (typeof w === 'number' && Number.isFinite(w) && w >= 0) out[g] = w;
  return Object.keys(out).length ? out : undefined;
}
