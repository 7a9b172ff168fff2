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
import { sessionRecord, sessionSignature, sessionize, itemsOf } from '../features/sessions.ts';
import { IdentityGraph } from '../identity/identity-graph.ts';
import { Timeline, type EventSummary } from '../identity/timeline.ts';
import { idsOf, personalizationPreference, type StoredEvent } from '../ingest/event.ts';
import { interactionsOf } from '../ingest/interactions.ts';
import type { SessionItem, SessionModel, SessionRecord } from '../recommend/types.ts';

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
}

interface Contribution {
  record: SessionRecord;
  signature: string;
}

function consentPrefs(e: StoredEvent): Record<string, boolean> | undefined {
  const prefs = (e.context?.consent as { categoryPreferences?: unknown } | undefined)?.categoryPreferences;
  if (typeof prefs !== 'object' || prefs === null) return undefined;
  const out: Record<string, boolean> = {};
  for (const [k, v] of Object.entries(prefs)) if (typeof v === 'boolean') out[k] = v;
  return Object.keys(out).length ? out : undefined;
}

export function summarize(e: StoredEvent): EventSummary & { consent?: Record<string, boolean> } {
  const personalization = personalizationPreference(e);
  const consent = consentPrefs(e);
  return {
    messageId: e.messageId,
    t: e.timestamp,
    type: e.type,
    ...(e.userId !== undefined ? { userId: e.userId } : {}),
    ...(e.anonymousId !== undefined ? { anonymousId: e.anonymousId } : {}),
    interactions: interactionsOf(e),
    ...(personalization !== undefined ? { personalization } : {}),
    ...(e.type === 'identify' && e.traits ? { traits: e.traits } : {}),
    ...(consent ? { consent } : {}),
  };
}

export class Workspace {
  readonly identity = new IdentityGraph();
  readonly catalog = new Catalog();
  private readonly timelines = new Map<string, Timeline>();
  private readonly views = new Map<string, PersonView>();
  private readonly contributions = new Map<string, Map<string, Contribution>>();
  private readonly dirty = new Set<string>();
  private readonly models: SessionModel[] = [];
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
    for (const contrib of this.contributions.values()) for (const c of contrib.values()) m.addSession(c.record);
  }

  /**
   * Applies a durable event to identities and timelines. Returns false if the person already had
   * it (a repeat). Models catch up on flush(), once per request or once after a bulk load.
   */
  apply(e: StoredEvent): boolean {
    const ids = idsOf(e);
    let root = this.identity.add(ids[0]!);
    for (const other of ids.slice(1)) root = this.link(root, other);
    const timeline = this.timelineOf(root);
    if (timeline.insert(summarize(e)) < 0) return false;
    this.touch(root);
    return true;
  }

  private link(root: string, other: string): string {
    const { root: merged, absorbed } = this.identity.union(root, other);
    if (absorbed === undefined) return merged;
    const gone = this.timelines.get(absorbed);
    if (gone) {
      this.timelineOf(merged).absorb(gone);
      this.timelines.delete(absorbed);
    }
    this.withdraw(absorbed);
    this.views.delete(absorbed);
    this.touch(merged);
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

  private touch(root: string): void {
    this.views.delete(root);
    this.dirty.add(root);
  }

  /** Recomputes model contributions of every changed person. */
  flush(): void {
    if (this.dirty.size === 0) return;
    for (const root of this.dirty) this.contribute(root);
    this.dirty.clear();
    this.modelUpdatedAt = Date.now();
  }

  private contribute(root: string): void {
    const view = this.viewOf(root);
    const old = this.contributions.get(root) ?? new Map<string, Contribution>();
    const next = new Map<string, Contribution>();
    if (view) {
      for (const s of sessionize(view.usable, this.tuning.sessionGapMinutes * 60_000)) {
        const record = sessionRecord(s, this.tuning.interactionWeights);
        if (record) next.set(record.key, { record, signature: sessionSignature(record) });
      }
    }
    for (const [key, c] of old) {
      if (next.get(key)?.signature !== c.signature) for (const m of this.models) m.removeSession(c.record);
    }
    for (const [key, c] of next) {
      if (old.get(key)?.signature !== c.signature) for (const m of this.models) m.addSession(c.record);
      else next.set(key, old.get(key)!);
    }
    if (next.size) this.contributions.set(root, next);
    else this.contributions.delete(root);
  }

  /** removes a person's whole contribution from the models */
  private withdraw(root: string): void {
    const old = this.contributions.get(root);
    if (!old) return;
    for (const c of old.values()) for (const m of this.models) m.removeSession(c.record);
    this.contributions.delete(root);
  }

  rootOf(id: string): string | undefined {
    return this.identity.find(id);
  }

  viewOf(root: string): PersonView | undefined {
    const cached = this.views.get(root);
    if (cached) return cached;
    const timeline = this.timelines.get(root);
    if (!timeline) return undefined;
    const consent = consentView(timeline.events);
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

  /** every usable item interaction of a person, oldest first */
  historyOf(view: PersonView): SessionItem[] {
    return itemsOf(view.usable, this.tuning.interactionWeights);
  }

  profile(id: string, now: number): Profile | undefined {
    const root = this.rootOf(id);
    const view = root === undefined ? undefined : this.viewOf(root);
    if (!view) return undefined;
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
    return {
      userId,
      anonymousIds: [...anonymousIds].sort(),
      traits,
      consent: Object.keys(consent).length ? { categoryPreferences: consent } : {},
      features,
      segments: segmentsOf(features, now),
      eventCount: view.events.length,
    };
  }

  /** number of people (identity components) and events held in memory */
  stats(): { people: number; events: number; items: number } {
    let events = 0;
    for (const t of this.timelines.values()) events += t.length;
    return { people: this.timelines.size, events, items: this.catalog.size() };
  }
}
