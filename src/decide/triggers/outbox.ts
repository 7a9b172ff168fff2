/**
 * The durable state of a workspace's triggers, held in memory and mirrored in table `outbox`:
 *
 *   trigger/<triggerId>             the trigger (trigger.ts)
 *   firing/<idempotencyKey>         one firing from anchor to delivery: a single record per key for
 *                                   its whole life, so one key can never have two outbox entries
 *   mark/<triggerId>/<id>           the condition of a condition trigger holds for the person with this id
 *
 * Every method that changes memory returns the store mutations that make the change durable; the
 * caller commits them. Firings are indexed by the ids of their person, so erasure and identity merges
 * find them whichever id they were made under.
 */
import { createHash } from 'node:crypto';
import type { Mutation, Store } from '../../store/types.ts';
import type { DeliveryPayload } from './delivery.ts';
import type { TriggerRecord } from './trigger.ts';
import { addTo, removeFrom } from '../../multimap.ts';

export const FIRING_STATUSES = ['scheduled', 'cancelled', 'pending', 'delivered', 'dead'] as const;
export type FiringStatus = (typeof FIRING_STATUSES)[number];

export interface Firing {
  idempotencyKey: string;
  triggerId: string;
  /** the ids the anchor event carried: they name the person whatever merges come later */
  person: { userId?: string; anonymousId?: string };
  /** the event that scheduled the firing; `t` is its event time (ms) */
  anchor: { messageId: string; t: number };
  /** wall time (ms) at which the firing is evaluated */
  dueAt: number;
  status: FiringStatus;
  /** why a firing was cancelled or dead-lettered */
  reason?: string;
  decisionId?: string;
  /** the body every attempt sends, fixed when the decision is made */
  payload?: DeliveryPayload;
  /** delivery attempts made */
  attempts: number;
  nextAttemptAt?: number;
  lastError?: { status?: number; message: string };
  deliveredAt?: number;
  createdAt: number;
  updatedAt: number;
}

/** statuses in which a firing still has work to do */
export const isOpen = (f: Firing): boolean => f.status === 'scheduled' || f.status === 'pending';

/**
 * The key receivers dedupe on: a function of the trigger and the anchor event only, so the same
 * anchor can never make two messages, whichever of the person's ids it came under.
 */
export const idempotencyKeyOf = (triggerId: string, anchorMessageId: string): string =>
  `kt_${createHash('sha256').update(`${triggerId}\u0000${anchorMessageId}`).digest('hex').slice(0, 32)}`;

const TRIGGER = 'trigger/';
const FIRING = 'firing/';
const MARK = 'mark/';
const markKey = (triggerId: string, id: string): string => `${MARK}${triggerId}/${id}`;
export const firingDeletion = (key: string): Mutation => ({ table: 'outbox', key: FIRING + key });

const idsOf = (f: Firing): string[] => {
  const out = new Set<string>();
  for (const id of [f.person.userId, f.person.anonymousId, f.payload?.person.userId, f.payload?.person.anonymousId]) if (id) out.add(id);
  return [...out];
};

export class Outbox {
  readonly triggers = new Map<string, TriggerRecord>();
  readonly firings = new Map<string, Firing>();
  /** person id → keys of their firings */
  private readonly byId = new Map<string, Set<string>>();
  /** triggerId → ids for which the trigger's condition holds */
  private readonly marks = new Map<string, Set<string>>();

  /** Reads the workspace's records; returns deletions of finished firings older than `finishedBefore`. */
  async load(store: Store, ws: string, finishedBefore: number): Promise<Mutation[]> {
    const expired: Mutation[] = [];
    for await (const [key, value] of store.scan<unknown>(ws, 'outbox')) {
      if (key.startsWith(TRIGGER)) {
        const t = value as TriggerRecord;
        this.triggers.set(t.triggerId, t);
      } else if (key.startsWith(FIRING)) {
        const f = value as Firing;
        if (!isOpen(f) && f.updatedAt < finishedBefore) expired.push({ table: 'outbox', key });
        else this.index(f);
      } else if (key.startsWith(MARK)) {
        const rest = key.slice(MARK.length);
        const slash = rest.indexOf('/');
        addTo(this.marks, rest.slice(0, slash), rest.slice(slash + 1));
      }
    }
    return expired;
  }

