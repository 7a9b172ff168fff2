/**
 * Triggered messages inside the running engine: the event stream schedules firings, a due queue runs
 * them, a decision picks what to send and the outbox delivers it to the trigger's webhook.
 *
 * Life of a firing (one record per idempotency key, outbox.ts):
 *   scheduled ──due──▶ (checks, decision) ──▶ pending ──2xx──▶ delivered
 *       │                    │                   │ └─408/429/5xx/network: retry with backoff, until maxAttempts ─▶ dead
 *       └──────────────▶ cancelled               └─other status ─▶ dead
 *
 * Time: windows are measured in event time (the anchor's and the cancelling event's timestamps,
 * after ingestion's clock-skew correction), so a late-arriving `Order Completed` stamped inside the
 * window still cancels. The due time is wall time: the anchor's time (or its arrival, if earlier:
 * a clock running ahead must not postpone the message) plus the delay. An anchor whose firing was due
 * more than `maxLatenessMs` before it arrived is history (an import), not a cue, and schedules nothing.
 *
 * Durability: the records an event batch creates are committed before the batch is acknowledged
 * (the onApplied listener returns the commit). A delivery is marked delivered only after the receiver
 * answered 2xx and the record is durable, so a crash in between resends it once at start — with the
 * same Idempotency-Key, for the receiver to drop. A crash between the decision and the record that
 * holds it re-runs the decision at start; still at most one delivery per key.
 */
import type { Logger } from 'pino';
import type { WorkspaceExtension } from '../../engine/engine.ts';
import { isUsable, personOf, type PersonView, type Workspace } from '../../engine/workspace.ts';
import type { StoredEvent } from '../../ingest/event.ts';
import type { ExportSource } from '../../privacy/export.ts';
import type { Mutation, Store } from '../../store/types.ts';
import { evaluate } from '../conditions.ts';
import type { DecideOptions, DecideRequest, DecideResponse } from '../serving/types.ts';
import { attemptDelivery, backoffMs, type DeliveryPayload } from './delivery.ts';
import { DueQueue } from './due-queue.ts';
import { FairQueue, type Taken } from './fair-queue.ts';
import { Outbox, firingDeletion, idempotencyKeyOf, isOpen, type Firing, type FiringStatus } from './outbox.ts';
import { sameWhen, type TriggerRecord } from './trigger.ts';

/** What triggers need of the decision service (DecisionsExtension provides it). */
export interface Decider {
  decide(ws: Workspace, req: DecideRequest, options: DecideOptions): Promise<DecideResponse>;
}

export interface TriggerSettings {
  /** an attempt without an answer within this is a network error (retried) */
  requestTimeoutMs: number;
  /** decisions and deliveries in progress at once, across workspaces */
  concurrency: number;
  /** of those, at most this many for one workspace, so that others always find a slot */
  perWorkspace: number;
  /** at most this many for one webhook origin of a workspace (a receiver that never answers holds each for requestTimeoutMs)… */
  perDestination: number;
  /** …and this many while its last attempt failed, until one succeeds */
  failingDestination: number;
  /** finished firings (delivered, cancelled, dead) stay listed this long */
  keepDays: number;
  /** an anchor whose firing was due more than this before it arrived schedules nothing */
  maxLatenessMs: number;
  /** how often finished firings past `keepDays` are removed while running */
  pruneEveryMs: number;
  /** webhooks may point at loopback, private and link-local addresses (KAIROS_WEBHOOK_ALLOW_INTERNAL) */
  allowInternalAddresses: boolean;
}

export const DEFAULT_TRIGGER_SETTINGS: TriggerSettings = {
  requestTimeoutMs: 10_000,
  concurrency: 8,
  perWorkspace: 6,
  perDestination: 4,
  failingDestination: 1,
  keepDays: 30,
  maxLatenessMs: 3_600_000,
  pruneEveryMs: 3_600_000,
  allowInternalAddresses: false,
};

interface Context {
  ws: Workspace;
  store: Store;
  outbox: Outbox;
}

