/**
 * Consent at event level (Segment's consent spec). The person's Personalization preference is the
 * latest one stated by event time; an event is usable when the preference in force at its time
 * (its own, if it states one) is not false, and nothing of a person is usable while their current
 * preference is false. So opting out takes effect at once and opting back in never revives the
 * events sent while opted out.
 */
import type { EventSummary } from '../identity/timeline.ts';

export interface ConsentView {
  /** events that may shape personalization, in time order */
  usable: EventSummary[];
  /** the latest stated preference, undefined when the person never stated one */
  personalization?: boolean;
}

/** `statesPreference`: whether any event states a preference, when the caller keeps count (else scanned) */
export function consentView(events: readonly EventSummary[], statesPreference = events.some((e) => e.personalization !== undefined)): ConsentView {
  // the common case, nobody ever stated a preference: everything is usable, no copy needed
  if (!statesPreference) return { usable: events as EventSummary[] };
  let state: boolean | undefined;
  const usable: EventSummary[] = [];
  for (const e of events) {
    if (e.personalization !== undefined) state = e.personalization;
    if (state !== false) usable.push(e);
  }
  if (state === false) return { usable: [], personalization: false };
  return { usable, ...(state !== undefined ? { personalization: state } : {}) };
}
