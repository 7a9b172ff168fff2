/**
 * The serving state of one workspace: identities, per-person timelines, the catalog and the models.
 * Everything here is derived from durable records (events, items) and rebuilt from them at start;
 * the ingestion pipeline applies an event here only after it is durable.
 *
 * Models see a person through their usable sessions. Whenever a person changes (new or late event,
 * identity merge, consent change, erasure) the person's sessions are recomputed and the models get
 * removeSession/addSession for exactly the sessions that changed.
 */
import type { TuningConfig } from '../config.ts';
import { Catalog } from '../catalog/catalog.ts';
import { consentView } from '../features/consent.ts';
import { personFeatures, segmentsOf, type PersonFeatures } from '../features/person-features.ts';
import { changeOf, itemInteractions, itemsAppended, itemsOf, recordOf, sessionEndOf } from '../features/sessions.ts';
import { IdentityGraph } from '../identity/identity-graph.ts';
import { firstAfter, Timeline, type EventSummary } from '../identity/timeline.ts';
import { idsOf, personalizationPreference, type StoredEvent } from '../ingest/event.ts';
import { interactionsOf } from '../ingest/interactions.ts';
import { MessageLedger, messageIdKey } from '../ingest/message-ledger.ts';
import type { SessionChange, SessionItem, SessionModel, SessionRecord } from '../recommend/types.ts';
import type { Mutation } from '../store/types.ts';
import { entryOf } from '../multimap.ts';

export interface Profile {
  userId: string | null;
  anonymousIds: string[];
  traits: Record<string, unknown>;
  consent: { categoryPreferences?: Record<string, boolean> };
  features: PersonFeatures;
  segments: string[];
  eventCount: number;
}

/** What serving needs to know about a person, computed once per change. */
export interface PersonView {
  root: string;
  ids: ReadonlySet<string>;
  events: readonly EventSummary[];
  usable: readonly EventSummary[];
  personalization?: boolean;
  /** memo of purchasesOf (a view lasts until the person's next event) */
  purchases?: ReadonlySet<string>;
  /**
   * memo of historyOf for one limit, for people with a long history: every request for them reads the
   * same recent history, and building it is what costs (a short one is cheaper to build than to keep)
   */
  history?: { limit: number; items: readonly SessionItem[] };
  /** memo of profile() for people with a long history, and the time it was computed for */
  profile?: { at: number; value: Profile };
}

/** the shortest history worth keeping between requests: ~200 items take ~60 µs to build */
export const HISTORY_MEMO_MIN = 200;

/**
 * A profile of a person with at least HISTORY_MEMO_MIN events is reused for this long while nothing
 * about them changes: computing it reads every event (tens of milliseconds for tens of thousands),
 * and every /v1/decide for them asks for it. Its time-dependent figures (decayed affinities, days
 * since) move by a millionth in a second.
 */
export const PROFILE_MEMO_MS = 1000;

/** The ids a request or an event names a person by. */
export function namedIds(x: { userId?: string; anonymousId?: string }): string[] {
  const ids: string[] = [];
  if (x.userId !== undefined) ids.push(x.userId);
  if (x.anonymousId !== undefined && x.anonymousId !== x.userId) ids.push(x.anonymousId);
  return ids;
}

/** A person's ids when the identity graph knows them, else the ids the request names. */
export const personIds = (view: PersonView | undefined, req: { userId?: string; anonymousId?: string }): string[] => (view ? [...view.ids] : namedIds(req));

/**
 * Every id of the person and every id the request named, the person's first: a request may name an
 * id the graph has not linked to them (yet), whose past (exposures, decisions) is theirs too.
 */
export const requestPersonIds = (view: PersonView | undefined, named: readonly string[]): string[] =>
  view ? [...view.ids, ...named.filter((id) => !view.ids.has(id))] : [...named];

/** The id among a request's named ids that its person was resolved by (personOf), else the first. */
export const servedForOf = (view: PersonView | undefined, named: readonly string[]): string => (view ? named.find((id) => view.ids.has(id)) : undefined) ?? named[0]!;

/** Whom a stored impression or decision was served for (records of earlier versions: their first id). */
export const servedTo = (rec: { servedFor?: string; ids: readonly string[] }): string => rec.servedFor ?? rec.ids[0]!;

/** The root of the person a request or event names: the first of its ids the identity graph knows. */
export function rootOfNamed(ws: Workspace, req: { userId?: string; anonymousId?: string }): string | undefined {
  return (req.userId !== undefined ? ws.rootOf(req.userId) : undefined) ?? (req.anonymousId !== undefined ? ws.rootOf(req.anonymousId) : undefined);
}

/** The person a request names: the first of its ids the identity graph knows. */
export function personOf(ws: Workspace, req: { userId?: string; anonymousId?: string }): PersonView | undefined {
  const root = rootOfNamed(ws, req);
  return root === undefined ? undefined : ws.viewOf(root);
}