  putTrigger(t: TriggerRecord): Mutation {
    this.triggers.set(t.triggerId, t);
    return { table: 'outbox', key: TRIGGER + t.triggerId, value: t };
  }

  /** the trigger, its firings and its marks */
  deleteTrigger(triggerId: string): Mutation[] {
    const out: Mutation[] = [{ table: 'outbox', key: TRIGGER + triggerId }];
    this.triggers.delete(triggerId);
    for (const f of [...this.firings.values()]) if (f.triggerId === triggerId) out.push(this.deleteFiring(f.idempotencyKey));
    out.push(...this.clearMarks(triggerId));
    return out;
  }

  private index(f: Firing): void {
    const prev = this.firings.get(f.idempotencyKey);
    if (prev) for (const id of idsOf(prev)) removeFrom(this.byId, id, prev.idempotencyKey);
    this.firings.set(f.idempotencyKey, f);
    for (const id of idsOf(f)) addTo(this.byId, id, f.idempotencyKey);
  }

  putFiring(f: Firing): Mutation {
    this.index(f);
    return { table: 'outbox', key: FIRING + f.idempotencyKey, value: f };
  }

  deleteFiring(key: string): Mutation {
    const f = this.firings.get(key);
    if (f) for (const id of idsOf(f)) removeFrom(this.byId, id, key);
    this.firings.delete(key);
    return firingDeletion(key);
  }

  /** firings of the person with these ids (of one trigger, when given) */
  firingsOf(ids: Iterable<string>, triggerId?: string): Firing[] {
    const keys = new Set<string>();
    for (const id of ids) for (const k of this.byId.get(id) ?? []) keys.add(k);
    const out: Firing[] = [];
    for (const k of keys) {
      const f = this.firings.get(k)!;
      if (triggerId === undefined || f.triggerId === triggerId) out.push(f);
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  marked(triggerId: string, ids: Iterable<string>): boolean {
    const set = this.marks.get(triggerId);
    if (!set) return false;
    for (const id of ids) if (set.has(id)) return true;
    return false;
  }

  mark(triggerId: string, ids: Iterable<string>, at: number): Mutation[] {
    const out: Mutation[] = [];
    for (const id of ids) {
      if (this.marks.get(triggerId)?.has(id)) continue;
      addTo(this.marks, triggerId, id);
      out.push({ table: 'outbox', key: markKey(triggerId, id), value: { at } });
    }
    return out;
  }

  unmark(triggerId: string, ids: Iterable<string>): Mutation[] {
    const out: Mutation[] = [];
    for (const id of ids) {
      if (!this.marks.get(triggerId)?.has(id)) continue;
      removeFrom(this.marks, triggerId, id);
      out.push({ table: 'outbox', key: markKey(triggerId, id) });
    }
    return out;
  }

  clearMarks(triggerId: string): Mutation[] {
    const ids = [...(this.marks.get(triggerId) ?? [])];
    return this.unmark(triggerId, ids);
  }

  /** store deletions of everything held about the person with these ids (read-only: see forget) */
  deletions(ids: readonly string[]): Mutation[] {
    const out: Mutation[] = this.firingsOf(ids).map((f) => firingDeletion(f.idempotencyKey));
    for (const [triggerId, set] of this.marks) for (const id of ids) if (set.has(id)) out.push({ table: 'outbox', key: markKey(triggerId, id) });
    return out;
  }

  forget(ids: readonly string[]): void {
    for (const f of this.firingsOf(ids)) this.deleteFiring(f.idempotencyKey);
    for (const triggerId of [...this.marks.keys()]) this.unmark(triggerId, ids);
  }

  /** deletions of finished firings last changed before `before` (memory forgets them at once) */
  prune(before: number): Mutation[] {
    const out: Mutation[] = [];
    for (const f of [...this.firings.values()]) if (!isOpen(f) && f.updatedAt < before) out.push(this.deleteFiring(f.idempotencyKey));
    return out;
  }
}
