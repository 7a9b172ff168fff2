/** The shapes of `POST /v1/decide` (CONTRACT §8), shared by the route, triggers and the benchmark. */
import { Type, type Static } from '@sinclair/typebox';
import { CHANNELS, type Channel } from '../action.ts';
import type { DecidedAction } from '../decision.ts';
import { PersonIdSchema } from '../../ingest/event.ts';
import { stringEnum } from '../schema-details.ts';

const Id = PersonIdSchema;

export const DecideRequestSchema = Type.Object(
  {
    userId: Type.Optional(Id),
    anonymousId: Type.Optional(Id),
    placement: Type.String({ minLength: 1, maxLength: 128 }),
    channel: Type.Optional(stringEnum(CHANNELS)),
    context: Type.Optional(Type.Object({}, { additionalProperties: true })),
    count: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
  },
  { additionalProperties: false },
);
export type DecideRequest = Static<typeof DecideRequestSchema> & { channel?: Channel };

export interface DecideResponse {
  decisionId: string;
  actions: DecidedAction[];
  /** true when the person is in the global holdout: no personalized action is served */
  holdout: boolean;
  experiment?: { id: string; variant: string };
}

/** What `decide` needs from the caller beyond the request. */
export interface DecideOptions {
  /** ms since epoch */
  now: number;
  /** set by triggers: why this decision was made (logged with it) */
  trigger?: string;
}