interface Contribution {
  record: SessionRecord;
  /** while contribute runs: the held contribution this one replaces, when it is not found by key */
  replaces?: Contribution;
  /** while contribute runs: how the record differs from the one it replaces, when known as it is made */
  change?: SessionChange;
  /** while contribute runs: replaced by a contribution with another key (an event before its first one) */
  replaced?: true;
}

/** up to this many contributions are searched by key in place; past it a Map or Set is built */
const LINEAR_SEARCH_MAX = 8;

/**
 * The held session `list[from..]` whose first event lies in [start, end] (a new session that took
 * an earlier event, or bridged two: then the one with the most items), which the new one replaces.
 * The list is in order of start.
 */
function absorbedBy(list: readonly Contribution[], from: number, start: number, end: number): Contribution | undefined {
  let lo = from;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.record.start < start) lo = mid + 1;
    else hi = mid;
  }
  let best: Contribution | undefined;
  for (let i = lo; i < list.length && list[i]!.record.start <= end; i++) if (!best || list[i]!.record.size > best.record.size) best = list[i];
  return best;
}

/** two lists of contributions in order of start, as one */
function byStart(a: readonly Contribution[], b: readonly Contribution[]): Contribution[] {
  const out: Contribution[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) out.push(j >= b.length || (i < a.length && a[i]!.record.start <= b[j]!.record.start) ? a[i++]! : b[j++]!);
  return out;
}

/** the contribution of `list[from..]` for session `key` */
function findByKey(list: readonly Contribution[], from: number, key: string): Contribution | undefined {
  for (let i = from; i < list.length; i++) if (list[i]!.record.key === key) return list[i];
  return undefined;
}

function consentPrefs(e: StoredEvent): Record<string, boolean> | undefined {
  const prefs = (e.context?.consent as { categoryPreferences?: unknown } | undefined)?.categoryPreferences;
  if (typeof prefs !== 'object' || prefs === null) return undefined;
  const out: Record<string, boolean> = {};
  for (const [k, v] of Object.entries(prefs)) if (typeof v === 'boolean') out[k] = v;
  return Object.keys(out).length ? out : undefined;
}

export function summarize(e: StoredEvent, seg: string): EventSummary & { consent?: Record<string, boolean> } {
  // built field by field (not by spreading): this runs for every event at ingest and at start
  const s: EventSummary & { consent?: Record<string, boolean> } = { messageId: e.messageId, seg, t: e.timestamp, type: e.type, interactions: interactionsOf(e) };
  if (e.userId !== undefined) s.userId = e.userId;
  if (e.anonymousId !== undefined) s.anonymousId = e.anonymousId;
  if (e.context?.consent !== undefined) {
    const personalization = personalizationPreference(e);
    if (personalization !== undefined) s.personalization = personalization;
    const consent = consentPrefs(e);
    if (consent) s.consent = consent;
  }
  if (e.type === 'identify' && e.traits) s.traits = e.traits;
  return s;
}

/** whether an event names catalog items (a product mention) */
export const namesItems = (e: EventSummary): boolean => e.interactions.some((x) => x.itemId !== undefined);

/**
 * Whether the person's usable events hold this one of theirs (the consent rule of
 * src/features/consent.ts): an event sent while they had opted out never is, and none is while they
 * are opted out.
 */
export function isUsable(view: PersonView, messageId: string, t: number): boolean {
  // nobody stated a preference: every event is usable (consentView hands back the same array)
  if (view.usable === view.events) return true;
  const usable = view.usable;
  for (let i = firstAfter(usable, t, true); i < usable.length && usable[i]!.t <= t; i++) if (usable[i]!.t === t && usable[i]!.messageId === messageId) return true;
  return false;
}

