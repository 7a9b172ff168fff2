/**
 * The ingestion path shared by HTTP, `kairos import` and the evaluation harness:
 * validate everything → drop repeats and suppressed ids → one durable commit → apply to memory.
 * A request is all or nothing: any invalid event and nothing is stored.
 */
import { KairosError, type ErrorDetail } from '../errors.ts';
import type { Workspace } from '../engine/workspace.ts';
import type { Mutation, Store } from '../store/types.ts';
import { MAX_EVENT_BYTES, idsOf, normaliseEvent, type EventType, type StoredEvent } from './event.ts';
import { productMentions } from './interactions.ts';

export interface IngestRequest {
  events: unknown[];
  impliedType?: EventType;
  batchContext?: Record<string, unknown>;
  batchSentAt?: string;
  receivedAt?: number;
  /** bytes the largest event can have arrived in (the body size for HTTP): at most 32 KB spares measuring each */
  maxEventBytes?: number;
}

export interface IngestResult {
  stored: number;
  duplicates: number;
  suppressed: number;
  itemsCreated: number;
}

/** Large imports are cut into segments of at most this many events, to bound erasure rewrites. */
export const MAX_SEGMENT_EVENTS = 512;

export interface ItemRecord {
  properties: Record<string, unknown>;
  firstSeen: number;
}

export interface IngestHooks {
  /** data minimisation applied to every valid event before it is stored */
  minimise?(e: StoredEvent): StoredEvent;
  /** true when the id was erased with suppression: its events are acknowledged and dropped */
  isSuppressed(ws: Workspace, id: string): boolean;
}

export class Ingestor {
  /** messageIds whose commit is under way, per workspace: a concurrent repeat waits for it */
  private readonly inflight = new Map<string, Map<string, Promise<unknown>>>();
  /** catalog items being created by a commit under way, per workspace */
  private readonly creating = new Map<string, Set<string>>();

  constructor(
    private readonly store: Store,
    private readonly hooks: IngestHooks,
  ) {}

  /** Validates a request's events; throws the request's 400/413 without touching anything. */
  validate(req: IngestRequest): StoredEvent[] {
    const receivedAt = req.receivedAt ?? Date.now();
    const details: ErrorDetail[] = [];
    const events: StoredEvent[] = [];
    let tooLarge = false;
    const indexed = req.impliedType === undefined;
    const smallEnough = req.maxEventBytes !== undefined && req.maxEventBytes <= MAX_EVENT_BYTES;
    req.events.forEach((raw, i) => {
      const r = normaliseEvent({
        raw,
        receivedAt,
        smallEnough,
        ...(req.impliedType ? { impliedType: req.impliedType } : {}),
        ...(req.batchContext ? { batchContext: req.batchContext } : {}),
        ...(req.batchSentAt ? { batchSentAt: req.batchSentAt } : {}),
        ...(indexed ? { index: i } : {}),
      });
      if (r.ok) events.push(this.hooks.minimise ? this.hooks.minimise(r.event) : r.event);
      else {
        details.push(...r.details);
        tooLarge ||= r.tooLarge === true;
      }
    });
    if (tooLarge) throw new KairosError('KAIROS_ERR_TOO_LARGE', 'an event is larger than 32 KB', details);
    if (details.length > 0) throw new KairosError('KAIROS_ERR_VALIDATION', `${details.length} problem(s) in the request`, details);
    return events;
  }

  async ingest(ws: Workspace, req: IngestRequest): Promise<IngestResult> {
    return this.ingestValid(ws, this.validate(req));
  }

  /** Stores already-validated events, then applies them to the workspace's serving state. */
  async ingestValid(ws: Workspace, events: StoredEvent[]): Promise<IngestResult> {
    const inflight = this.inflightOf(ws.id);
    const fresh: StoredEvent[] = [];
    const waits: Promise<unknown>[] = [];
    const inRequest = new Set<string>();
    let duplicates = 0;
    let suppressed = 0;
    for (const e of events) {
      if (idsOf(e).some((id) => this.hooks.isSuppressed(ws, id))) {
        suppressed++;
        continue;
      }
      const pending = inflight.get(e.messageId);
      if (inRequest.has(e.messageId) || pending) {
        if (pending) waits.push(pending);
        duplicates++;
        continue;
      }
      inRequest.add(e.messageId);
      fresh.push(e);
    }
    const toStore = fresh.filter((e) => !ws.hasMessage(e.messageId));
    duplicates += fresh.length - toStore.length;
    const newItems = new Map<string, ItemRecord>();
    const mutations: Mutation[] = [];
    const segments: Array<[string, StoredEvent[]]> = [];
    for (let i = 0; i < toStore.length; i += MAX_SEGMENT_EVENTS) {
      const seg = ws.allocateSegment();
      const events = toStore.slice(i, i + MAX_SEGMENT_EVENTS);
      segments.push([seg, events]);
      mutations.push({ table: 'events', key: seg, value: events });
    }
    let creating = this.creating.get(ws.id);
    if (!creating) this.creating.set(ws.id, (creating = new Set()));
    for (const e of toStore) {
      for (const m of productMentions(e)) {
        if (ws.catalog.has(m.itemId) || newItems.has(m.itemId) || creating.has(m.itemId)) continue;
        newItems.set(m.itemId, { properties: m.properties, firstSeen: e.receivedAt });
      }
    }
    for (const itemId of newItems.keys()) creating.add(itemId);
    for (const [itemId, rec] of newItems) mutations.push({ table: 'items', key: itemId, value: rec });

    const commit = this.store.commit(ws.id, mutations);
    // a concurrent repeat of these events waits for this commit instead of storing them again
    for (const e of toStore) inflight.set(e.messageId, commit);
    try {
      await commit;
    } finally {
      for (const e of toStore) if (inflight.get(e.messageId) === commit) inflight.delete(e.messageId);
      for (const itemId of newItems.keys()) creating.delete(itemId);
    }
    for (const [itemId, rec] of newItems) if (!ws.catalog.has(itemId)) ws.catalog.upsert(itemId, rec.properties, rec.firstSeen);
    for (const [seg, events] of segments) for (const e of events) ws.apply(e, seg);
    ws.flush();
    if (toStore.length) ws.notifyApplied(toStore);
    // a repeat of an event still being committed is acknowledged only once that commit is durable
    await Promise.all(waits);
    return { stored: toStore.length, duplicates, suppressed, itemsCreated: newItems.size };
  }

  private inflightOf(ws: string): Map<string, Promise<unknown>> {
    let m = this.inflight.get(ws);
    if (!m) {
      m = new Map();
      this.inflight.set(ws, m);
    }
    return m;
  }
}
