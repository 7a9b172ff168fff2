/**
 * Erasure (`DELETE /v1/profiles/{id}`): every identity of the person, their events, features,
 * identity links and traits, and their share of every model. The store forgets at once (segments
 * holding their events are rewritten without them, in one durable commit); serving forgets before
 * the answer is sent; compaction later rewrites the files so no deleted byte survives on disk.
 */
import { randomBytes } from 'node:crypto';
import type { Engine } from '../engine/engine.ts';
import type { Workspace } from '../engine/workspace.ts';
import type { Mutation } from '../store/types.ts';
import { exclusive, itemRewrites, segmentRewrites } from './segments.ts';

export interface ErasureReceipt {
  erased: boolean;
  /** every id of the person that was erased (the caller named one of them) */
  ids: string[];
  events: number;
  segmentsRewritten: number;
  suppressed: boolean;
  at: string;
}

export function erasePerson(engine: Engine, ws: Workspace, id: string, o: { suppress: boolean; actor: string }): Promise<ErasureReceipt | undefined> {
  return exclusive(ws, async () => {
    const at = new Date().toISOString();
    const root = ws.rootOf(id);
    const ids = root === undefined ? [id] : [...ws.identity.membersOf(root)].sort();
    // records extensions keep per id (impressions…) exist even for ids that never sent an event
    const extensionRecords = ws.erasureMutations(ids);
    if (root === undefined && !o.suppress && extensionRecords.length === 0) return undefined;
    const events = root === undefined ? [] : (ws.viewOf(root)?.events ?? []);
    const mutations: Mutation[] = await segmentRewrites(engine.store, ws.id, events);
    const segmentsRewritten = mutations.length;
    const items = await itemRewrites(engine.store, ws, events);
    mutations.push(...items.mutations, ...extensionRecords);
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
    else ws.forgetIds(ids);
    items.apply();
    await engine.scheduleCompaction();
    return { erased: root !== undefined, ids, events: events.length, segmentsRewritten, suppressed: o.suppress, at };
  });
}