export class Workspace {
  readonly identity = new IdentityGraph();
  readonly catalog = new Catalog();
  private readonly timelines = new Map<string, Timeline>();
  private readonly views = new Map<string, PersonView>();
  /** per person, the sessions the models currently hold, oldest first */
  private readonly contributions = new Map<string, Contribution[]>();
  /** contribute's list of recomputed contributions, reused */
  private readonly freshScratch: Contribution[] = [];
  /** people whose contribution must be recomputed, with the earliest event time that changed */
  private readonly dirty = new Map<string, number>();
  /** messageIds of stored events: a repeat is acknowledged and ignored */
  private readonly messageIds = new MessageLedger();
  private nextSegment = 0;
  private readonly models: SessionModel[] = [];
  private readonly forgetListeners: Array<(ids: readonly string[]) => void> = [];
  private readonly erasureHooks: Array<(ids: readonly string[]) => Mutation[]> = [];
  private readonly appliedListeners: Array<(events: readonly StoredEvent[]) => void | Promise<unknown>> = [];
  private readonly attributionListeners: Array<(ids: readonly string[] | undefined) => void> = [];
  /** set while the engine loads the stored events: attribution listeners are told once, at the end */
  private loading = false;
  /**
   * per person, the ids attribution listeners are told at the next flush: after a merge without any
   * consent statement on either side only the absorbed side's (an outcome can change only where it
   * links a sender on one side to a recommendation or decision on the other), else all of them
   */
  private readonly attributionPending = new Map<string, Set<string> | 'all'>();
  /**
   * Catalog items made from events are built from the mentions of counted events only: those usable
   * now (src/features/consent.ts), like everything else that shapes what others are shown. These are
   * the messageIds of applied events that name items and are not counted.
   */
  readonly catalogUncounted = new Set<string>();
  /**
   * messageIds an erasure has removed from the store while memory still holds them (it forgets at
   * its end): no rebuild may count them, since their segments no longer do
   */
  readonly erasing = new Set<string>();
  /** per person, the events whose counting may have changed since takeCatalogFlips ('all': any of theirs) */
  private readonly catalogChecks = new Map<string, Set<EventSummary> | 'all'>();
  /** whether any event applied so far stated a consent preference (until then every event counts) */
  anyPreferenceStated = false;
  modelUpdatedAt = Date.now();

  constructor(
    readonly id: string,
    private tuning: TuningConfig,
  ) {}

  get settings(): TuningConfig {
    return this.tuning;
  }

  addModel(m: SessionModel): void {
    this.models.push(m);
    if (this.models.length === 1) {
      // without models nothing was contributed yet: everyone's sessions are new to the first one
      for (const root of this.timelines.keys()) this.dirty.set(root, -Infinity);
      this.flush();
    } else {
      for (const contrib of this.contributions.values()) for (const c of contrib) m.addSession(c.record);
    }
  }

  /**
   * Bulk import keeps only the ledger of stored messageIds (dedupe): no identities, timelines or
   * models, which the server rebuilds from the store at its next start anyway.
   */
  ledgerOnly = false;

  /** `key`: the messageId's messageIdKey, when it was computed ahead */
  hasMessage(messageId: string, key = messageIdKey(messageId)): boolean {
    return this.messageIds.has(messageId, key);
  }

  /** Enters a messageId in a ledger-only workspace's ledger (bulk import, as an event is taken for storing). */
  noteStored(messageId: string, key = messageIdKey(messageId)): void {
    if (!this.ledgerOnly) throw new Error('only a ledger-only workspace takes events it cannot apply');
    this.messageIds.add(messageId, key);
  }

  /** Key for the next stored segment; keys sort in commit order. */
  allocateSegment(): string {
    return String(this.nextSegment++).padStart(12, '0');
  }

  /** Tells the workspace a segment exists (at load), so new keys sort after it. */
  noteSegment(key: string): void {
    this.nextSegment = Math.max(this.nextSegment, Number(key) + 1);
  }

  /**
   * Applies a durable event (stored in segment `seg`) to identities and timelines. Returns false
   * if it was a repeat. Models catch up on flush(), once per request or once after a bulk load.
   * `key`: the messageId's messageIdKey, when it was computed ahead.
   */
  apply(e: StoredEvent, seg: string, key = messageIdKey(e.messageId)): boolean {
    if (this.messageIds.has(e.messageId, key)) return false;
    if (this.ledgerOnly) {
      this.messageIds.add(e.messageId, key);
      return true;
    }
    const ids = idsOf(e);
    let root = this.identity.add(ids[0]!);
    for (let i = 1; i < ids.length; i++) root = this.link(root, ids[i]!);
    const timeline = this.timelineOf(root);
    const summary = summarize(e, seg);
    // a statement repeating the preference in force at its time (consent managers send one on every
    // event) changes no judgement of any outcome: attribution hears only of those that do
    const changes = summary.personalization !== undefined && this.changesPreference(timeline, summary.t, summary.personalization);
    if (timeline.insert(summary) < 0) return false;
    this.messageIds.add(e.messageId, key);
    // an event stating a consent preference can change what is usable anywhere in the timeline
    this.touch(root, summary.personalization === undefined ? summary.t : -Infinity);
    if (changes) this.attributionPending.set(root, 'all');
    if (summary.personalization !== undefined) this.anyPreferenceStated = true;
    if (!this.loading) {
      if (changes) this.catalogChecks.set(root, 'all');
      else if ((timeline.statesPreference || this.catalogUncounted.has(summary.messageId)) && namesItems(summary)) {
        const checks = this.catalogChecks.get(root);
        if (checks === undefined) this.catalogChecks.set(root, new Set([summary]));
        else if (checks !== 'all') checks.add(summary);
      }
    }
    return true;
  }

