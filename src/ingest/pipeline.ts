/**
 * The ingestion path shared by HTTP, `kairos import` and the evaluation harness:
 * validate everything → drop repeats, suppressed ids and expired events → one durable commit → apply to memory.
 * A request is all or nothing: any invalid event and nothing is stored.
 */
import { KairosError, type ErrorDetail } from '../errors.ts';
import type { Workspace } from '../engine/workspace.ts';
import type { Mutation, Store } from '../store/types.ts';
import { MAX_DEPTH, MAX_EVENT_BYTES, normaliseEvent, personalizationPreference, type EventType, type NormaliseInput, type StoredEvent } from './event.ts';
import { productIdsOf } from './interactions.ts';
import { mergeMention, type ItemRecord } from '../catalog/item-record.ts';
import { itemIdProblem, itemStoreKey } from '../catalog/item.ts';
import { EncodedBatch, EventList, MAX_SEGMENT_EVENTS, type EncodedBatchData, type EventBatch } from './batch.ts';
import { entryOf } from '../multimap.ts';

export interface IngestRequest {
  events: unknown[];
  impliedType?: EventType;
  batchContext?: Record<string, unknown>;
  batchSentAt?: string;
  receivedAt?: number;
  /** bytes the largest event can have arrived in (the body size for HTTP): at most 32 KB spares measuring each */
  maxEventBytes?: number;
  /** an upper bound of every event's nesting (the brackets of its text): at most MAX_DEPTH spares walking each */
  maxNesting?: number;
}

export interface IngestResult {
  stored: number;
  duplicates: number;
  /** acknowledged and not stored: suppressed ids, or already past retention */
  dropped: number;
  /** catalog items created or updated from product properties the events carried */
  itemsWritten: number;
}

export { MAX_SEGMENT_EVENTS } from './batch.ts';

export type { ItemRecord } from '../catalog/item-record.ts';

/**
 * `meta` key prefix of the marks of segments whose events are durable but whose derived records
 * (experiment conversions, rewards, feedback, trigger firings) may not be yet
 */
export const DERIVING_PREFIX = 'deriving/';

export interface IngestHooks {
  /** data minimisation applied to every valid event before it is stored */
  minimise?(e: StoredEvent): StoredEvent;
  /** true when the id was erased with suppression: its events are acknowledged and dropped */
  isSuppressed(ws: Workspace, id: string): boolean;
  /** false when the workspace suppresses no id at all (the check per event is then skipped) */
  suppressesAny?(ws: Workspace): boolean;
  /** true when an event with this messageId was erased lately: a retry of it is a repeat */
  wasErased?(ws: Workspace, messageId: string): boolean;
  /** false when the workspace erased no event lately (the check per event is then skipped) */
  erasedAny?(ws: Workspace): boolean;
  /** true when an event of this type and time is already past its retention: acknowledged and not stored */
  isExpired?(type: EventType, timestamp: number): boolean;
}

/**
 * Validates a request's events (then applies data minimisation to each); throws the request's
 * 400/413 without touching anything. Pure: bulk import runs it on its parsing thread.
 */
