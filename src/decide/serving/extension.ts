/**
 * Next-best-action inside the running engine: the actions of a workspace, a LinUCB bandit per
 * placement, the decision log and rewards.
 *
 * Store layout: table `actions`, key = actionId → the action; table `decisions`, key = decisionId →
 * the decision record (who, when, the context vector x, each served action with its propensity, and
 * the best reward seen per action). Decision ids start with the time in base 36, so the table is in
 * time order and pruning reads only its head.
 *
 * The decision log is the source of truth. Exposures (for caps and exclusive groups, across channels
 * and identity merges) are the served actions of a person's records; each bandit is the replay of its
 * placement's records of the learning window: every served action is an observation of reward 0
 * until a reward replaces it (ridge updates are reversible), so a delayed reward corrects the
 * estimate and a duplicated one changes nothing (a record keeps the maximum reward per action).
 * Erasure removes a person's records and subtracts them from the bandit exactly.
 *
 * Consent and identity: a record is learned only while no person it names (any id the request named)
 * has opted out of Personalization. An opt-out subtracts the person's records (as erasure does, but
 * they stay stored); an opt-in adds back those that are learnable (a record made while anyone it
 * names was opted out carries no x and never is). API rewards for a record whose person is opted out
 * are refused. Reward events are kept on the record whoever sent them, and count while their sender
 * is the decision's person (by the merges known now) and was not opted out when sending: a merge or a
 * preference that arrives late rejudges them. The bandit is thus a function of the stored records,
 * the events held and everyone's current preference, whatever order they arrived in, which is what
 * the replay at start rebuilds: it adds every record, and once the events are loaded the workspace
 * has everything judged again.
 *
 * Concurrency: a decision reads the exposures, chooses and appends its own exposures in one
 * synchronous step, before anything awaits, so concurrent requests for one person see each other and
 * caps hold; the answer is sent once the record is durable.
 */
import { createHash, randomBytes } from 'node:crypto';
import { randomToken } from '../../random-ids.ts';
import { addTo, removeFrom } from '../../multimap.ts';
import type { WorkspaceExtension } from '../../engine/engine.ts';
import { namedIds, personOf, requestPersonIds, servedForOf, servedTo, type PersonView, type Workspace } from '../../engine/workspace.ts';
import type { StoredEvent } from '../../ingest/event.ts';
import type { Mutation, Store } from '../../store/types.ts';
import type { ExperimentsExtension, Exposed } from '../../experiments/serving.ts';
import type { ActionRecord, Action, Channel } from '../action.ts';
import { LinUcbBandit, type LinUcbOptions } from '../bandit.ts';
import { exclusivePeriods, exposureRetentionMs, type Exposure } from '../caps.ts';
import type { Facts } from '../conditions.ts';
import { decide as decideCore } from '../decision.ts';
import { buildFeatures, type FeatureSpec, type FeatureVector } from '../features.ts';
import { seededRandom, type Random } from '../random.ts';
import type { DecideOptions, DecideRequest, DecideResponse } from './types.ts';

export interface DecideSettings {
  /** rewards count within this many seconds of the decision */
  attributionWindowSeconds: number;
  /** each placement's policy learns from the decisions of this many days (replayed at start) */
  learningWindowDays: number;
  /** the same person, placement, channel and context keep their actions this long, caps allowing (0 = off) */
  consistencySeconds: number;
  /** the reward an event carrying `properties.decision_id` brings, by event name (others: `defaultReward`; 0 ignores) */
  rewardEvents: Record<string, number>;
  defaultReward: number;
  /** LinUCB options (bandit.ts) */
  bandit: Partial<LinUcbOptions>;
  /** what of the person and request the bandit sees (features.ts); default DEFAULT_FEATURE_SPECS */
  features?: readonly FeatureSpec[];
  /** seeds the policy's random draws (benchmarks, reproducible simulations); default: random per process */
  seed?: string;
}

export const DEFAULT_DECIDE_SETTINGS: DecideSettings = {
  attributionWindowSeconds: 7 * 86_400,
  learningWindowDays: 30,
  consistencySeconds: 300,
  rewardEvents: { 'Promotion Viewed': 0 },
  defaultReward: 1,
  bandit: {},
};

export interface ServedAction {
  actionId: string;
  channel: Channel;
  exclusiveGroup?: string;
  propensity: number;
  explored: boolean;
  /** the decision whose draw this slot repeats (consistency window); rewards go to that draw */
  repeatOf?: string;
}

export interface DecisionRecord {
  decisionId: string;
  placement: string;
  channel?: Channel;
  /** the ids the decision request named (records of earlier versions: every id of the person) */
  ids: string[];
  /**
   * the id the decision was made for: the one of `ids` the person was resolved by (the first the
   * identity graph knew), else the first of them. Whoever holds it now is the person whose profile
   * shaped `x` and the actions; the export shows the content only to them. Absent in records of
   * earlier versions (then the first of `ids` stands for it).
   */
  servedFor?: string;
  /** ms since epoch */
  at: number;
  /** the context vector; absent when the decision may not be learned from (opted-out person) */
  x?: FeatureVector;
  actions: ServedAction[];
  /** the actions the policy could choose from for slot 1 (OPE needs the support) */
  candidates: string[];
  /**
   * best reward per served action that counts now: the larger of `granted` and the credited
   * `outcomes` (what the bandit learned). Stored as judged when the record was last written; the
   * engine judges the outcomes again at start.
   */
  rewards?: Record<string, number>;
  /** rewards given through the API, each judged on consent at its time (like reward events) */
  grants?: RewardGrant[];
  /**
   * best reward per action given through the API, unjudged (records of a few versions; records of
   * earlier versions lack it, `grants` and `outcomes`: then `rewards` stands for it)
   */
  granted?: Record<string, number>;
  /** reward events naming the decision (or passing a reward on to it): whether each counts is judged on the events held */
  outcomes?: RewardEvent[];
  /**
   * set while a person the decision names is opted out of Personalization, or was when it was made
   * (as last judged, like `rewards`): the bandit does not learn from the record, and `kairos ope`
   * skips it
   */
  withheld?: true;
  experiment?: { id: string; variant: string };
  trigger?: string;
  /**
   * what the consistency window compares: the count asked for and a hash of the request's context
   * (absent in records of earlier versions, which then start no window)
   */
  count?: number;
  contextHash?: string;
}