  private link(root: string, other: string): string {
    const { root: merged, absorbed, absorbedIds } = this.identity.union(root, other);
    if (absorbed === undefined) return merged;
    const gone = this.timelines.get(absorbed);
    const pending = this.attributionPending.get(merged);
    const pendingGone = this.attributionPending.get(absorbed);
    this.attributionPending.delete(absorbed);
    if (pending === 'all' || pendingGone === 'all' || gone?.statesPreference === true || this.timelines.get(merged)?.statesPreference === true) {
      this.attributionPending.set(merged, 'all');
    } else {
      const ids = pending ?? new Set<string>();
      for (const id of absorbedIds!) ids.add(id);
      if (pendingGone) for (const id of pendingGone) ids.add(id);
      this.attributionPending.set(merged, ids);
    }
    // a person's consent now covers the other's events too: the ones that may count differently
    const checks = this.catalogChecks.get(merged);
    const checksGone = this.catalogChecks.get(absorbed);
    this.catalogChecks.delete(absorbed);
    if (!this.loading) {
      if (checks === 'all' || checksGone === 'all' || gone?.statesPreference === true || this.timelines.get(merged)?.statesPreference === true) this.catalogChecks.set(merged, 'all');
      else if (checksGone !== undefined) {
        if (checks === undefined) this.catalogChecks.set(merged, checksGone);
        else for (const e of checksGone) checks.add(e);
      }
    }
    if (gone) {
      this.timelineOf(merged).absorb(gone);
      this.timelines.delete(absorbed);
    }
    // the absorbed person's sessions join the merged person's as they are: the recomputation below
    // finds each by its key, unchanged, or changed in one place where the two people's sessions met
    // (a splice), instead of every one being withdrawn from the models and added again
    const moved = this.contributions.get(absorbed);
    if (moved) {
      this.contributions.delete(absorbed);
      const held = this.contributions.get(merged);
      this.contributions.set(merged, held ? byStart(held, moved) : moved);
    }
    this.views.delete(absorbed);
    this.dirty.delete(absorbed);
    this.touch(merged, -Infinity);
    return merged;
  }

  private timelineOf(root: string): Timeline {
    let t = this.timelines.get(root);
    if (!t) {
      t = new Timeline();
      this.timelines.set(root, t);
    }
    return t;
  }

  private touch(root: string, from: number): void {
    this.views.delete(root);
    this.dirty.set(root, Math.min(from, this.dirty.get(root) ?? Infinity));
  }

  /** Recomputes model contributions of every changed person. */
  flush(): void {
    if (this.dirty.size === 0) return;
    if (this.models.length > 0) {
      if (this.contributions.size === 0) this.contributeAll();
      else for (const [root, from] of this.dirty) this.contribute(root, from);
    }
    if (this.attributionPending.size > 0) {
      if (this.attributionListeners.length > 0 && !this.loading) {
        for (const [root, ids] of this.attributionPending) this.tellAttribution([...(ids === 'all' ? this.identity.membersOf(root) : ids)]);
      }
      this.attributionPending.clear();
    }
    this.dirty.clear();
    this.modelUpdatedAt = Date.now();
  }

  /** set while contributeAll runs: the sessions it will give the models */
  private collected: SessionRecord[] | undefined;

  /**
   * The first contributions (after a load, or when the first model arrives): every session is new,
   * so the models get them all at the end, in order of start. Session-kNN's postings are ordered by
   * start: sessions in that order join them at the end instead of being inserted in the middle.
   */
  private contributeAll(): void {
    const collected: SessionRecord[] = [];
    this.collected = collected;
    try {
      for (const [root, from] of this.dirty) this.contribute(root, from);
    } finally {
      this.collected = undefined;
    }
    collected.sort((a, b) => a.start - b.start || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const m of this.models) for (const r of collected) m.addSession(r);
  }