export function validateEvents(req: IngestRequest, minimise?: (e: StoredEvent) => StoredEvent): StoredEvent[] {
  const receivedAt = req.receivedAt ?? Date.now();
  const details: ErrorDetail[] = [];
  const events: StoredEvent[] = [];
  let tooLarge = false;
  const indexed = req.impliedType === undefined;
  const smallEnough = req.maxEventBytes !== undefined && req.maxEventBytes <= MAX_EVENT_BYTES;
  const shallowEnough = req.maxNesting !== undefined && req.maxNesting <= MAX_DEPTH;
  // one input object for the whole request, its event and index set per event
  const input: NormaliseInput = {
    raw: undefined,
    receivedAt,
    smallEnough,
    shallowEnough,
    ...(req.impliedType ? { impliedType: req.impliedType } : {}),
    ...(req.batchContext ? { batchContext: req.batchContext } : {}),
    ...(req.batchSentAt ? { batchSentAt: req.batchSentAt } : {}),
  };
  for (let i = 0; i < req.events.length; i++) {
    input.raw = req.events[i];
    if (indexed) input.index = i;
    const r = normaliseEvent(input);
    if (!r.ok) {
      details.push(...r.details);
      tooLarge ||= r.tooLarge === true;
      continue;
    }
    let badId = false;
    for (const { itemId, field } of productIdsOf(r.event)) {
      const problem = itemIdProblem(itemId);
      if (!problem) continue;
      details.push({ ...(indexed ? { index: i } : {}), field, message: problem });
      badId = true;
    }
    if (!badId) events.push(minimise ? minimise(r.event) : r.event);
  }
  if (tooLarge) throw new KairosError('KAIROS_ERR_TOO_LARGE', 'an event is larger than 32 KB', details);
  if (details.length > 0) throw new KairosError('KAIROS_ERR_VALIDATION', `${details.length} problem(s) in the request`, details);
  return events;
}

export class Ingestor {
  /** messageIds whose commit is under way, per workspace: a concurrent repeat waits for it */
  private readonly inflight = new Map<string, Map<string, Promise<unknown>>>();
  /** segments whose derived records are durable, per workspace: their marks are deleted with the next commit */
  private readonly derived = new Map<string, string[]>();
  /** batches being stored and applied, per workspace */
  private readonly running = new Map<string, Set<Promise<IngestResult>>>();
  /** item records being written by commits under way, per workspace: later mentions merge on top */
  private readonly pendingItems = new Map<string, Map<string, ItemRecord>>();
  /**
   * items whose records someone rebuilds or writes whole (lockItems), per workspace, with the promise
   * that settles when they are done: batches merge mentions of them only afterwards
   */
  private readonly itemLocks = new Map<string, Map<string, Promise<void>>>();
  /**
   * per workspace, how many batches past their merge but not yet applied mention each item (whether
   * or not their mentions changed its record: a rebuild must count their events all the same), and
   * the writers waiting for such counts to drop
   */
  private readonly mentioning = new Map<string, Map<string, number>>();
  private readonly mentionWaiters = new Map<string, Array<() => void>>();

  constructor(
    private readonly store: Store,
    private readonly hooks: IngestHooks,
  ) {}

  /**
   * Takes these items for one writer of whole records (a rebuild from events, an API write): resolves
   * once no other writer holds any of them (all are taken at once, so two writers never wait for
   * each other) and every batch that merged mentions of them has been applied; until the returned
   * release is called, batches wait before merging mentions of them. A whole record is computed from
   * what is applied, so nothing may be merged meanwhile that it would overwrite.
   */
  async lockItems(ws: Workspace, items: Iterable<string>): Promise<() => void> {
    const ids = [...new Set(items)];
    const locks = entryOf(this.itemLocks, ws.id, () => new Map());
    for (let held = ids.find((id) => locks.has(id)); held !== undefined; held = ids.find((id) => locks.has(id))) await locks.get(held);
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    for (const id of ids) locks.set(id, mine);
    const release = (): void => {
      for (const id of ids) if (locks.get(id) === mine) locks.delete(id);
      done();
    };
    try {
      // batches that merged before the lock was taken commit and apply first (they are counted in
      // `mentioning` from their merge to the turn they apply in, and never wait for a lock once past it)
      const mentioning = this.mentioning.get(ws.id);
      while (mentioning !== undefined && ids.some((id) => mentioning.has(id))) await new Promise<void>((resolve) => entryOf(this.mentionWaiters, ws.id, () => []).push(resolve));
    } catch (err) {
      release();
      throw err;
    }
    return release;
  }