/** An event carrying `properties.decision_id`, kept on the decision it rewards (see DecisionState.outcomeCounts). */
export interface RewardEvent {
  messageId: string;
  /** event time (ms): consent and identity are judged at it */
  t: number;
  /** the ids the event named its sender by */
  userId?: string;
  anonymousId?: string;
  actionId: string;
  value: number;
  /** the ids of the decision the event named, when it passed the reward on to this one (a repeated slot) */
  via?: string[];
}

/** A reward given through the API (`POST /v1/decisions/{id}/reward`), kept with its time. */
export interface RewardGrant {
  /** ms since epoch, when the server took it */
  at: number;
  actionId: string;
  value: number;
  /** the ids of the decision the call named, when it passed the reward on to this one (a repeated slot) */
  via?: string[];
}

/** every id a reward event holds: its sender's, and those of the decision it came through */
const outcomeIds = (o: RewardEvent): string[] => (o.via ? [...namedIds(o), ...o.via] : namedIds(o));

/** a reward per action, read as an own property: an action may be called `constructor` */
const rewardOf = (rewards: Readonly<Record<string, number>> | undefined, actionId: string): number => (rewards !== undefined && Object.hasOwn(rewards, actionId) ? rewards[actionId]! : 0);

/**
 * How many reward events (and, apart, API rewards) one decision keeps: a person clicks, adds and
 * buys, perhaps from two devices. A full decision makes room only for one that counts now, in place
 * of one that does not (roomFor); what counts can then depend on arrival order only when more than
 * this many are credited later.
 */
export const MAX_OUTCOMES_PER_DECISION = 32;

/**
 * The list to keep with `incoming` added: as it is while below MAX_OUTCOMES_PER_DECISION, else
 * without its first entry that does not count now, else (every entry counts, and an action's reward
 * is the largest of its entries) without the smallest entry of the incoming one's action that it
 * outweighs (a purchase after 32 clicks), else without the smallest entry that another entry of its
 * own action outweighs; undefined when there is no such entry (the incoming one could change nothing).
 */
function roomFor<T extends { actionId: string; value: number }>(held: readonly T[], counts: (entry: T) => boolean, incoming: T): readonly T[] | undefined {
  if (held.length < MAX_OUTCOMES_PER_DECISION) return held;
  let out = held.findIndex((h) => !counts(h));
  const smallest = (eligible: (h: T, i: number) => boolean): number => {
    let at = -1;
    held.forEach((h, i) => {
      if (eligible(h, i) && (at < 0 || h.value < held[at]!.value)) at = i;
    });
    return at;
  };
  if (out < 0) out = smallest((h) => h.actionId === incoming.actionId && h.value < incoming.value);
  if (out < 0) out = smallest((h, i) => held.some((o, j) => j !== i && o.actionId === h.actionId && o.value >= h.value));
  return out < 0 ? undefined : held.filter((_, i) => i !== out);
}

export interface RewardOutcome {
  decisionId: string;
  actionId: string;
  reward: number;
  /**
   * false when an equal or larger reward was already recorded (a duplicate or a weaker signal), or
   * when the reward was refused (`reason`)
   */
  applied: boolean;
  /** `opted_out`: a person the decision names has opted out of Personalization: nothing is recorded or learned */
  reason?: 'opted_out';
}

/** What the export shows of a decision made for another person whose request also named this one. */
export interface DecisionStub {
  decisionId: string;
  placement: string;
  channel?: Channel;
  /** only the exported person's own ids */
  ids: string[];
  at: number;
  forAnotherPerson: true;
  /** the reward events this person sent for it */
  outcomes?: RewardEvent[];
}

/** how much earlier than its decision a reward event may be timestamped: client and server clocks differ */
export const REWARD_CLOCK_TOLERANCE_MS = 5 * 60_000;

export class DecideError extends Error {
  constructor(
    readonly kind: 'not_found' | 'expired' | 'bad_action',
    message: string,
  ) {
    super(message);
  }
}

/** Time-ordered, unguessable ids: 9 base-36 digits of ms (good until the year 5188), then 12 random bytes. */
let lastIdMs = -1;
let idsThisMs = 0;
/**
 * `dec_` + 9 base-36 digits of ms + 4 of a per-millisecond sequence + random: ids minted by this
 * process sort in the order they were minted even within one millisecond. Consistency looks for the
 * latest decision by (at, decisionId): with a random tail alone, two decisions in the same
 * millisecond were ordered by chance, and the one before a capped repeat could be taken for the
 * latest.
 */