  /**
   * Brings the models in line with a person's current sessions. Sessions that ended well before the
   * earliest changed time cannot have changed, so an appended event costs one session, not a
   * person's whole history. A session that changed is given to the models as one change (a splice)
   * where they can take it, so a late event inside a long session costs what it adds too.
   */
  private contribute(root: string, from: number): void {
    // the usable events only (not the cached person view: nothing reads it before the next event)
    const timeline = this.timelines.get(root);
    const consent = timeline ? consentView(timeline.events, timeline.statesPreference) : undefined;
    const usable = consent?.usable;
    const optedOut = consent?.personalization === false;
    const old = this.contributions.get(root) ?? [];
    const gap = this.tuning.sessionGapMinutes * 60_000;
    const weights = this.tuning.interactionWeights;
    // keep the prefix of sessions that end before anything changed
    let keep = 0;
    if (usable && from !== -Infinity) while (keep < old.length && old[keep]!.record.end < from - gap) keep++;
    // what was held for the sessions from `keep` on, by key: usually one or two, searched in place
    let byKey: Map<string, Contribution> | undefined;
    if (old.length - keep > LINEAR_SEARCH_MAX) {
      byKey = new Map();
      for (let i = keep; i < old.length; i++) byKey.set(old[i]!.record.key, old[i]!);
    }
    const heldAs = (key: string): Contribution | undefined => (byKey ? byKey.get(key) : findByKey(old, keep, key));
    // reused across calls (this runs for every event)
    const fresh = this.freshScratch;
    fresh.length = 0;
    if (usable) {
      const last = keep === old.length - 1 ? old[keep]!.record : undefined;
      let lo = last !== undefined && from > last.end ? firstAfter(usable, last.end) : usable.length;
      if (last !== undefined && lo < usable.length && usable[lo]!.t - last.end <= gap) {
        // The common case: events appended after the open session's last one. Its earlier events are
        // unchanged (nothing changed before `from`), so its record is extended with the new events'
        // items — the same record a rebuild would make, without reading the whole session.
        const hi = sessionEndOf(usable, lo, gap);
        const { items, size } = itemsAppended(last, usable, lo, hi, weights);
        // an extension even when the new events carried no item (page views): only the end time moved
        fresh.push({ record: { key: last.key, start: last.start, end: usable[hi - 1]!.t, items, size }, change: { at: last.size, removed: 0, added: size - last.size } });
        lo = hi;
      } else {
        // sessions after the kept ones start at the first event past the last kept session's end
        lo = keep > 0 ? firstAfter(usable, old[keep - 1]!.record.end) : 0;
      }
      while (lo < usable.length) {
        const hi = sessionEndOf(usable, lo, gap);
        const byItsKey = heldAs(usable[lo]!.messageId);
        const replaces = byItsKey ?? absorbedBy(old, keep, usable[lo]!.t, usable[hi - 1]!.t);
        const record = recordOf(usable, lo, hi, weights, replaces?.record);
        if (record) fresh.push(byItsKey || !replaces ? { record } : { record, replaces });
        lo = hi;
      }
    }
    for (let j = 0; j < fresh.length; j++) {
      const c = fresh[j]!;
      const prev = c.replaces ?? heldAs(c.record.key);
      if (prev === undefined) {
        if (this.collected) this.collected.push(c.record);
        else for (const m of this.models) m.addSession(c.record);
        continue;
      }
      const change = c.change ?? changeOf(prev.record, c.record);
      if (c.replaces) prev.replaced = true;
      else if (change.removed === 0 && change.added === 0 && prev.record.start === c.record.start && prev.record.end === c.record.end) {
        fresh[j] = prev;
        continue;
      }
      for (const m of this.models) {
        if (m.spliceSession) m.spliceSession(prev.record, c.record, change);
        else {
          m.removeSession(prev.record);
          m.addSession(c.record);
        }
      }
    }
    const freshKeys = fresh.length > LINEAR_SEARCH_MAX ? new Set(fresh.map((c) => c.record.key)) : undefined;
    for (let i = keep; i < old.length; i++) {
      const c = old[i]!;
      const stays = c.replaced === true || (freshKeys ? freshKeys.has(c.record.key) : findByKey(fresh, 0, c.record.key) !== undefined);
      if (!stays) {
        for (const m of this.models) {
          m.removeSession(c.record);
          if (optedOut) m.withdrawn?.(c.record);
        }
      }
      c.replaced = undefined;
    }
    // the person's list becomes the kept prefix and then the fresh contributions (the held one where
    // nothing changed), in place: nothing else holds the array
    old.length = keep;
    for (const c of fresh) {
      c.change = undefined;
      c.replaces = undefined;
      old.push(c);
    }
    fresh.length = 0;
    if (old.length) this.contributions.set(root, old);
    else this.contributions.delete(root);
  }

  /**
   * Per-person state kept by extensions (impressions, assignments…) must go when a person is erased:
   * `stored` names the store records to delete (in the erasure's own commit), `listener` clears
   * memory once that commit is durable.
   */
  onForget(listener: (ids: readonly string[]) => void, stored?: (ids: readonly string[]) => Mutation[]): void {
    this.forgetListeners.push(listener);
    if (stored) this.erasureHooks.push(stored);
  }

  /** store deletions extensions need when the person with these ids is erased */
  erasureMutations(ids: readonly string[]): Mutation[] {
    return this.erasureHooks.flatMap((h) => h(ids));
  }

  /**
   * Forgets a person entirely (erasure): identities, timeline, their messageIds, and their share of
   * every model, effective for the very next request. Returns what was held.
   */
  forget(root: string): { ids: string[]; events: EventSummary[] } {
    const events = this.timelines.get(root)?.events ?? [];
    this.withdraw(root);
    this.timelines.delete(root);
    this.views.delete(root);
    this.dirty.delete(root);
    this.attributionPending.delete(root);
    this.catalogChecks.delete(root);
    for (const e of events) {
      this.messageIds.delete(e.messageId);
      this.catalogUncounted.delete(e.messageId);
    }
    const ids = this.identity.removeComponent(root);
    this.forgetIds(ids);
    this.modelUpdatedAt = Date.now();
    return { ids, events };
  }