interface Job {
  ctx: Context;
  key: string;
}

/** A firing as the API and exports show it. */
export interface FiringView {
  idempotencyKey: string;
  triggerId: string;
  status: FiringStatus;
  reason?: string;
  person: { userId?: string; anonymousId?: string };
  anchor: { messageId: string; at: string };
  dueAt: string;
  decisionId?: string;
  actions?: DeliveryPayload['actions'];
  attempts: number;
  nextAttemptAt?: string;
  lastError?: { status?: number; message: string };
  deliveredAt?: string;
  createdAt: string;
  updatedAt: string;
}

const iso = (t: number): string => new Date(t).toISOString();

export function firingView(f: Firing): FiringView {
  return {
    idempotencyKey: f.idempotencyKey,
    triggerId: f.triggerId,
    status: f.status,
    ...(f.reason !== undefined ? { reason: f.reason } : {}),
    person: f.person,
    anchor: { messageId: f.anchor.messageId, at: iso(f.anchor.t) },
    dueAt: iso(f.dueAt),
    ...(f.decisionId !== undefined ? { decisionId: f.decisionId } : {}),
    ...(f.payload ? { actions: f.payload.actions } : {}),
    attempts: f.attempts,
    ...(f.status === 'pending' && f.nextAttemptAt !== undefined ? { nextAttemptAt: iso(f.nextAttemptAt) } : {}),
    ...(f.lastError ? { lastError: f.lastError } : {}),
    ...(f.deliveredAt !== undefined ? { deliveredAt: iso(f.deliveredAt) } : {}),
    createdAt: iso(f.createdAt),
    updatedAt: iso(f.updatedAt),
  };
}

/** `f` moved to a finished or retried state: fields of the earlier state are dropped, not left stale. */
function transition(f: Firing, status: FiringStatus, now: number, extra: Partial<Firing> = {}): Firing {
  const { reason: _r, nextAttemptAt: _n, lastError: _e, ...rest } = f;
  return { ...rest, status, updatedAt: now, ...extra };
}

const personIds = (e: StoredEvent): Firing['person'] => ({
  ...(e.userId !== undefined ? { userId: e.userId } : {}),
  ...(e.anonymousId !== undefined ? { anonymousId: e.anonymousId } : {}),
});

/**
 * Whether anchor `a` comes after `b`: later in event time, then by messageId, so that of two anchors
 * at the same millisecond (two ids of one person, merged later) exactly one is the latest.
 */
export const laterAnchor = (a: { t: number; messageId: string }, b: { t: number; messageId: string }): boolean => a.t > b.t || (a.t === b.t && a.messageId > b.messageId);

