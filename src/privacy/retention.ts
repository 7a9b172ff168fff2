/**
 * Retention: events older than their type's configured TTL leave the store, the timelines and every
 * model, exactly as erased events do. Runs at start and then periodically.
 */
import { CATALOG_RECHECK, type Engine } from '../engine/engine.ts';
import type { EventType } from '../ingest/event.ts';
import { itemsNamedBy, rebuildItems } from '../catalog/rebuild.ts';
import { exclusive, segmentRewrites } from './segments.ts';
import type { PrivacyPolicy } from './policy.ts';

const DAY = 86_400_000;

/** Whether an event is already past its type's retention when it arrives (it is then not stored). */
export function expiredOnArrival(policy: PrivacyPolicy, type: EventType, t: number, now: number): boolean {
  const days = policy.retentionDays[type];
  return days !== undefined && t < now - days * DAY;
}

export async function sweepRetention(engine: Engine, now = Date.now()): Promise<number> {
  const ttl = engine.config.privacy.retentionDays;
  if (Object.keys(ttl).length === 0) return 0;
  const cutoff = (type: EventType): number => (ttl[type] === undefined ? -Infinity : now - ttl[type]! * DAY);
  let removed = 0;
  for (const ws of engine.workspaces.values()) {
    removed += await exclusive(ws, async () => {
      const expired = ws.findEvents((e) => e.t < cutoff(e.type));
      if (expired.length === 0) return 0;
      // people left with no event are forgotten: what extensions keep about them goes too
      const emptied = ws.idsEmptiedBy(expired);
      const items = await rebuildItems(engine.store, engine.ingestor, ws, itemsNamedBy(expired), { exclude: new Set(expired.map((e) => e.messageId)) });
      try {
        // with a mark until the catalog has caught up with what counts now (a stop in between: the next start does)
        const mark = { table: 'meta' as const, key: CATALOG_RECHECK, value: 'all' };
        await engine.store.commit(ws.id, [...(await segmentRewrites(engine.store, ws.id, expired)), ...items.mutations, ...ws.erasureMutations(emptied), mark]);
        ws.removeEvents(expired);
        items.apply();
      } finally {
        items.release();
      }
      // a consent statement may have expired with them: what counts in the catalog is judged again
      await engine.reconcileCatalog(ws);
      await engine.store.commit(ws.id, [{ table: 'meta', key: CATALOG_RECHECK }]);
      return expired.length;
    });
  }
  if (removed > 0) {
    engine.logger.info({ removed }, 'retention: expired events removed');
    await engine.scheduleCompaction();
  }
  return removed;
}