  private unmention(ws: Workspace, items: readonly string[]): void {
    const counts = this.mentioning.get(ws.id)!;
    for (const itemId of items) {
      const n = counts.get(itemId)! - 1;
      if (n === 0) counts.delete(itemId);
      else counts.set(itemId, n);
    }
    const waiters = this.mentionWaiters.get(ws.id);
    if (waiters?.length) for (const wake of waiters.splice(0)) wake();
  }

  /** the lock held on one of these items, if any */
  private heldLock(ws: Workspace, items: readonly string[]): Promise<void> | undefined {
    const locks = this.itemLocks.get(ws.id);
    if (locks === undefined || locks.size === 0) return undefined;
    for (const id of items) {
      const held = locks.get(id);
      if (held !== undefined) return held;
    }
    return undefined;
  }

  /** Validates a request's events; throws the request's 400/413 without touching anything. */
  validate(req: IngestRequest): StoredEvent[] {
    return validateEvents(req, this.hooks.minimise);
  }

  /** The data minimisation every valid event goes through before it is stored. */
  minimise(e: StoredEvent): StoredEvent {
    return this.hooks.minimise ? this.hooks.minimise(e) : e;
  }

  async ingest(ws: Workspace, req: IngestRequest): Promise<IngestResult> {
    return this.ingestValid(ws, this.validate(req));
  }

  /** Stores already-validated events, then applies them to the workspace's serving state. */
  async ingestValid(ws: Workspace, events: StoredEvent[]): Promise<IngestResult> {
    const stored = this.storeBatch(ws, new EventList(events));
    const running = entryOf(this.running, ws.id, () => new Set());
    running.add(stored);
    try {
      return await stored;
    } finally {
      running.delete(stored);
    }
  }

  /**
   * Resolves once every batch being stored for the workspace now has been stored and applied, or
   * has failed (an erasure that suppresses ids lets the batches that passed the check land first).
   */
  async settled(ws: string): Promise<void> {
    const running = this.running.get(ws);
    if (running?.size) await Promise.allSettled([...running]);
  }

  /**
   * Stores a batch that bulk import's parsing thread validated and encoded. Only for a workspace that
   * keeps just its ledger (`kairos import`): the events are not at hand as objects to apply.
   */
  async ingestEncoded(ws: Workspace, data: EncodedBatchData): Promise<IngestResult> {
    if (!ws.ledgerOnly) throw new Error('encoded batches are only stored by a ledger-only workspace (bulk import)');
    return this.storeBatch(ws, new EncodedBatch(data));
  }