export function newDecisionId(now: number): string {
  if (now !== lastIdMs) {
    lastIdMs = now;
    idsThisMs = 0;
  } else idsThisMs++;
  return `dec_${now.toString(36).padStart(9, '0')}${idsThisMs.toString(36).padStart(4, '0')}${randomToken(9)}`;
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

const UNIFORM_REASON = { type: 'uniform', text: 'Drawn uniformly at random among the eligible actions (this experiment variant uses the uniform policy)' } as const;

export class DecisionState {
  readonly actions = new Map<string, ActionRecord & { updatedAt: string; createdAt?: string }>();
  private groupPeriods = new Map<string, number>();
  /** how far back exposures can still block something (the longest cap or group period) */
  private exposureHorizon = 0;
  /**
   * per action, when it was created (ms; actions stored by earlier versions: 0): decisions made
   * before it, which served an action of that id deleted since, never teach it
   */
  private readonly createdAt = new Map<string, number>();
  /** placements some action lists */
  private placements = new Set<string>();
  private readonly bandits = new Map<string, LinUcbBandit>();
  /** every retained decision, in time order */
  readonly records = new Map<string, DecisionRecord>();
  /** id → that id's retained decisions */
  private readonly byId = new Map<string, Set<DecisionRecord>>();
  /** id → the retained decisions holding reward events that name it (outcomeIds) */
  private readonly bySender = new Map<string, Set<DecisionRecord>>();
  /** per record, a number that changes with every write of it (Mutation.rev: erasure looks again when it moved) */
  private readonly revs = new WeakMap<DecisionRecord, number>();
  /** records whose rewards or `withheld` changed when judged again: written with the next batch of events (rewardsFrom) */
  private readonly rejudged = new Set<DecisionRecord>();
  /** decisions whose observations are in the bandits (inside the learning window) → the actions learned */
  private readonly learned = new Map<DecisionRecord, string[]>();
  private readonly random: Random;

  constructor(
    readonly ws: Workspace,
    readonly settings: DecideSettings,
    seed: string = randomBytes(8).toString('hex'),
  ) {
    this.random = seededRandom(seed);
  }

  banditOf(placement: string): LinUcbBandit {
    let b = this.bandits.get(placement);
    if (!b) this.bandits.set(placement, (b = new LinUcbBandit(this.settings.bandit)));
    return b;
  }

  setAction(rec: ActionRecord & { updatedAt: string; createdAt?: string }): void {
    this.actions.set(rec.actionId, rec);
    this.createdAt.set(rec.actionId, rec.createdAt === undefined ? 0 : Date.parse(rec.createdAt));
    this.actionsChanged();
  }

  private actionsChanged(): void {
    const actions = [...this.actions.values()];
    this.groupPeriods = exclusivePeriods(actions);
    this.exposureHorizon = exposureRetentionMs(actions, this.groupPeriods);
    this.placements = new Set(actions.flatMap((a) => a.placements));
  }

  removeAction(actionId: string): void {
    this.actions.delete(actionId);
    this.createdAt.delete(actionId);
    this.actionsChanged();
    for (const b of this.bandits.values()) b.removeAction(actionId);
    for (const [rec, ids] of this.learned) if (ids.includes(actionId)) this.learned.set(rec, ids.filter((id) => id !== actionId));
  }

  /** how long records must be kept: caps, exclusive groups, attribution, learning, consistency */
  retentionMs(): number {
    const actions = [...this.actions.values()];
    return Math.max(
      exposureRetentionMs(actions, this.groupPeriods),
      this.settings.attributionWindowSeconds * 1000,
      this.settings.learningWindowDays * 86_400_000,
      this.settings.consistencySeconds * 1000,
    );
  }

  /**
   * Adds a record (new or read back at start) to memory, and its observations to the bandit unless it
   * is withheld (at start nobody is known yet: once the events are loaded the workspace has every
   * record judged again, which subtracts those of opted-out people).
   */
  add(rec: DecisionRecord, now: number): void {
    this.records.set(rec.decisionId, rec);
    for (const id of rec.ids) addTo(this.byId, id, rec);
    this.index(rec);
    if (now - rec.at < this.settings.learningWindowDays * 86_400_000 && !this.withheld(rec)) this.learn(rec, +1);
  }

  /**
   * What may be credited to these people changed (a merge, a preference, retention; undefined:
   * everyone, once the stored events are loaded): the reward events they sent or that name their
   * decisions are judged again, and their records leave the bandits while anyone they name is opted
   * out, and come back (inside the learning window) once nobody is. Idempotent: `learned` says what
   * is in the bandits, so the bandits depend on the events held, not on the order they arrived in.
   */
  attributionChanged(ids: readonly string[] | undefined, now: number): void {
    const learning = this.settings.learningWindowDays * 86_400_000;
    const records = ids === undefined ? [...this.records.values()] : [...new Set([...this.recordsOf(ids), ...this.rewardedBy(ids)])].sort((a, b) => a.at - b.at || (a.decisionId < b.decisionId ? -1 : 1));
    for (const rec of records) {
      if ((rec.outcomes !== undefined || rec.grants !== undefined) && this.setRewards(rec, this.countedRewards(rec))) this.rejudged.add(rec);
      const optedOut = this.withheld(rec);
      if (optedOut !== (rec.withheld === true)) {
        if (optedOut) rec.withheld = true;
        else delete rec.withheld;
        this.rejudged.add(rec);
      }
      if (optedOut) this.learn(rec, -1);
      else if (now - rec.at < learning) this.learn(rec, +1);
    }
  }

  /**
   * Whether the bandit may not learn from a record: someone it names is opted out now, or was when
   * it was made (by event time: an opt-out dated before the decision that arrives after it counts)
   */
  private withheld(rec: DecisionRecord): boolean {
    return this.ws.anyOptedOut(rec.ids) || this.ws.optedOutAt(rec.ids, rec.at);
  }

  /** rewards of records of earlier versions, which were not judged again (see DecisionRecord.granted) */
  private granted(rec: DecisionRecord): Record<string, number> {
    return rec.granted ?? (rec.outcomes === undefined && rec.grants === undefined ? (rec.rewards ?? {}) : {});
  }

  /** whether an API reward counts: nobody the decision (or the one it came through) names had opted out when it was given */
  private grantCounts(rec: DecisionRecord, g: RewardGrant): boolean {
    return !this.ws.optedOutAt(g.via ? [...rec.ids, ...g.via] : rec.ids, g.at);
  }

  /**
   * Whether a reward event counts: its sender is the decision's person (the one it passed the reward
   * on through, for a repeated slot), by the merges known now, and it was not sent while they had opted
   * out (Workspace.attributable).
   */
  private outcomeCounts(rec: DecisionRecord, o: RewardEvent): boolean {
    return this.ws.attributable(o.via ?? rec.ids, { messageId: o.messageId, timestamp: o.t, ...(o.userId !== undefined ? { userId: o.userId } : {}), ...(o.anonymousId !== undefined ? { anonymousId: o.anonymousId } : {}) });
  }

  /** the best reward per action that counts now: API rewards and credited reward events */
  private countedRewards(rec: DecisionRecord): Record<string, number> | undefined {
    const out: Record<string, number> = { ...this.granted(rec) };
    for (const g of rec.grants ?? []) if (g.value > rewardOf(out, g.actionId) && this.grantCounts(rec, g)) out[g.actionId] = g.value;
    for (const o of rec.outcomes ?? []) if (o.value > rewardOf(out, o.actionId) && this.outcomeCounts(rec, o)) out[o.actionId] = o.value;
    return Object.keys(out).length > 0 ? out : undefined;
  }

  /** replaces a record's rewards, keeping the bandit in step; returns whether they changed */
  private setRewards(rec: DecisionRecord, rewards: Record<string, number> | undefined): boolean {
    const old = rec.rewards ?? {};
    const next = rewards ?? {};
    const keys = new Set([...Object.keys(old), ...Object.keys(next)]);
    if ([...keys].every((k) => old[k] === next[k])) return false;
    const wasLearned = this.learned.has(rec);
    if (wasLearned) this.learn(rec, -1);
    if (rewards === undefined) delete rec.rewards;
    else rec.rewards = rewards;
    if (wasLearned) this.learn(rec, +1);
    return true;
  }

  /** the records whose reward events or API rewards hold one of these ids (rewardIds) */
  private rewardedBy(ids: readonly string[]): DecisionRecord[] {
    const out = new Set<DecisionRecord>();
    for (const id of ids) for (const rec of this.bySender.get(id) ?? []) out.add(rec);
    return [...out];
  }

  /**
   * Adds (+1) or withdraws (−1) a record's observations: its reward (or 0) for each freshly drawn
   * action. What was added is remembered, so withdrawing subtracts exactly that even if the action
   * was deleted (and its model dropped) or re-created meanwhile.
   */
  private learn(rec: DecisionRecord, sign: 1 | -1): void {
    const bandit = this.banditOf(rec.placement);
    if (sign === 1) {
      // a record made under another `dims` setting has vectors of another length: it cannot teach
      // this bandit (kairos ope still reads it)
      if (rec.x === undefined || rec.x.length !== bandit.options.dims || this.learned.has(rec)) return;
      // an action deleted and created again starts afresh, now as after a restart
      const ids = rec.actions.filter((a) => a.repeatOf === undefined && this.actions.has(a.actionId) && rec.at >= (this.createdAt.get(a.actionId) ?? 0)).map((a) => a.actionId);
      for (const id of ids) bandit.update(id, rec.x, rewardOf(rec.rewards, id));
      this.learned.set(rec, ids);
    } else {
      const ids = this.learned.get(rec);
      if (ids === undefined) return;
      for (const id of ids) bandit.forget(id, rec.x!, rewardOf(rec.rewards, id));
      this.learned.delete(rec);
    }
  }

  private drop(rec: DecisionRecord): void {
    this.learn(rec, -1);
    this.rejudged.delete(rec);
    this.records.delete(rec.decisionId);
    for (const id of rec.ids) removeFrom(this.byId, id, rec);
    this.unindex(rec);
  }

  /** the write of a record, with a new rev */
  private put(rec: DecisionRecord): Mutation {
    const rev = (this.revs.get(rec) ?? 0) + 1;
    this.revs.set(rec, rev);
    return { table: 'decisions', key: rec.decisionId, value: rec, rev };
  }

  /** replaces a record's reward events, keeping the index of the ids they hold in step */
  private setOutcomes(rec: DecisionRecord, outcomes: RewardEvent[]): void {
    this.keepEarlierRewards(rec);
    this.unindex(rec);
    rec.outcomes = outcomes;
    this.index(rec);
  }

  /** replaces a record's API rewards, keeping the index of the ids they hold in step */
  private setGrants(rec: DecisionRecord, grants: RewardGrant[]): void {
    this.keepEarlierRewards(rec);
    this.unindex(rec);
    rec.grants = grants;
    this.index(rec);
  }

  /**
   * A record of an earlier version, whose `rewards` were never judged again, keeps them as `granted`
   * once it holds reward events or API rewards (which `granted()` then reads instead)
   */
  private keepEarlierRewards(rec: DecisionRecord): void {
    if (rec.granted === undefined && rec.outcomes === undefined && rec.grants === undefined && rec.rewards !== undefined) rec.granted = { ...rec.rewards };
  }

  /** the ids a record's rewards hold besides its own: senders of reward events, and decisions passed through */
  private static rewardIds(rec: DecisionRecord): string[] {
    const out: string[] = [];
    for (const o of rec.outcomes ?? []) out.push(...outcomeIds(o));
    for (const g of rec.grants ?? []) if (g.via) out.push(...g.via);
    return out;
  }

  private index(rec: DecisionRecord): void {
    for (const id of DecisionState.rewardIds(rec)) addTo(this.bySender, id, rec);
  }

  private unindex(rec: DecisionRecord): void {
    for (const id of DecisionState.rewardIds(rec)) removeFrom(this.bySender, id, rec);
  }

  /**
   * One pass over the person's retained decisions, across all their ids: every exposure (for caps
   * and exclusive groups), and the latest decision for the same placement, channel, count and context
   * inside the consistency window (read from the records, so the window holds across restarts and
   * across the person's ids).
   */
  private pastDecisions(ids: Iterable<string>, placement: string, channel: string | undefined, count: number, contextHash: string, now: number): { exposures: Exposure[]; last: DecisionRecord | undefined } {
    const window = this.settings.consistencySeconds * 1000;
    // older records can neither block anything nor be repeated: a person's long past costs nothing
    const horizon = Math.max(this.exposureHorizon, window);
    const seen = new Set<DecisionRecord>();
    const exposures: Exposure[] = [];
    let last: DecisionRecord | undefined;
    for (const id of ids) {
      for (const rec of this.byId.get(id) ?? []) {
        if (!(now - rec.at < horizon) || seen.has(rec)) continue;
        seen.add(rec);
        for (const a of rec.actions) exposures.push({ actionId: a.actionId, channel: a.channel, t: rec.at, ...(a.exclusiveGroup !== undefined ? { exclusiveGroup: a.exclusiveGroup } : {}) });
        if (rec.contextHash !== contextHash || rec.placement !== placement || rec.channel !== channel || rec.count !== count || !(now - rec.at < window)) continue;
        if (last === undefined || rec.at > last.at || (rec.at === last.at && rec.decisionId > last.decisionId)) last = rec;
      }
    }
    return { exposures, last };
  }

  /**
   * Drops what fell out of the windows: records past retention leave memory (their store keys are
   * returned for deletion), records past the learning window leave the bandits.
   */
  prune(now: number): Mutation[] {
    const retention = this.retentionMs();
    const learning = this.settings.learningWindowDays * 86_400_000;
    const deletions: Mutation[] = [];
    for (const rec of this.records.values()) {
      const age = now - rec.at;
      if (age < Math.min(retention, learning)) break;
      if (age >= retention) {
        this.drop(rec);
        deletions.push({ table: 'decisions', key: rec.decisionId });
      } else this.learn(rec, -1);
    }
    return deletions;
  }

  /**
   * One decision, synchronously: choose, log and count the exposures. Returns the response and the
   * record to store; the caller answers once it is durable.
   */
  decide(req: DecideRequest, view: PersonView | undefined, exposed: Exposed | undefined, options: DecideOptions): { response: DecideResponse; record?: DecisionRecord } {
    const now = options.now;
    const decisionId = newDecisionId(now);
    const experiment = exposed ? { experiment: exposed.experiment } : {};
    if (exposed?.holdout) return { response: { decisionId, actions: [], holdout: true, ...experiment } };
    // no action lists the placement: nothing to choose, and no bandit kept for a name anyone can make up
    if (!this.placements.has(req.placement)) return { response: { decisionId, actions: [], holdout: false, ...experiment } };
    // every id of the person and every id the request named: a request may name an id the graph
    // has not linked to the person (yet), whose earlier decisions count for caps and consistency too
    const named = namedIds(req);
    const ids = requestPersonIds(view, named);
    const personalized = view?.personalization !== false;
    // the decision is learnable only while nobody it names has opted out (else it carries no x, and
    // stays unlearned even after an opt-in: what is sent while opted out never counts)
    const learnable = personalized && !this.ws.anyOptedOut(named);
    // the request's channel is part of the context the policy sees, unless the context names one
    const facts: Facts = { context: req.channel !== undefined && !Object.hasOwn(req.context ?? {}, 'channel') ? { ...req.context, channel: req.channel } : (req.context ?? {}) };
    if (personalized && view) {
      const profile = this.ws.profile(view.root, now);
      if (profile) Object.assign(facts, { traits: profile.traits, features: profile.features, segments: profile.segments });
    }
    const bandit = this.banditOf(req.placement);
    const x = buildFeatures(facts, { dims: bandit.options.dims, ...(this.settings.features ? { specs: this.settings.features } : {}) });
    const count = req.count ?? 1;
    const contextHash = createHash('sha256').update(stableJson(req.context ?? {})).digest('base64url');
    const { exposures, last } = this.pastDecisions(ids, req.placement, req.channel, count, contextHash, now);
    const consistent = last !== undefined;
    const uniform = exposed?.config.policy === 'uniform';
    const policy = uniform ? new LinUcbBandit({ ...bandit.options, epsilon: 1 }) : bandit;
    const decision = decideCore(
      {
        placement: req.placement,
        count,
        now,
        facts,
        x,
        exposures,
        ...(req.channel !== undefined ? { channel: req.channel } : {}),
        ...(consistent ? { preferred: last.actions.map((a) => a.actionId) } : {}),
      },
      { actions: [...this.actions.values()], bandit: policy, random: this.random, groupPeriods: this.groupPeriods },
    );
    if (uniform) {
      // the uniform policy's draws owe nothing to the value estimate: say so, and score them with the
      // placement's estimate rather than the throwaway uniform bandit's prior
      for (const d of decision.actions) {
        if (d.repeated) continue;
        d.score = bandit.expectedReward(d.actionId, x) * (this.actions.get(d.actionId)?.value ?? 1);
        d.explored = true;
        d.reasons = [...d.reasons.filter((r) => r.type === 'eligible'), { ...UNIFORM_REASON }];
      }
    }
    const response: DecideResponse = { decisionId, actions: decision.actions.map(({ repeated: _, ...a }) => a), holdout: false, ...experiment };
    if (decision.actions.length === 0) return { response };
    const candidates = decision.firstSlotCandidates;
    const record: DecisionRecord = {
      decisionId,
      placement: req.placement,
      // the ids the request named, not every id of the person (who may have thousands): look-ups
      // (exposures, erasure, export) go through all of the person's ids anyway
      ids: named,
      servedFor: servedForOf(view, named),
      at: now,
      actions: decision.actions.map((d) => {
        const a = this.actions.get(d.actionId)!;
        const source = d.repeated ? (last!.actions.find((p) => p.actionId === d.actionId)?.repeatOf ?? last!.decisionId) : undefined;
        return {
          actionId: d.actionId,
          channel: a.channel,
          propensity: d.propensity,
          explored: d.explored,
          ...(a.exclusiveGroup !== undefined ? { exclusiveGroup: a.exclusiveGroup } : {}),
          ...(source !== undefined ? { repeatOf: source } : {}),
        };
      }),
      candidates,
      ...(req.channel !== undefined ? { channel: req.channel } : {}),
      ...(learnable ? { x } : {}),
      ...(exposed ? { experiment: exposed.experiment } : {}),
      ...(options.trigger !== undefined ? { trigger: options.trigger } : {}),
      count,
      contextHash,
    };
    this.add(record, now);
    return { response, record };
  }

  /**
   * Records a reward given through the API (the maximum per action is kept). A slot that repeated an
   * earlier draw passes the reward on to that draw, which is what the policy learned from. While a
   * person the decision names is opted out of Personalization the reward is refused (`applied:
   * false`, reason `opted_out`): not stored, so not learned after an opt-in either.
   */
  reward(decisionId: string, value: number, now: number, actionId?: string): { outcome: RewardOutcome; writes: Mutation[] } {
    const rec = this.records.get(decisionId);
    if (!rec) throw new DecideError('not_found', `no decision "${decisionId}" (unknown, or older than the retention window)`);
    if (now - rec.at > this.settings.attributionWindowSeconds * 1000) {
      throw new DecideError('expired', `decision "${decisionId}" is older than the attribution window (${this.settings.attributionWindowSeconds} s)`);
    }
    const served = actionId === undefined ? rec.actions[0] : rec.actions.find((a) => a.actionId === actionId);
    if (!served) throw new DecideError('bad_action', `decision "${decisionId}" did not serve action "${actionId}"`);
    const writes: Mutation[] = [];
    if (this.ws.anyOptedOut(rec.ids)) {
      return { outcome: { decisionId, actionId: served.actionId, reward: rewardOf(rec.rewards, served.actionId), applied: false, reason: 'opted_out' }, writes };
    }
    const applied = this.grant(rec, { at: now, actionId: served.actionId, value }, writes);
    if (served.repeatOf !== undefined) {
      const source = this.records.get(served.repeatOf);
      if (source && source.actions.some((a) => a.actionId === served.actionId) && !this.ws.anyOptedOut(source.ids)) this.grant(source, { at: now, actionId: served.actionId, value, via: rec.ids }, writes);
    }
    // the reward that counts for the action now (not the one asked for, when it was not kept)
    return { outcome: { decisionId, actionId: served.actionId, reward: rewardOf(rec.rewards, served.actionId), applied }, writes };
  }

  /**
   * Keeps an API reward (unless one at least as large for the action that counts is held already,
   * or the record holds MAX_OUTCOMES_PER_DECISION grants that all count); returns whether the reward
   * that counts rose.
   */
  private grant(rec: DecisionRecord, g: RewardGrant, writes: Mutation[]): boolean {
    const held = rec.grants ?? [];
    if (held.some((h) => h.actionId === g.actionId && h.value >= g.value && this.grantCounts(rec, h))) return false;
    const kept = roomFor(held, (h) => this.grantCounts(rec, h), g);
    if (kept === undefined) return false;
    const before = rewardOf(rec.rewards, g.actionId);
    this.setGrants(rec, [...kept, g]);
    this.setRewards(rec, this.countedRewards(rec));
    writes.push(this.put(rec));
    return rewardOf(rec.rewards, g.actionId) > before;
  }

  /**
   * Reward events: events carrying `properties.decision_id` (and optionally `action_id`), within the
   * attribution window (on event time, so a late-arriving click still counts where it happened; an
   * event from before the decision cannot answer it, beyond what clocks may disagree by), naming an
   * action the decision served. Each is kept on the decision (and on the draw a repeated slot passes
   * it on to) whoever sent it; whether it counts is judged on the events held (outcomeCounts), now
   * and again whenever a merge or a preference may change that (attributionChanged).
   */
  rewardsFrom(events: readonly StoredEvent[]): Mutation[] {
    const writes: Mutation[] = [...this.rejudged].map((rec) => this.put(rec));
    this.rejudged.clear();
    for (const e of events) {
      if (e.type !== 'track' || e.event === undefined) continue;
      const props = e.properties as Record<string, unknown> | undefined;
      const decisionId = props?.decision_id;
      if (typeof decisionId !== 'string') continue;
      const value = (Object.hasOwn(this.settings.rewardEvents, e.event) ? this.settings.rewardEvents[e.event] : undefined) ?? this.settings.defaultReward;
      if (!(value > 0)) continue;
      const rec = this.records.get(decisionId);
      if (!rec || e.timestamp - rec.at > this.settings.attributionWindowSeconds * 1000 || rec.at - e.timestamp > REWARD_CLOCK_TOLERANCE_MS) continue;
      const actionId = typeof props?.action_id === 'string' ? props.action_id : undefined;
      const served = actionId === undefined ? rec.actions[0] : rec.actions.find((a) => a.actionId === actionId);
      if (!served) continue; // an action the decision did not serve: not attributable
      const o: RewardEvent = {
        messageId: e.messageId,
        // the event's own time: consent and identity are judged at it
        t: e.timestamp,
        ...(e.userId !== undefined ? { userId: e.userId } : {}),
        ...(e.anonymousId !== undefined ? { anonymousId: e.anonymousId } : {}),
        actionId: served.actionId,
        value,
      };
      this.keep(rec, o, writes);
      const source = served.repeatOf === undefined ? undefined : this.records.get(served.repeatOf);
      if (source && source.actions.some((a) => a.actionId === served.actionId)) this.keep(source, { ...o, via: rec.ids }, writes);
    }
    return writes;
  }

  /**
   * Keeps a reward event on a decision (unless held already) and judges it. A decision holding
   * MAX_OUTCOMES_PER_DECISION makes room only for an event that counts now, in place of one that
   * does not: strangers quoting a decision id cannot crowd out the person's own click.
   */
  private keep(rec: DecisionRecord, o: RewardEvent, writes: Mutation[]): void {
    const held = rec.outcomes ?? [];
    if (held.some((h) => h.messageId === o.messageId && h.actionId === o.actionId)) return;
    if (held.length >= MAX_OUTCOMES_PER_DECISION && !this.outcomeCounts(rec, o)) return;
    const kept = roomFor(held, (h) => this.outcomeCounts(rec, h), o);
    if (kept === undefined) return;
    this.setOutcomes(rec, [...kept, o]);
    this.setRewards(rec, this.countedRewards(rec));
    writes.push(this.put(rec));
  }

  private recordsOf(ids: readonly string[]): DecisionRecord[] {
    const out = new Set<DecisionRecord>();
    for (const id of ids) for (const rec of this.byId.get(id) ?? []) out.add(rec);
    return [...out];
  }

  /**
   * An erasure deletes the person's decisions, and takes the reward events they sent out of other
   * people's decisions (which are rewritten without them).
   */
  deletions(ids: readonly string[]): Mutation[] {
    const { own, others, gone } = this.erasing(ids);
    return [
      ...own.map((r): Mutation => ({ table: 'decisions', key: r.decisionId, rev: this.revs.get(r) })),
      ...others.map((r): Mutation => {
        const { rewards: _, outcomes: __, grants: ___, ...rest } = r;
        const without = this.withoutIdsOf(r, gone);
        return { table: 'decisions', key: r.decisionId, value: { ...rest, ...without }, rev: this.revs.get(r) };
      }),
    ];
  }

  forget(ids: readonly string[]): void {
    const { own, others, gone } = this.erasing(ids);
    for (const rec of own) this.drop(rec);
    for (const rec of others) {
      const { outcomes, grants, rewards } = this.withoutIdsOf(rec, gone);
      this.setOutcomes(rec, outcomes);
      this.setGrants(rec, grants);
      this.setRewards(rec, rewards);
    }
  }

  /** what erasing a person touches: their decisions, and other people's that hold one of their ids in a reward */
  private erasing(ids: readonly string[]): { own: DecisionRecord[]; others: DecisionRecord[]; gone: ReadonlySet<string> } {
    const own = this.recordsOf(ids);
    const mine = new Set(own);
    return { own, others: this.rewardedBy(ids).filter((rec) => !mine.has(rec)), gone: new Set(ids) };
  }

  /** a record's reward events and API rewards without those holding these ids, and the rewards that then count */
  private withoutIdsOf(rec: DecisionRecord, gone: ReadonlySet<string>): { outcomes: RewardEvent[]; grants: RewardGrant[]; rewards?: Record<string, number> } {
    const outcomes = (rec.outcomes ?? []).filter((o) => !outcomeIds(o).some((id) => gone.has(id)));
    const grants = (rec.grants ?? []).filter((g) => !g.via?.some((id) => gone.has(id)));
    const rewards = this.countedRewards({ ...rec, outcomes, grants });
    return { outcomes, grants, ...(rewards !== undefined ? { rewards } : {}) };
  }

  /**
   * export: the decisions whose requests named one of the person's `ids` (all of them), showing only
   * their own ids. A decision made for another person (the request also named someone the identity
   * graph does not link to this one) shows only that it happened: its x, actions and rewards came
   * from the other person's profile.
   */
  of(ids: readonly string[]): Array<DecisionRecord | DecisionStub> {
    const own = new Set(ids);
    return [...new Set([...this.recordsOf(ids), ...this.rewardedBy(ids)])]
      .sort((a, b) => a.at - b.at || (a.decisionId < b.decisionId ? -1 : 1))
      .map((rec) => {
        const mine = rec.ids.filter((id) => own.has(id));
        // reward events sent by someone else are theirs: only the rewards they led to are shown
        const outcomes = rec.outcomes?.filter((o) => namedIds(o).some((id) => own.has(id))).map(({ via: _, ...o }) => o);
        if (own.has(servedTo(rec))) {
          const grants = rec.grants?.map(({ via: _, ...g }) => g);
          return { ...rec, ids: mine, ...(outcomes !== undefined ? { outcomes } : {}), ...(grants !== undefined ? { grants } : {}) };
        }
        // another person's decision: that it happened, and the reward events this person sent for it
        return {
          decisionId: rec.decisionId,
          placement: rec.placement,
          ...(rec.channel !== undefined ? { channel: rec.channel } : {}),
          ids: mine,
          at: rec.at,
          forAnotherPerson: true as const,
          ...(outcomes?.length ? { outcomes } : {}),
        };
      });
  }
}

export class DecisionsExtension implements WorkspaceExtension {
  private readonly states = new WeakMap<Workspace, DecisionState>();
  private store?: Store;
  private timer?: NodeJS.Timeout;
  private readonly attached: Workspace[] = [];

  constructor(
    readonly settings: DecideSettings = DEFAULT_DECIDE_SETTINGS,
    private readonly experiments?: ExperimentsExtension,
    /** how often retention is enforced while running */
    private readonly pruneEveryMs = 3_600_000,
  ) {}

  async attach(ws: Workspace, store: Store): Promise<void> {
    this.store = store;
    const state = new DecisionState(ws, this.settings, this.settings.seed === undefined ? undefined : `${this.settings.seed}:${ws.id}`);
    for await (const [actionId, a] of store.scan<Action & { updatedAt: string; createdAt?: string }>(ws.id, 'actions')) state.setAction({ ...a, actionId });
    const now = Date.now();
    for await (const [, rec] of store.scan<DecisionRecord>(ws.id, 'decisions')) state.add(rec, now);
    const expired = state.prune(now);
    if (expired.length) await store.commit(ws.id, expired);
    ws.onApplied((events) => {
      const writes = state.rewardsFrom(events);
      return writes.length ? store.commit(ws.id, writes) : undefined;
    });
    ws.onForget(
      (ids) => state.forget(ids),
      (ids) => state.deletions(ids),
    );
    ws.onAttributionChange((ids) => state.attributionChanged(ids, Date.now()));
    this.states.set(ws, state);
    this.attached.push(ws);
    if (!this.timer && this.pruneEveryMs > 0) {
      this.timer = setInterval(() => void this.pruneAll(), this.pruneEveryMs);
      this.timer.unref();
    }
  }

  private async pruneAll(): Promise<void> {
    for (const ws of this.attached) {
      const writes = this.stateOf(ws).prune(Date.now());
      if (writes.length) await this.store!.commit(ws.id, writes).catch(() => undefined);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  stateOf(ws: Workspace): DecisionState {
    const s = this.states.get(ws);
    if (!s) throw new Error(`workspace ${ws.id} has no decisions`);
    return s;
  }

  async putAction(ws: Workspace, actionId: string, action: Action, now: number): Promise<ActionRecord & { updatedAt: string; createdAt?: string }> {
    const updatedAt = new Date(now).toISOString();
    // an edit keeps the action's history; one deleted and created again starts afresh (learn())
    const existing = this.stateOf(ws).actions.get(actionId);
    const createdAt = existing ? existing.createdAt : updatedAt;
    const stored = { ...action, updatedAt, ...(createdAt !== undefined ? { createdAt } : {}) };
    const rec = { ...stored, actionId };
    await this.store!.commit(ws.id, [{ table: 'actions', key: actionId, value: stored }]);
    this.stateOf(ws).setAction(rec);
    return rec;
  }

  async deleteAction(ws: Workspace, actionId: string): Promise<boolean> {
    const state = this.stateOf(ws);
    if (!state.actions.has(actionId)) return false;
    await this.store!.commit(ws.id, [{ table: 'actions', key: actionId }]);
    state.removeAction(actionId);
    return true;
  }

  /** `POST /v1/decide`: answers once the decision (and any first experiment exposure) is durable. */
  async decide(ws: Workspace, req: DecideRequest, options: DecideOptions): Promise<DecideResponse> {
    const view = personOf(ws, req);
    const { exposed, writes } = this.experiments?.stateOf(ws).expose(view, namedIds(req), req.placement, options.now) ?? { writes: [] };
    const { response, record } = this.stateOf(ws).decide(req, view, exposed, options);
    const all: Mutation[] = record ? [...writes, { table: 'decisions', key: record.decisionId, value: record }] : writes;
    if (all.length) await this.store!.commit(ws.id, all);
    return response;
  }

  async reward(ws: Workspace, decisionId: string, value: number, now: number, actionId?: string): Promise<RewardOutcome> {
    const { outcome, writes } = this.stateOf(ws).reward(decisionId, value, now, actionId);
    if (writes.length) await this.store!.commit(ws.id, writes);
    return outcome;
  }
}