  /**
   * Judges again the events whose counting may have changed (see catalogUncounted) and returns those
   * whose judgement did: `counted` count now, `uncounted` no longer do. The items they name must be
   * rebuilt from the counted mentions (src/catalog/rebuild.ts).
   */
  takeCatalogFlips(): { counted: EventSummary[]; uncounted: EventSummary[] } | undefined {
    if (this.catalogChecks.size === 0) return undefined;
    const counted: EventSummary[] = [];
    const uncounted: EventSummary[] = [];
    for (const [root, which] of this.catalogChecks) {
      const timeline = this.timelines.get(root);
      if (timeline === undefined) continue;
      for (const e of which === 'all' ? timeline.events : which) {
        // an event retention removed since is no one's
        if (!namesItems(e) || !this.messageIds.has(e.messageId)) continue;
        const usable = timeline.usable(e);
        if (usable !== this.catalogUncounted.has(e.messageId)) continue;
        if (usable) {
          this.catalogUncounted.delete(e.messageId);
          counted.push(e);
        } else {
          this.catalogUncounted.add(e.messageId);
          uncounted.push(e);
        }
      }
    }
    this.catalogChecks.clear();
    return counted.length > 0 || uncounted.length > 0 ? { counted, uncounted } : undefined;
  }

  /**
   * After a load, when nothing was judged yet: every event naming items that is not usable now is
   * not counted. Returns those events (the stored items may still carry their mentions: bulk import
   * merges every mention, and a stop may come between an event's commit and its item's rebuild).
   */
  initCatalogCounting(): EventSummary[] {
    this.catalogChecks.clear();
    const out: EventSummary[] = [];
    for (const t of this.timelines.values()) {
      if (!t.statesPreference) continue;
      for (const e of t.events) {
        if (namesItems(e) && !t.usable(e)) {
          this.catalogUncounted.add(e.messageId);
          out.push(e);
        }
      }
    }
    return out;
  }

  /**
   * Whether an event about to be stored would count (be usable), judged on the events applied so
   * far: the ingestion pipeline merges the mentions of those that would into the catalog, and
   * takeCatalogFlips corrects the judgement once the event and its batch are applied.
   */
  wouldCount(ids: readonly string[], t: number, stated: boolean | undefined): boolean {
    if (stated === false) return false;
    for (const id of ids) {
      const root = this.rootOf(id);
      const timeline = root === undefined ? undefined : this.timelines.get(root);
      if (timeline === undefined || !timeline.statesPreference) continue;
      // opted out now, or (unless the event states its own preference) at its time
      if (this.preferenceAt(timeline, Infinity) === false || (stated === undefined && this.preferenceAt(timeline, t) === false)) return false;
    }
    return true;
  }

  /**
   * the events naming items of every person who ever opted out of Personalization: only theirs can
   * have been left out of the catalog, and so be missing from it once they count again
   */
  eventsOfPeopleWhoOptedOut(): EventSummary[] {
    const out: EventSummary[] = [];
    for (const t of this.timelines.values()) if (t.everOptedOut) for (const e of t.events) if (namesItems(e)) out.push(e);
    return out;
  }

  /** the counted events naming each of these items (leaving out `exclude`'s messageIds), across every person */
  countedMentions(items: ReadonlySet<string>, exclude?: ReadonlySet<string>): Map<string, EventSummary[]> {
    const out = new Map<string, EventSummary[]>();
    for (const t of this.timelines.values()) {
      for (const e of t.events) {
        for (const x of e.interactions) {
          if (x.itemId === undefined || !items.has(x.itemId)) continue;
          if (this.catalogUncounted.has(e.messageId) || this.erasing.has(e.messageId) || exclude?.has(e.messageId)) break;
          const list = entryOf(out, x.itemId, () => []);
          // an event may name an item more than once (a product list)
          if (list.at(-1) !== e) list.push(e);
        }
      }
    }
    return out;
  }

  /** events the predicate selects, across every person (read-only: see removeEvents) */
  findEvents(select: (e: EventSummary) => boolean): EventSummary[] {
    const out: EventSummary[] = [];
    for (const t of this.timelines.values()) for (const e of t.events) if (select(e)) out.push(e);
    return out;
  }

  /** ids of the people who would have no event left without these */
  idsEmptiedBy(events: readonly EventSummary[]): string[] {
    const gone = new Set(events.map((e) => e.messageId));
    const out: string[] = [];
    for (const [root, t] of this.timelines) if (t.events.every((e) => gone.has(e.messageId))) out.push(...this.identity.membersOf(root));
    return out;
  }