  private async storeBatch(ws: Workspace, batch: EventBatch): Promise<IngestResult> {
    const inflight = entryOf(this.inflight, ws.id, () => new Map());
    // A ledger-only workspace (bulk import) enters each messageId in its ledger as the event is taken:
    // a repeat, in this batch or in one committing meanwhile, is then found there, with no in-flight
    // entry to make and remove. Should the commit fail, the ledger claims events that were not
    // stored, but no one reads it again: the import stops at a failed commit, and the ledger, held
    // only in memory, ends with it.
    const ledgerFirst = ws.ledgerOnly;
    // this batch's commit, as a concurrent repeat of its events waits for it; registered with each
    // event taken, so that it also tells a repeat within the batch. It settles as the commit does.
    let settle!: (commit: Promise<unknown>) => void;
    const mine = new Promise<unknown>((resolve) => (settle = resolve));
    mine.catch(() => {}); // a failure reaches whoever waits for it, never as an unhandled rejection
    const waits: Promise<unknown>[] = [];
    let duplicates = 0;
    let dropped = 0;
    // indices of the events to store, their messageIds and ledger keys
    const toStore: number[] = [];
    const storedIds: string[] = [];
    const storedKeys: number[] = [];
    const suppressing = this.hooks.suppressesAny?.(ws) ?? true;
    const erased = this.hooks.wasErased !== undefined && (this.hooks.erasedAny?.(ws) ?? true);
    for (let i = 0; i < batch.length; i++) {
      if ((suppressing && this.anySuppressed(ws, batch.ids(i))) || this.hooks.isExpired?.(batch.type(i), batch.timestamp(i))) {
        dropped++;
        continue;
      }
      const messageId = batch.messageId(i);
      const pending = ledgerFirst ? undefined : inflight.get(messageId);
      if (pending !== undefined) {
        if (pending !== mine) waits.push(pending);
        duplicates++;
        continue;
      }
      const key = batch.messageIdKey(i);
      if (ws.hasMessage(messageId, key) || (erased && this.hooks.wasErased!(ws, messageId))) {
        duplicates++;
        continue;
      }
      if (ledgerFirst) ws.noteStored(messageId, key);
      else inflight.set(messageId, mine);
      toStore.push(i);
      storedIds.push(messageId);
      storedKeys.push(key);
    }
    const newItems = new Map<string, ItemRecord>();
    const segments: Array<[string, number[]]> = [];
    // bulk import derives nothing (models and records are built by the next start)
    const deriving = ws.derivesFromEvents && !ledgerFirst;
    const pending = entryOf(this.pendingItems, ws.id, () => new Map());
    // mentions not counted: events that would not be usable (consent), judged on what is applied now
    let uncounted: Set<number> | undefined;
    /** the items this batch counts in `mentioning` (from its merge to its apply) */
    let mentioned: readonly string[] | undefined;
    let settled = false;
    try {
      // checked again right after each wait, in the turn that then merges and counts this batch in
      // `mentioning`: a writer woken by the same release takes its lock either before (seen here) or
      // after (it then sees this batch counted and waits for it to be applied)
      for (let held = this.heldLock(ws, batch.mentionedItems); held !== undefined; held = this.heldLock(ws, batch.mentionedItems)) await held;
      if (!ledgerFirst && ws.anyPreferenceStated) {
        for (let k = 0; k < toStore.length; k++) {
          const i = toStore[k]!;
          const e = batch.mentionStart(i) < batch.mentionStart(i + 1) ? batch.event(i) : undefined;
          if (e !== undefined && !ws.wouldCount(batch.ids(i), batch.timestamp(i), personalizationPreference(e))) (uncounted ??= new Set()).add(k);
        }
      }
      const mutations: Mutation[] = [];
      // one segment per block of MAX_SEGMENT_EVENTS events of the batch, holding those stored: an
      // encoded batch was encoded block by block, so a block without repeats is stored as it came
      for (let i = 0; i < toStore.length; ) {
        const block = Math.floor(toStore[i]! / MAX_SEGMENT_EVENTS);
        let j = i + 1;
        while (j < toStore.length && Math.floor(toStore[j]! / MAX_SEGMENT_EVENTS) === block) j++;
        const seg = ws.allocateSegment();
        const indices = toStore.slice(i, j);
        segments.push([seg, indices]);
        mutations.push({ table: 'events', key: seg, value: batch.segment(indices) });
        i = j;
      }
      // per item the batch mentions (by its index in mentionedItems): the record merges start from,
      // looked up on its first mention (a commit under way may hold a newer one than the catalog),
      // and then whatever the batch's mentions made of it
      const items = batch.mentionedItems;
      const records = new Array<Readonly<ItemRecord> | undefined>(items.length);
      const looked = new Uint8Array(items.length);
      for (let k = 0; k < toStore.length; k++) {
        if (uncounted?.has(k)) continue;
        const i = toStore[k]!;
        const t = batch.timestamp(i);
        for (let m = batch.mentionStart(i), end = batch.mentionStart(i + 1); m < end; m++) {
          const slot = batch.mentionItem(m);
          if (looked[slot] === 0) {
            looked[slot] = 1;
            records[slot] = pending.get(items[slot]!) ?? ws.catalog.record(items[slot]!);
          }
          const merged = mergeMention(records[slot], batch.mentionProperties(m), t, storedIds[k]!);
          if (merged) {
            records[slot] = merged;
            looked[slot] = 2;
          }
        }
      }
      if (!ledgerFirst && items.length > 0) {
        const counts = entryOf(this.mentioning, ws.id, () => new Map());
        for (const itemId of items) counts.set(itemId, (counts.get(itemId) ?? 0) + 1);
        mentioned = items;
      }
      for (let slot = 0; slot < items.length; slot++) if (looked[slot] === 2) newItems.set(items[slot]!, records[slot] as ItemRecord);
      for (const [itemId, rec] of newItems) {
        pending.set(itemId, rec);
        mutations.push({ table: 'items', key: itemStoreKey(itemId), value: { ...rec, itemId } });
      }
      // the records extensions derive from these events commit after them: until they have, a mark
      // per segment says so, and a start after a crash in between derives them again (Engine)
      if (deriving) {
        for (const [seg] of segments) mutations.push({ table: 'meta', key: DERIVING_PREFIX + seg, value: 1 });
        for (const seg of entryOf(this.derived, ws.id, () => []).splice(0)) mutations.push({ table: 'meta', key: DERIVING_PREFIX + seg });
      }
      const commit = this.store.commit(ws.id, mutations);
      settle(commit);
      settled = true;
      await commit;
    } catch (err) {
      // a repeat may wait for this batch (a turn passes while it waits for a lock): it hears the failure
      if (!settled) settle(Promise.reject(err));
      throw err;
    } finally {
      // a repeat met while this batch was under way waited for it rather than registering itself:
      // every entry for these messageIds is this batch's
      if (!ledgerFirst) for (const messageId of storedIds) inflight.delete(messageId);
      for (const [itemId, rec] of newItems) if (pending.get(itemId) === rec) pending.delete(itemId);
      // applied in this same turn (below), or never: writers waiting for the items may go on
      if (mentioned !== undefined) this.unmention(ws, mentioned);
    }
    for (const [itemId, rec] of newItems) {
      const current = ws.catalog.record(itemId);
      // an API write that landed meanwhile wins; otherwise keep whichever merge saw more
      if (current && current.source !== 'events') continue;
      ws.catalog.upsert(itemId, rec.properties, rec.firstSeen, rec);
    }
    if (uncounted) for (const k of uncounted) ws.catalogUncounted.add(storedIds[k]!);
    const stored: StoredEvent[] = [];
    let k = 0;
    for (const [seg, indices] of segments) {
      for (const i of indices) {
        const e = batch.event(i);
        if (e) {
          if (!ledgerFirst) ws.apply(e, seg, storedKeys[k]);
          stored.push(e);
        }
        k++;
      }
    }
    ws.flush();
    // records extensions derive from these events (rewards, conversions) are durable before the ack too
    const derived = stored.length ? ws.notifyApplied(stored) : [];
    // a repeat of an event still being committed is acknowledged only once that commit is durable
    await Promise.all([...waits, ...derived]);
    // their marks go with the next batch's commit
    if (deriving) for (const [seg] of segments) entryOf(this.derived, ws.id, () => []).push(seg);
    return { stored: toStore.length, duplicates, dropped, itemsWritten: newItems.size };
  }

  private anySuppressed(ws: Workspace, ids: readonly string[]): boolean {
    for (const id of ids) if (this.hooks.isSuppressed(ws, id)) return true;
    return false;
  }

  /** per workspace, the deletions of the marks still held (taken: the caller commits them) */
  derivedMarks(): Array<[string, Mutation[]]> {
    const out: Array<[string, Mutation[]]> = [];
    for (const [ws, segs] of this.derived) if (segs.length) out.push([ws, segs.splice(0).map((seg) => ({ table: 'meta' as const, key: DERIVING_PREFIX + seg }))]);
    return out;
  }
}
