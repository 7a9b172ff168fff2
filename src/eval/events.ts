/** Dataset interactions as the Segment events a client would send for them, within the API's limits. */
import { RecommendFilterSchema, RecommendRequestSchema } from '../recommend/serving/serve.ts';
import type { Interaction } from './dataset.ts';

/** CONTRACT §6 limits, read from the request schema */
export const REQUEST_LIMITS = {
  inlineEvents: RecommendRequestSchema.properties.events.maxItems ?? 100,
  count: RecommendRequestSchema.properties.count.maximum ?? 100,
  exclude: RecommendFilterSchema.properties.exclude.maxItems ?? 1000,
};

export type IdentityField = 'userId' | 'anonymousId';

/** test sessions get ids of their own, so they can never join a train person */
export const testSessionId = (session: string): string => `eval-test:${session}`;

/** `properties` of the event: orders carry their product in `products[]`, everything else in `product_id` */
export function propertiesOf(x: Interaction): Record<string, unknown> {
  return x.event === 'Order Completed' ? { products: [{ product_id: x.item }] } : { product_id: x.item };
}

/** an inline event of a recommendation request (CONTRACT §6 `events`) */
export function inlineEvent(x: Interaction, shiftMs = 0): { event: string; properties: Record<string, unknown>; timestamp: string } {
  return { event: x.event, properties: propertiesOf(x), timestamp: new Date(x.t + shiftMs).toISOString() };
}

/** a Segment track event for /v1/batch */
export function trackEvent(x: Interaction, identity: IdentityField, person: string, messageId: string, shiftMs = 0): Record<string, unknown> {
  return {
    type: 'track',
    [identity]: person,
    event: x.event,
    properties: propertiesOf(x),
    timestamp: new Date(x.t + shiftMs).toISOString(),
    messageId,
  };
}