  /**
   * Removes events (retention) from timelines and models, once the store no longer holds them.
   * A person left with no event is forgotten like an erased one.
   */
  removeEvents(events: readonly EventSummary[]): void {
    const gone = new Set(events.map((e) => e.messageId));
    for (const [root, t] of [...this.timelines]) {
      if (t.removeWhere((e) => gone.has(e.messageId)).length === 0) continue;
      if (t.length === 0) this.forget(root);
      else {
        this.touch(root, -Infinity);
        this.attributionPending.set(root, 'all');
        // a consent statement may have gone with them
        this.catalogChecks.set(root, 'all');
      }
    }
    for (const id of gone) {
      this.messageIds.delete(id);
      this.catalogUncounted.delete(id);
    }
    this.flush();
  }

  /**
   * Extensions that learn from the event stream (rewards, attribution, triggers) hear about every
   * batch of events once it is durable and applied, before the request is answered. A listener that
   * derives records of its own returns the promise of their commit: the request is acknowledged only
   * once they are durable too.
   */
  onApplied(listener: (events: readonly StoredEvent[]) => void | Promise<unknown>): void {
    this.appliedListeners.push(listener);
  }

  /** whether extensions derive records from applied events (their commits follow the events') */
  get derivesFromEvents(): boolean {
    return this.appliedListeners.length > 0;
  }

  notifyApplied(events: readonly StoredEvent[]): Promise<unknown>[] {
    const pending: Promise<unknown>[] = [];
    for (const l of this.appliedListeners) {
      const p = l(events);
      if (p) pending.push(p);
    }
    return pending;
  }

  /**
   * Extensions that credit outcomes to people (bandit rewards, blend feedback) hear when whether an
   * applied event may be credited (see attributable) can have changed for a person: a merge linked
   * their ids, an event stated a preference other than the one in force at its time, or retention
   * removed events, once the events saying so are applied. `ids` are the person's ids whose outcomes may be judged differently: after a merge
   * where neither side ever stated a preference, the absorbed side's only (an outcome changes only
   * where the link joins its sender on one side to its recommendation or decision on the other, and
   * both are then found by the absorbed side's ids), else all of them. Undefined means everyone
   * (once, after the engine loaded the stored events: nothing is told while it loads). Listeners must be idempotent: what they
   * credit must depend only on the events held, never on the order they arrived in.
   */
  onAttributionChange(listener: (ids: readonly string[] | undefined) => void): void {
    this.attributionListeners.push(listener);
  }

  private tellAttribution(ids: readonly string[] | undefined): void {
    for (const l of this.attributionListeners) l(ids);
  }

  /** the engine is about to load the stored events (see onAttributionChange) */
  startLoad(): void {
    this.loading = true;
  }

  /** the stored events are loaded: attribution listeners hear about everyone once */
  endLoad(): void {
    this.loading = false;
    this.tellAttribution(undefined);
  }

  /** tells extensions to drop what they keep about these ids */
  forgetIds(ids: readonly string[]): void {
    for (const l of this.forgetListeners) l(ids);
  }

  /** removes a person's whole contribution from the models */
  private withdraw(root: string): void {
    const old = this.contributions.get(root);
    if (!old) return;
    for (const c of old) {
      for (const m of this.models) {
        m.removeSession(c.record);
        m.withdrawn?.(c.record);
      }
    }
    this.contributions.delete(root);
  }

  /**
   * Whether an applied event may be credited to the person who holds `ids` (a decision's, a
   * recommendation's): its sender is that person — one of those ids, or merged with them since — and
   * the event is usable, so its outcome may shape the models: not sent while its sender had opted
   * out of personalization (by its own consent statement or an earlier one), nor from a person who
   * has opted out since.
   */
  attributable(ids: readonly string[], e: { messageId: string; timestamp: number; userId?: string; anonymousId?: string }): boolean {
    const root = rootOfNamed(this, e);
    const timeline = root === undefined ? undefined : this.timelines.get(root);
    if (timeline === undefined) return false;
    // nobody stated a preference: every event is usable, and no view need be built (judging every
    // held outcome after a load must not build one for everyone)
    if (timeline.statesPreference) {
      const view = this.viewOf(root!)!;
      if (view.personalization === false) return false;
      // an event retention has removed is judged by the preference in force at its time
      const usable = this.messageIds.has(e.messageId) ? isUsable(view, e.messageId, e.timestamp) : !this.optedOutAt([root!], e.timestamp);
      if (!usable) return false;
    }
    if (namedIds(e).some((id) => ids.includes(id))) return true;
    return ids.some((id) => this.rootOf(id) === root);
  }

  /**
   * Whether a person holding one of these ids had opted out of Personalization at time `t`: the
   * latest preference they stated at or before it (by event time, like every consent rule) is false.
   */
  optedOutAt(ids: Iterable<string>, t: number): boolean {
    for (const id of ids) {
      const root = this.rootOf(id);
      const timeline = root === undefined ? undefined : this.timelines.get(root);
      if (timeline !== undefined && this.preferenceAt(timeline, t) === false) return true;
    }
    return false;
  }

