/**
 * Erasure (`DELETE /v1/profiles/{id}`): every identity of the person, their events, features,
 * identity links and traits, and their share of every model. The store forgets at once (segments
 * holding their events are rewritten without them, in one durable commit); serving forgets before
 * the answer is sent; compaction later rewrites the files so no deleted byte survives on disk.
 */
import { randomBytes } from 'node:crypto';
import type { Engine } from '../engine/engine.ts';
import type { Workspace } from '../engine/workspace.ts';
import type { StoredEvent } from '../ingest/event.ts';
import type { Mutation } from '../store/types.ts';

export interface ErasureReceipt {
  erased: boolean;
  /** every id of the person that was erased (the caller named one of them) */
  ids: string[];
  events: number;
  segmentsRewritten: number;
  suppressed: boolean;
  at: string;
}

/** Erasures of one workspace run one at a time: two of them may rewrite the same segment. */
const queues = new WeakMap<Workspace, Promise<unknown>>();

function serialised<T>(ws: Workspace, task: () => Promise<T>): Promise<T> {
  const run = (queues.get(ws) ?? Promise.resolve()).then(task, task);
  queues.set(ws, run.catch(() => undefined));
  return run;
}

export function erasePerson(engine: Engine, ws: Workspace, id: string, o: { suppress: boolean; actor: string }): Promise<ErasureReceipt | undefined> {
  return serialised(ws, async () => {
    const at = new Date().toISOString();
    const root = ws.rootOf(id);
    if (root === undefined && !o.suppress) return undefined;
    const ids = root === undefined ? [id] : [...ws.identity.membersOf(root)].sort();
    const events = root === undefined ? [] : (ws.viewOf(root)?.events ?? []);
    const messageIds = new Set(events.map((e) => e.messageId));
    const segments = [...new Set(events.map((e) => e.seg))].sort();
    const mutations: Mutation[] = [];
    for (const seg of segments) {
      const stored = (await engine.store.get<StoredEvent[]>(ws.id, 'events', seg)) ?? [];
      const kept = stored.filter((e) => !messageIds.has(e.messageId));
      mutations.push(kept.length ? { table: 'events', key: seg, value: kept } : { table: 'events', key: seg });
    }
    const tombstones = engine.tombstones.get(ws.id)!;
    if (o.suppress) mutations.push(...tombstones.mutations(ids, at));
    mutations.push({
      table: 'audit',
      key: `${at}-${randomBytes(4).toString('hex')}`,
      // who and when, never what: the audit trail must not keep the erased data
      value: { at, action: 'erase', actor: o.actor, ids: ids.length, events: events.length, suppress: o.suppress },
    });
    await engine.store.commit(ws.id, mutations);
    if (o.suppress) tombstones.remember(ids);
    if (root !== undefined) ws.forget(root);
    await engine.scheduleCompaction();
    return { erased: root !== undefined, ids, events: events.length, segmentsRewritten: segments.length, suppressed: o.suppress, at };
  });
}
