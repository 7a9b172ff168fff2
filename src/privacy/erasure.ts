/**
 * Erasure (`DELETE /v1/profiles/{id}`): every identity of the person, their events, features,
 * identity links and traits, and their share of every model. The store forgets at once (segments
 * holding their events are rewritten without them, in one durable commit); serving forgets before
 * the answer is sent; compaction later rewrites the files so no deleted byte survives on disk.
 */
import { randomBytes } from 'node:crypto';
import type { Engine } from '../engine/engine.ts';
import type { Workspace } from '../engine/workspace.ts';
import type { EventSummary } from '../identity/timeline.ts';
import type { Mutation } from '../store/types.ts';
import { itemsNamedBy, rebuildItems } from '../catalog/rebuild.ts';
import { exclusive, segmentRewrites } from './segments.ts';

export interface ErasureReceipt {
  erased: boolean;
  /** every id of the person that was erased (the caller named one of them) */
  ids: string[];
  events: number;
  segmentsRewritten: number;
  suppressed: boolean;
  at: string;
}

/**
 * Ingestion is not stopped while an erasure runs: an event of the person can be committed and applied
 * while the erasure awaits its own reads and commit. So the erasure goes in rounds: each commits the
 * removal of everything of the person known so far, then looks again; when a look finds nothing new,
 * memory forgets in that same turn. Whatever memory forgets has then been removed from the store, and
 * an event applied after that is a new life of the id in both.
 */
export function erasePerson(engine: Engine, ws: Workspace, id: string, o: { suppress: boolean; actor: string; freeRounds?: number }): Promise<ErasureReceipt | undefined> {
  return exclusive(ws, async () => {
    const at = new Date().toISOString();
    const auditKey = `${at}-${randomBytes(4).toString('hex')}`;
    const tombstones = engine.tombstones.get(ws.id)!;
    const erased: EventSummary[] = [];
    const erasedIds = new Set<string>();
    /** `table\0key` of every extension record removed (or rewritten) so far, with its rev then */
    const removed = new Map<string, number | undefined>();
    const segments = new Set<string>();
    /** ids held from ingestion once the person's events outran FREE_ROUNDS rounds */
    let held: string[] | undefined;
    /** with `suppress`: the tombstones were remembered, so the person's events are refused */
    let suppressing = false;
    try {
      for (let round = 0; ; round++) {
        const root = ws.rootOf(id);
        const ids = root === undefined ? [id] : [...ws.identity.membersOf(root)].sort();
        // records extensions keep per id (impressions…) exist even for ids that never sent an event
        const extensionRecords = ws.erasureMutations(ids);
        if (round === 0 && root === undefined && !o.suppress && extensionRecords.length === 0) return undefined;
        const fresh = (root === undefined ? [] : (ws.viewOf(root)?.events ?? [])).filter((e) => !erasedIds.has(e.messageId));
        // a record is fresh when it was never removed, or was written again since (its rev moved): a
        // reward event naming the person's decision may rewrite it while the erasure awaits a commit
        const freshRecords = extensionRecords.filter((m) => {
          const k = `${m.table}\u0000${m.key}`;
          return !removed.has(k) || removed.get(k) !== m.rev;
        });
        if (round > 0 && fresh.length === 0 && freshRecords.length === 0) {
          if (o.suppress && !suppressing) {
            // the ids' tombstones are durable: from this turn no batch takes their events, and the
            // batches that took some before it land first; the next round removes what they stored
            tombstones.remember(ids);
            suppressing = true;
            await engine.ingestor.settled(ws.id);
            continue;
          }
          // nothing arrived since the last commit: memory forgets now, in this turn
          if (o.suppress) tombstones.remember(ids);
          tombstones.rememberMessages(erased.map((e) => e.messageId), at);
          if (root !== undefined) ws.forget(root);
          else ws.forgetIds(ids);
          for (const e of erased) ws.erasing.delete(e.messageId);
          await engine.scheduleCompaction();
          return { erased: root !== undefined, ids, events: erased.length, segmentsRewritten: segments.size, suppressed: o.suppress, at };
        }
        for (const e of fresh) {
          erasedIds.add(e.messageId);
          erased.push(e);
        }
        // a round rewrites the segments of its new events only (a segment holds one commit, applied all
        // at once, so earlier rounds' segments are clean), but rebuilds items from all erased so far:
        // the rebuild must not keep what an earlier round removed (memory holds those events until the end)
        const mutations: Mutation[] = await segmentRewrites(engine.store, ws.id, fresh);
        for (const m of mutations) segments.add(m.key);
        const items = await rebuildItems(engine.store, engine.ingestor, ws, itemsNamedBy(erased), { exclude: erasedIds });
        try {
          mutations.push(...items.mutations, ...extensionRecords);
          if (o.suppress) mutations.push(...tombstones.mutations(ids, at));
          // a client's retry of an erased event must not bring it back (the ledger forgets it with them)
          mutations.push(...tombstones.messageMutations(fresh.map((e) => e.messageId), at));
          mutations.push({
            table: 'audit',
            key: auditKey,
            // who and when, never what: the audit trail must not keep the erased data
            value: { at, action: 'erase', actor: o.actor, ids: ids.length, events: erased.length, suppress: o.suppress },
          });
          await engine.store.commit(ws.id, mutations);
          // gone from the store: no rebuild may count them while memory still holds them
          for (const e of fresh) ws.erasing.add(e.messageId);
          for (const m of extensionRecords) removed.set(`${m.table}\u0000${m.key}`, m.rev);
          items.apply();
        } finally {
          items.release();
        }
        if (round + 1 === (o.freeRounds ?? FREE_ROUNDS)) {
          // events keep coming: the person's ids are refused until the erasure ends (events already
          // past validation still land, and the next rounds take them)
          held = ids;
          tombstones.hold(held);
        }
      }
    } finally {
      if (held) tombstones.release(held);
    }
  });
}

/** rounds an erasure runs while ingestion may go on; after them the person's events are held off */
export const FREE_ROUNDS = 5;
