/**
 * The ingestion path shared by HTTP, `kairos import` and the evaluation harness:
 * validate everything → drop repeats and suppressed ids → one durable commit → apply to memory.
 * A request is all or nothing: any invalid event and nothing is stored.
 */
import { createHash } from 'node:crypto';
import { KairosError, type ErrorDetail } from '../errors.ts';
import type { Workspace } from '../engine/workspace.ts';
import type { Mutation, Store } from '../store/types.ts';
import { idsOf, normaliseEvent, type EventType, type StoredEvent } from './event.ts';
import { productMentions } from './interactions.ts';

export interface IngestRequest {
  events: unknown[];
  impliedType?: EventType;
  batchContext?: Record<string, unknown>;
  batchSentAt?: string;
  receivedAt?: number;
}

export interface IngestResult {
  stored: number;
  duplicates: number;
  suppressed: number;
  itemsCreated: number;
}

export const dedupeKey = (messageId: string): string => createHash('sha256').update(messageId).digest('base64url').slice(0, 22);
export const eventKey = (e: StoredEvent): string => `${idsOf(e)[0]}\u0000${e.messageId}`;

export interface ItemRecord {
  properties: Record<string, unknown>;
  firstSeen: number;
}

export interface IngestHooks {
  /** true when the id was erased with suppression: its events are acknowledged and dropped */
  isSuppressed(ws: Workspace, id: string): boolean;
  /** called after the events are durable and applied */
  afterApply?(ws: Workspace, events: readonly StoredEvent[]): void;
}

export class Ingestor {
  /** messageIds whose commit is under way, per workspace: a concurrent repeat waits for it */
  private readonly inflight = new Map<string, Map<string, Promise<unknown>>>();

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
    req.events.forEach((raw, i) => {
      const r = normaliseEvent({
        raw,
        receivedAt,
        ...(req.impliedType ? { impliedType: req.impliedType } : {}),
        ...(req.batchContext ? { batchContext: req.batchContext } : {}),
        ...(req.batchSentAt ? { batchSentAt: req.batchSentAt } : {}),
        ...(indexed ? { index: i } : {}),
      });
      if (r.ok) events.push(r.event);
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

  /**
   * Stores already-validated events. `apply: false` (offline import) only makes them durable: the
   * server derives its serving state from the store when it starts.
   */
  async ingestValid(ws: Workspace, events: StoredEvent[], { apply = true }: { apply?: boolean } = {}): Promise<IngestResult> {
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
    // claim the messageIds before the first await, so a concurrent repeat sees them as in flight
    let settle!: (err?: unknown) => void;
    const done = new Promise<void>((resolve, reject) => (settle = (err) => (err === undefined ? resolve() : reject(err))));
    done.catch(() => undefined);
    for (const e of fresh) inflight.set(e.messageId, done);
    const toStore: StoredEvent[] = [];
    const newItems = new Map<string, ItemRecord>();
    try {
      const seen = await Promise.all(fresh.map((e) => this.store.get(ws.id, 'dedupe', dedupeKey(e.messageId))));
      fresh.forEach((e, i) => {
        if (seen[i] === undefined) toStore.push(e);
      });
      duplicates += fresh.length - toStore.length;

      const mutations: Mutation[] = [];
      for (const e of toStore) {
        mutations.push({ table: 'events', key: eventKey(e), value: e });
        mutations.push({ table: 'dedupe', key: dedupeKey(e.messageId), value: e.receivedAt });
        for (const m of productMentions(e)) {
          if (!ws.catalog.has(m.itemId) && !newItems.has(m.itemId)) newItems.set(m.itemId, { properties: m.properties, firstSeen: e.receivedAt });
        }
      }
      for (const [itemId, rec] of newItems) mutations.push({ table: 'items', key: itemId, value: rec });
      await this.store.commit(ws.id, mutations);
      for (const [itemId, rec] of newItems) if (!ws.catalog.has(itemId)) ws.catalog.upsert(itemId, rec.properties, rec.firstSeen);
      if (apply) {
        for (const e of toStore) ws.apply(e);
        ws.flush();
      }
      settle();
    } catch (err) {
      settle(err);
      throw err;
    } finally {
      for (const e of fresh) if (inflight.get(e.messageId) === done) inflight.delete(e.messageId);
    }
    if (apply) this.hooks.afterApply?.(ws, toStore);
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