export class TriggersExtension implements WorkspaceExtension {
  readonly settings: TriggerSettings;
  private readonly contexts = new WeakMap<Workspace, Context>();
  private readonly attached: Context[] = [];
  private readonly queue = new DueQueue<Job>((job) => this.enqueue(job));
  /** due jobs waiting for a free slot, in turn per destination */
  private readonly ready: FairQueue<Job>;
  private readonly running = new Set<Promise<void>>();
  /** `${ws}\0${key}` of firings being worked on: one step at a time per firing */
  private readonly busy = new Set<string>();
  private readonly shutdown = new AbortController();
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly decider: Decider,
    settings: Partial<TriggerSettings> = {},
    private readonly logger?: Logger,
  ) {
    this.settings = { ...DEFAULT_TRIGGER_SETTINGS, ...settings };
    const { perWorkspace, perDestination, failingDestination } = this.settings;
    this.ready = new FairQueue({ perWorkspace, perDestination, failingDestination });
  }

  async attach(ws: Workspace, store: Store): Promise<void> {
    const outbox = new Outbox();
    const expired = await outbox.load(store, ws.id, Date.now() - this.settings.keepDays * 86_400_000);
    if (expired.length) await store.commit(ws.id, expired);
    const ctx: Context = { ws, store, outbox };
    ws.onApplied((events) => {
      // the events are durable already: a fault here must not fail their ingestion
      try {
        return this.onEvents(ctx, events);
      } catch (err) {
        this.logger?.error({ err }, 'triggers could not process an event batch');
        return undefined;
      }
    });
    ws.onForget(
      (ids) => outbox.forget(ids),
      (ids) => outbox.deletions(ids),
    );
    this.contexts.set(ws, ctx);
    this.attached.push(ctx);
    // resume: what was scheduled or pending (in flight included) when the process stopped
    for (const f of outbox.firings.values()) if (isOpen(f)) this.queue.add(this.nextTimeOf(f), { ctx, key: f.idempotencyKey });
    if (!this.pruneTimer && this.settings.pruneEveryMs > 0) {
      this.pruneTimer = setInterval(() => void this.pruneAll(), this.settings.pruneEveryMs);
      this.pruneTimer.unref();
    }
  }

  /** Stops timers, abandons attempts in flight (they stay pending, resumed at the next start) and waits for running work. */
  async stop(): Promise<void> {
    this.queue.stop();
    this.ready.clear();
    clearInterval(this.pruneTimer);
    this.pruneTimer = undefined;
    this.shutdown.abort();
    await Promise.allSettled([...this.running]);
  }

  private contextOf(ws: Workspace): Context {
    const c = this.contexts.get(ws);
    if (!c) throw new Error(`workspace ${ws.id} has no triggers`);
    return c;
  }

  // --- API -----------------------------------------------------------------------------------

  trigger(ws: Workspace, triggerId: string): TriggerRecord | undefined {
    return this.contextOf(ws).outbox.triggers.get(triggerId);
  }

  triggers(ws: Workspace): TriggerRecord[] {
    return [...this.contextOf(ws).outbox.triggers.values()].sort((a, b) => (a.triggerId < b.triggerId ? -1 : 1));
  }

  /**
   * Stores a validated trigger. A new or changed condition takes a baseline: the people for whom it
   * already holds are marked, so only a later crossing fires (not everyone who matched all along).
   */
  async putTrigger(ws: Workspace, t: TriggerRecord, now: number): Promise<TriggerRecord> {
    const { outbox, store } = this.contextOf(ws);
    const existing = outbox.triggers.get(t.triggerId);
    const writes: Mutation[] = [];
    if (!existing || !sameWhen(existing.when, t.when)) {
      writes.push(...outbox.clearMarks(t.triggerId));
      if ('condition' in t.when) {
        for (const root of ws.identity.roots()) {
          const view = ws.viewOf(root);
          // opted-out people too: marks follow everyone, so opting back in fires nothing by itself
          if (view && this.holds(ws, t, view, now)) writes.push(...outbox.mark(t.triggerId, view.ids, now));
        }
      }
    }
    writes.push(outbox.putTrigger(t));
    await store.commit(ws.id, writes);
    return t;
  }

  /** Deletes a trigger with its firings (pending deliveries are not sent) and marks. */
  async deleteTrigger(ws: Workspace, triggerId: string): Promise<boolean> {
    const { outbox, store } = this.contextOf(ws);
    if (!outbox.triggers.has(triggerId)) return false;
    await store.commit(ws.id, outbox.deleteTrigger(triggerId));
    return true;
  }

  /** a trigger's firings, newest first */
  firings(ws: Workspace, triggerId: string, status?: FiringStatus): Firing[] {
    const out = [...this.contextOf(ws).outbox.firings.values()].filter((f) => f.triggerId === triggerId && (status === undefined || f.status === status));
    return out.sort((a, b) => b.createdAt - a.createdAt || (a.idempotencyKey < b.idempotencyKey ? -1 : 1));
  }

  /**
   * Sends a dead-lettered delivery again, with the same payload and idempotency key and a fresh
   * attempt budget. Returns undefined when the firing is unknown, or the firing unchanged when it is
   * not a dead letter that holds a payload.
   */
  async redeliver(ws: Workspace, triggerId: string, key: string, now: number): Promise<{ firing: Firing; requeued: boolean } | undefined> {
    const ctx = this.contextOf(ws);
    const f = ctx.outbox.firings.get(key);
    if (!f || f.triggerId !== triggerId) return undefined;
    if (f.status !== 'dead' || !f.payload || this.isBusy(ctx, key)) return { firing: f, requeued: false };
    const next = transition(f, 'pending', now, { attempts: 0, nextAttemptAt: now });
    const saved = await this.save(ctx, f, next);
    if (saved) this.queue.add(now, { ctx, key });
    return { firing: saved ?? f, requeued: saved !== undefined };
  }

  /** export: the triggered messages of a person */
  readonly exportSource: ExportSource = (ws, ids) => this.contextOf(ws).outbox.firingsOf(ids).map((f) => ({ type: 'triggered_message', ...firingView(f) }));

  // --- the event stream ----------------------------------------------------------------------

  /**
   * Schedules firings for anchors and condition crossings, and cancels waiting ones an `unless`
   * event rules out, all synchronously; returns the commit of what it changed.
   */
  private onEvents(ctx: Context, events: readonly StoredEvent[]): Promise<void> | undefined {
    const { ws, outbox } = ctx;
    if (outbox.triggers.size === 0) return undefined;
    const now = Date.now();
    const writes: Mutation[] = [];
    const scheduled: Firing[] = [];
    const active = [...outbox.triggers.values()].filter((t) => t.status === 'active');
    for (const e of events) {
      if (e.type !== 'track') continue;
      for (const t of active) if ('event' in t.when && t.when.event === e.event) this.anchor(ctx, t, e, now, writes, scheduled);
    }
    // paused condition triggers too: their marks follow the person, so a crossing while paused is
    // spent, as an event while paused is (nothing schedules), and not left to fire after it
    const conditional = [...outbox.triggers.values()].filter((t) => 'condition' in t.when);
    if (conditional.length > 0) {
      // one evaluation per person and batch, anchored on their latest event of the batch
      const latest = new Map<string, StoredEvent>();
      for (const e of events) {
        const root = ws.rootOf((e.userId ?? e.anonymousId)!);
        const seen = root === undefined ? undefined : latest.get(root);
        if (root !== undefined && (!seen || seen.timestamp <= e.timestamp)) latest.set(root, e);
      }
      for (const [root, e] of latest) {
        const view = ws.viewOf(root);
        if (!view) continue;
        for (const t of conditional) {
          const holds = this.holds(ws, t, view, now);
          const held = outbox.marked(t.triggerId, view.ids);
          if (holds && !held) {
            // an opted-out person's crossing is spent like a paused trigger's; one seen on history
            // alone (their latest event of the batch too old to anchor) is not: their next live
            // event finds it unmarked and fires
            const sendable = t.status === 'active' && view.personalization !== false;
            if (sendable && this.anchor(ctx, t, e, now, writes, scheduled) === 'history') continue;
            writes.push(...outbox.mark(t.triggerId, view.ids, now));
          } else if (!holds && held) {
            writes.push(...outbox.unmark(t.triggerId, view.ids));
          }
        }
      }
    }
    // eager cancellation; the check at due time is what guarantees it (late events, merges)
    for (const e of events) {
      if (e.type !== 'track') continue;
      for (const t of outbox.triggers.values()) {
        if (t.unless?.event !== e.event) continue;
        const view = personOf(ws, e);
        if (!view) continue;
        for (const f of outbox.firingsOf(view.ids, t.triggerId)) {
          if (f.status !== 'scheduled' || this.isBusy(ctx, f.idempotencyKey) || !inWindow(f, t, e.messageId, e.timestamp)) continue;
          writes.push(outbox.putFiring(transition(f, 'cancelled', now, { reason: 'unless' })));
        }
      }
    }
    if (writes.length === 0) return undefined;
    return ctx.store.commit(ws.id, writes).then(() => {
      for (const f of scheduled) if (outbox.firings.get(f.idempotencyKey) === f) this.queue.add(f.dueAt, { ctx, key: f.idempotencyKey });
    });
  }

  private holds(ws: Workspace, t: TriggerRecord, view: PersonView, now: number): boolean {
    if (!('condition' in t.when)) return false;
    const profile = ws.profile(view.root, now);
    return profile !== undefined && evaluate(t.when.condition, { traits: profile.traits, features: profile.features, segments: profile.segments });
  }

  /**
   * Schedules a firing for anchor event `e`; one firing per trigger and person: the latest anchor
   * wins, whatever arrived first. Returns `history` when the firing would have been due too long
   * before now (an import, a backfill), `scheduled`, or `skipped` (no anchor, or a later one exists).
   */
  private anchor(ctx: Context, t: TriggerRecord, e: StoredEvent, now: number, writes: Mutation[], scheduled: Firing[]): 'scheduled' | 'history' | 'skipped' {
    const { ws, outbox } = ctx;
    const view = personOf(ws, e);
    // an event sent while the person had opted out is never an anchor, whenever it arrives
    if (!view || view.personalization === false || !isUsable(view, e.messageId, e.timestamp)) return 'skipped';
    const key = idempotencyKeyOf(t.triggerId, e.messageId);
    if (outbox.firings.has(key)) return 'skipped';
    const dueAt = Math.min(e.timestamp, e.receivedAt) + t.delaySeconds * 1000;
    if (dueAt < now - this.settings.maxLatenessMs) return 'history';
    const anchor = { messageId: e.messageId, t: e.timestamp };
    const others = outbox.firingsOf(view.ids, t.triggerId);
    // a late anchor older than one already taken (waiting, sent or cancelled) would have been
    // superseded by it had the events arrived in order: it sends nothing
    if (others.some((other) => outranks(view, other, anchor))) return 'skipped';
    for (const other of others) {
      if (other.status !== 'scheduled' || this.isBusy(ctx, other.idempotencyKey)) continue;
      writes.push(outbox.putFiring(transition(other, 'cancelled', now, { reason: 'superseded' })));
    }
    const f: Firing = {
      idempotencyKey: key,
      triggerId: t.triggerId,
      person: personIds(e),
      anchor: { messageId: e.messageId, t: e.timestamp },
      dueAt,
      status: 'scheduled',
      attempts: 0,
      createdAt: now,
      updatedAt: now,
    };
    writes.push(outbox.putFiring(f));
    scheduled.push(f);
    return 'scheduled';
  }

  // --- the scheduler -------------------------------------------------------------------------

  private nextTimeOf(f: Firing): number {
    return f.status === 'scheduled' ? f.dueAt : (f.nextAttemptAt ?? f.updatedAt);
  }

  private isBusy(ctx: Context, key: string): boolean {
    return this.busy.has(`${ctx.ws.id}\u0000${key}`);
  }

  /** where a firing's trigger delivers: its workspace and webhook origin */
  private destinationOf(ctx: Context, triggerId: string | undefined): string {
    const url = triggerId === undefined ? undefined : ctx.outbox.triggers.get(triggerId)?.webhook.url;
    let origin = '';
    try {
      if (url !== undefined) origin = new URL(url).origin;
    } catch {
      // validated when saved; an unreadable one shares the workspace's empty destination
    }
    return `${ctx.ws.id}\u0000${origin}`;
  }

  private enqueue(job: Job): void {
    this.ready.push(job.ctx.ws.id, this.destinationOf(job.ctx, job.ctx.outbox.firings.get(job.key)?.triggerId), job);
    this.drain();
  }

  private drain(): void {
    while (!this.shutdown.signal.aborted && this.running.size < this.settings.concurrency) {
      const taken: Taken<Job> | undefined = this.ready.take();
      if (!taken) break;
      const job = taken.item;
      const id = `${job.ctx.ws.id}\u0000${job.key}`;
      if (this.busy.has(id)) {
        this.ready.release(taken);
        continue;
      }
      this.busy.add(id);
      const run: Promise<void> = this.step(job)
        .catch((err: unknown) => this.logger?.error({ err, triggerId: job.ctx.outbox.firings.get(job.key)?.triggerId }, 'triggered message failed'))
        .finally(() => {
          this.busy.delete(id);
          this.ready.release(taken);
          this.running.delete(run);
          this.drain();
        });
      this.running.add(run);
    }
  }

  private async step(job: Job): Promise<void> {
    const { ctx, key } = job;
    let f = ctx.outbox.firings.get(key);
    if (!f || !isOpen(f)) return;
    const at = this.nextTimeOf(f);
    if (at > Date.now()) return this.queue.add(at, job);
    if (f.status === 'scheduled') f = await this.fire(ctx, f, Date.now());
    if (f?.status === 'pending') await this.attempt(job, f);
  }

  /** A due firing: the checks, then the decision. Returns the firing, pending when there is something to send. */
  private async fire(ctx: Context, f: Firing, now: number): Promise<Firing | undefined> {
    const { ws } = ctx;
    const cancel = (reason: string): Promise<Firing | undefined> => this.save(ctx, f, transition(f, 'cancelled', now, { reason }));
    const t = ctx.outbox.triggers.get(f.triggerId);
    if (!t) return undefined;
    if (t.status === 'paused') return cancel('paused');
    const view = personOf(ws, f.person);
    if (!view) return cancel('person unknown');
    if (view.personalization === false) return cancel('opted out');
    // an opt-out dated before the anchor may have arrived after it
    if (!isUsable(view, f.anchor.messageId, f.anchor.t)) return cancel('sent while opted out');
    if (ctx.outbox.firingsOf(view.ids, f.triggerId).some((o) => o !== f && outranks(view, o, f.anchor))) return cancel('superseded');
    if (t.unless && (await this.cancelledByUnless(ctx, view, f, t))) return cancel('unless');
    const profile = ws.profile(view.root, now);
    const userId = profile?.userId ?? null;
    const anonymousId = f.person.anonymousId ?? profile?.anonymousIds[0] ?? null;
    const req: DecideRequest = { placement: t.placement, channel: t.channel, ...(userId !== null ? { userId } : {}), ...(anonymousId !== null ? { anonymousId } : {}) };
    let decision: DecideResponse;
    try {
      decision = await this.decider.decide(ws, req, { now, trigger: t.triggerId });
    } catch (err) {
      this.logger?.warn({ err, triggerId: t.triggerId }, 'decision for a triggered message failed');
      return this.save(ctx, f, transition(f, 'dead', now, { reason: `decision failed: ${(err as Error).message}` }));
    }
    if (decision.actions.length === 0) return cancel(decision.holdout ? 'holdout' : 'no eligible action');
    const payload: DeliveryPayload = {
      idempotencyKey: f.idempotencyKey,
      triggerId: t.triggerId,
      decisionId: decision.decisionId,
      placement: t.placement,
      channel: t.channel,
      person: { userId, anonymousId },
      actions: decision.actions,
      firedAt: iso(now),
    };
    return this.save(ctx, f, transition(f, 'pending', now, { decisionId: decision.decisionId, payload, nextAttemptAt: now }));
  }

  /** Whether the person (all of their ids now) sent the `unless` event inside the anchor's window: read from the event log. */
  private async cancelledByUnless(ctx: Context, view: PersonView, f: Firing, t: TriggerRecord): Promise<boolean> {
    const inside = view.events.filter((e) => e.type === 'track' && inWindow(f, t, e.messageId, e.t));
    const wanted = new Set(inside.map((e) => e.messageId));
    for (const seg of new Set(inside.map((e) => e.seg))) {
      const stored = (await ctx.store.get<StoredEvent[]>(ctx.ws.id, 'events', seg)) ?? [];
      if (stored.some((e) => wanted.has(e.messageId) && e.event === t.unless!.event)) return true;
    }
    return false;
  }

  private async attempt(job: Job, f: Firing): Promise<void> {
    const { ctx } = job;
    const t = ctx.outbox.triggers.get(f.triggerId);
    if (!t || !f.payload) return;
    if (personOf(ctx.ws, f.person)?.personalization === false) {
      await this.save(ctx, f, transition(f, 'cancelled', Date.now(), { reason: 'opted out' }));
      return;
    }
    const outcome = await attemptDelivery({
      url: t.webhook.url,
      secret: t.webhook.secret,
      idempotencyKey: f.idempotencyKey,
      body: JSON.stringify(f.payload),
      now: Date.now(),
      timeoutMs: this.settings.requestTimeoutMs,
      signal: this.shutdown.signal,
      allowInternalAddresses: this.settings.allowInternalAddresses,
    });
    if (outcome.kind === 'aborted') return;
    this.ready.setFailing(this.destinationOf(ctx, t.triggerId), outcome.kind === 'retry');
    const now = Date.now();
    const attempts = f.attempts + 1;
    let next: Firing;
    if (outcome.kind === 'delivered') {
      next = transition(f, 'delivered', now, { attempts, deliveredAt: now });
    } else {
      const lastError = { ...(outcome.status !== undefined ? { status: outcome.status } : {}), message: outcome.message };
      if (outcome.kind === 'rejected') next = transition(f, 'dead', now, { attempts, reason: 'rejected', lastError });
      else if (attempts >= t.webhook.maxAttempts) next = transition(f, 'dead', now, { attempts, reason: 'exhausted', lastError });
      else next = transition(f, 'pending', now, { attempts, lastError, nextAttemptAt: now + (outcome.retryAfterMs ?? backoffMs(attempts, t.webhook.backoffSeconds)) });
    }
    const saved = await this.save(ctx, f, next);
    if (saved?.status === 'pending') this.queue.add(saved.nextAttemptAt!, job);
  }

  /**
   * Replaces `prev` by `next`, durably, unless `prev` is no longer the current record (erased,
   * deleted with its trigger, cancelled meanwhile). If the person was erased while this write was
   * on its way, the write is undone: erasure leaves nothing behind.
   */
  private async save(ctx: Context, prev: Firing, next: Firing): Promise<Firing | undefined> {
    const { outbox, store, ws } = ctx;
    if (outbox.firings.get(prev.idempotencyKey) !== prev) return undefined;
    await store.commit(ws.id, [outbox.putFiring(next)]);
    if (outbox.firings.get(next.idempotencyKey) === next) return next;
    await store.commit(ws.id, [firingDeletion(next.idempotencyKey)]);
    return undefined;
  }

  private async pruneAll(): Promise<void> {
    const before = Date.now() - this.settings.keepDays * 86_400_000;
    for (const ctx of this.attached) {
      const writes = ctx.outbox.prune(before);
      if (writes.length) await ctx.store.commit(ctx.ws.id, writes).catch((err: unknown) => this.logger?.error({ err }, 'pruning triggered messages failed'));
    }
  }
}

/**
 * Whether an event (its messageId, its time) lies in the firing's `unless` window: from the anchor
 * to withinSeconds after it, in event time. The anchor itself is never in its own window, so
 * `unless` may name the `when` event ("no other visit within the hour").
 */
function inWindow(f: Firing, t: TriggerRecord, messageId: string, at: number): boolean {
  return t.unless !== undefined && messageId !== f.anchor.messageId && at >= f.anchor.t && at <= f.anchor.t + t.unless.withinSeconds * 1000;
}

/**
 * Whether firing `other` was anchored after `anchor` and so supersedes it, whatever became of it
 * since (waiting, sent, cancelled, dead): had the events arrived in order, the earlier anchor would
 * have been replaced. An event that was never an anchor (sent while the person had opted out, known
 * now or at its due time) supersedes nothing.
 */
function outranks(view: PersonView, other: Firing, anchor: { t: number; messageId: string }): boolean {
  if (!laterAnchor(other.anchor, anchor) || other.reason === 'sent while opted out') return false;
  return other.status !== 'scheduled' || isUsable(view, other.anchor.messageId, other.anchor.t);
}