  /**
   * Whether a statement of `stated` at time `t` changes what is usable: it differs from the latest
   * statement before it (none reads as true: all usable), or shares its time with another (whose
   * order then depends on messageIds).
   */
  private changesPreference(timeline: Timeline, t: number, stated: boolean): boolean {
    const latest = timeline.statementAt(t);
    return latest === undefined ? stated === false : latest.t === t || latest.personalization !== stated;
  }

  /** the latest preference a timeline states at or before `t` (undefined: none) */
  private preferenceAt(timeline: Timeline, t: number): boolean | undefined {
    return timeline.statementAt(t)?.personalization;
  }

  /** whether a person holding one of these ids has opted out of Personalization (their current preference) */
  anyOptedOut(ids: Iterable<string>): boolean {
    for (const id of ids) {
      const root = this.rootOf(id);
      if (root !== undefined && this.timelines.get(root)?.statesPreference && this.viewOf(root)?.personalization === false) return true;
    }
    return false;
  }

  rootOf(id: string): string | undefined {
    return this.identity.find(id);
  }

  viewOf(root: string): PersonView | undefined {
    const cached = this.views.get(root);
    if (cached) return cached;
    const timeline = this.timelines.get(root);
    if (!timeline) return undefined;
    const consent = consentView(timeline.events, timeline.statesPreference);
    const view: PersonView = {
      root,
      ids: this.identity.membersOf(root),
      events: timeline.events,
      usable: consent.usable,
      ...(consent.personalization !== undefined ? { personalization: consent.personalization } : {}),
    };
    this.views.set(root, view);
    return view;
  }

  /**
   * Histories of at least this many items are kept on the person's view (HISTORY_MEMO_MIN): the
   * memory goes to the few people whose history costs something to build.
   */
  historyMemoMin = HISTORY_MEMO_MIN;

  /**
   * A person's usable item interactions, oldest first: the events that hold the last `limit` of them
   * (all by default). Building every interaction of a person with tens of thousands of events would
   * cost milliseconds per request.
   */
  historyOf(view: PersonView, limit = Infinity): readonly SessionItem[] {
    if (view.history?.limit === limit) return view.history.items;
    const usable = view.usable;
    let from = usable.length;
    for (let n = 0; from > 0 && n < limit; ) n += itemInteractions(usable[--from]!);
    const items = itemsOf(from === 0 ? usable : usable.slice(from), this.tuning.interactionWeights);
    if (items.length >= this.historyMemoMin) view.history = { limit, items };
    return items;
  }

  /** the items a person bought, over all their usable events */
  purchasesOf(view: PersonView): ReadonlySet<string> {
    if (view.purchases) return view.purchases;
    const out = new Set<string>();
    for (const e of view.usable) for (const i of e.interactions) if (i.kind === 'purchase' && i.itemId !== undefined) out.add(i.itemId);
    view.purchases = out;
    return out;
  }

  profile(id: string, now: number): Profile | undefined {
    const root = this.rootOf(id);
    const view = root === undefined ? undefined : this.viewOf(root);
    if (!view) return undefined;
    const memo = view.profile;
    if (memo && now >= memo.at && now - memo.at < PROFILE_MEMO_MS) return memo.value;
    let userId: string | null = null;
    const anonymousIds = new Set<string>();
    const traits: Record<string, unknown> = {};
    const consent: Record<string, boolean> = {};
    for (const e of view.events as ReadonlyArray<EventSummary & { consent?: Record<string, boolean> }>) {
      if (e.userId !== undefined) userId = e.userId;
      if (e.anonymousId !== undefined) anonymousIds.add(e.anonymousId);
      if (e.traits) Object.assign(traits, e.traits);
      if (e.consent) Object.assign(consent, e.consent);
    }
    const features = personFeatures(view.usable, (itemId) => this.catalog.get(itemId)?.categoryPath[0], now, {
      weights: this.tuning.interactionWeights,
      affinityHalfLifeDays: this.tuning.affinityHalfLifeDays,
      sessionGapMinutes: this.tuning.sessionGapMinutes,
      recentItems: this.tuning.recentItems,
    });
    const profile: Profile = {
      userId,
      anonymousIds: [...anonymousIds].sort(),
      traits,
      consent: Object.keys(consent).length ? { categoryPreferences: consent } : {},
      features,
      segments: segmentsOf(features, now),
      eventCount: view.events.length,
    };
    if (view.events.length >= this.historyMemoMin) view.profile = { at: now, value: profile };
    return profile;
  }

  /** number of people (identity components) and events held in memory */
  stats(): { people: number; events: number; items: number } {
    let events = 0;
    for (const t of this.timelines.values()) events += t.length;
    return { people: this.timelines.size, events, items: this.catalog.size() };
  }
}
