/**
 * Reminders: items the person already looked at, offered again. In e-commerce sessions a large share
 * of next clicks go back to an item of the same session (comparing, returning to a favourite; a third
 * of the next-item targets of the Yoochoose clicks), and session-kNN methods score them ("remind",
 * as in V-STAN). Every other generator leaves the anchors out, so this is the only source of them.
 *
 * An item's score falls with its recency rank r (0 for the most recently viewed distinct item; the
 * context item, when the request names one, counts as the most recent) and grows with how much the
 * person interacted with it in the session:
 *
 *     score = e^(−r / recencyDecay) · (Σ interaction weights)^frequencyExponent
 *
 * Items of earlier sessions (the person's history) follow the same formula with their own recency
 * ranks, scaled by `historyWeight`. An item whose latest interaction removed it from the cart is not
 * offered; the context item never is (it is the page being viewed). Whether a placement reminds at all
 * is its weight for this generator: the recommender also stops demoting the session's items there.
 */
import { showsInterest } from '../query-items.ts';
import { rankOrder } from '../top-k.ts';
import type { Candidate, CandidateGenerator, RecommendQuery, ReasonType, SessionItem } from '../types.ts';

export interface InSessionOptions {
  /** distinct items of the current session considered, most recent first */
  maxItems: number;
  /** recency ranks over which an item's score falls by a factor e */
  recencyDecay: number;
  /** exponent of the item's summed interaction weight: 0 ignores frequency, 1 is proportional */
  frequencyExponent: number;
  /** weight of items of earlier sessions relative to the current session's; 0 leaves them out */
  historyWeight: number;
  /** distinct items of earlier sessions considered, most recent first */
  maxHistoryItems: number;
}

/**
 * A steep recency decay: on Yoochoose the most recent item is the next click 23% of the time, the one
 * before 10%, the third 4% (validation part of the 100k sample); repeated interactions raise that
 * less than in proportion (`kairos tune` chose the exponent 0.25 on that validation part).
 */
export const DEFAULT_IN_SESSION_OPTIONS: InSessionOptions = {
  maxItems: 20,
  recencyDecay: 1,
  frequencyExponent: 0.25,
  historyWeight: 0.25,
  maxHistoryItems: 10,
};

interface Seen {
  itemId: string;
  rank: number;
  weight: number;
  /** the latest interaction with the item removed it (from the cart) */
  removed: boolean;
}

export class InSessionGenerator implements CandidateGenerator {
  readonly name = 'in-session';
  private readonly o: InSessionOptions;

  constructor(options: Partial<InSessionOptions> = {}) {
    this.o = { ...DEFAULT_IN_SESSION_OPTIONS, ...options };
  }

  generate(q: RecommendQuery, limit: number): Candidate[] {
    if (limit <= 0 || (q.session.length === 0 && q.history.length === 0)) return [];
    const taken = new Set<string>();
    if (q.contextItemId !== undefined) taken.add(q.contextItemId);
    // the context item occupies recency rank 0 even when its view was not sent as an event
    const session = walk(q.session, q.session.length, this.o.maxItems, taken, q.contextItemId === undefined ? 0 : 1);
    for (const s of session) taken.add(s.itemId);
    let earlier: Seen[] = [];
    if (this.o.historyWeight > 0) {
      // the stored history ends with the current session: only what came before it is history
      const sessionStart = q.session.length > 0 ? q.session[0]!.t : Infinity;
      let end = q.history.length;
      while (end > 0 && q.history[end - 1]!.t >= sessionStart) end--;
      earlier = walk(q.history, end, this.o.maxHistoryItems, taken, 0);
    }

    const out: Candidate[] = [];
    this.emit(out, session, 1, 'in_session');
    this.emit(out, earlier, this.o.historyWeight, 'viewed_before');
    out.sort((a, b) => rankOrder(a.score, b.score, a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0));
    return out.length > limit ? out.slice(0, limit) : out;
  }

  private emit(out: Candidate[], seen: readonly Seen[], scale: number, type: ReasonType): void {
    for (const s of seen) {
      if (s.removed || !(s.weight > 0)) continue;
      const score = scale * Math.exp(-s.rank / this.o.recencyDecay) * s.weight ** this.o.frequencyExponent;
      if (score > 0) out.push({ itemId: s.itemId, score, reason: { type, itemId: s.itemId } });
    }
  }
}

/**
 * The distinct items of the first `end` interactions of a list, most recent first, at most `max`,
 * skipping `skip`: each with its recency rank (from `firstRank`), summed interest weight and whether
 * its latest interaction was a removal.
 */
function walk(items: readonly SessionItem[], end: number, max: number, skip: ReadonlySet<string>, firstRank: number): Seen[] {
  const out: Seen[] = [];
  const byId = new Map<string, Seen>();
  for (let i = end - 1; i >= 0; i--) {
    const it = items[i]!;
    if (skip.has(it.itemId)) continue;
    const interest = showsInterest(it);
    if (!interest && it.kind !== 'remove') continue;
    let s = byId.get(it.itemId);
    if (!s) {
      if (out.length >= max) continue;
      s = { itemId: it.itemId, rank: firstRank + out.length, weight: 0, removed: it.kind === 'remove' };
      byId.set(it.itemId, s);
      out.push(s);
    }
    if (interest) s.weight += it.weight;
  }
  return out;
}
