/**
 * Catalog rebuilds around the engine's life: retention that expires a consent statement makes the
 * events it covered count again, and their items are rebuilt before the sweep ends (a stop in
 * between is made good at the next start, from the sweep's `catalog-recheck` mark); a rebuild under
 * way when the engine closes leaves no retry running after it.
 */
import pino, { type Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { OpenedEngine } from '../src/engine/open.ts';
import { sweepRetention } from '../src/privacy/retention.ts';
import { openServingEngine } from './helpers/engine.ts';
import { removeDir, tempDir, writeConfig } from './helpers/server.ts';

const DAY = 86_400_000;
const dirs: string[] = [];
const engines: OpenedEngine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close().catch(() => undefined);
  for (const d of dirs.splice(0)) removeDir(d);
});

async function open(dir: string, logger?: Logger): Promise<OpenedEngine> {
  const opened = await openServingEngine(dir, logger);
  engines.push(opened);
  return opened;
}

describe('retention and event-made catalog items', () => {
  it.each([false, true])('an expired opt-out makes earlier mentions count again (stopped before the rebuild: %s)', async (stop) => {
    const dir = tempDir('kairos-ret-cat-');
    dirs.push(dir);
    const now = Date.now();
    let opened = await open(dir);
    const ws = () => opened.engine.workspaces.get('default')!;
    await opened.engine.ingest(ws(), {
      events: [
        { type: 'track', userId: 'r', event: 'Product Viewed', properties: { product_id: 'r1', name: 'RJ' }, messageId: 'r-view', timestamp: new Date(now - 3 * DAY).toISOString() },
        { type: 'identify', userId: 'r', context: { consent: { categoryPreferences: { Personalization: false } } }, messageId: 'r-out', timestamp: new Date(now - 2 * DAY).toISOString() },
      ],
      receivedAt: now,
    });
    expect(ws().catalog.record('r1')).toBeUndefined();
    await opened.close();
    engines.splice(0);
    // identify events expire after a day; view events never
    writeConfig(dir, { privacy: { retentionDays: { identify: 1 } } });
    opened = await open(dir);
    // the start's own sweep may run: sweep here, with the rebuild's commit failing when asked to
    if (stop) {
      const store = opened.engine.store as { commit: (ws: string, m: readonly unknown[]) => Promise<void> };
      const commit = store.commit.bind(store);
      store.commit = async (id, mutations) => {
        if (mutations.some((m) => (m as { table: string; value?: unknown }).table === 'items' && (m as { value?: unknown }).value !== undefined)) throw new Error('stopped');
        return commit(id, mutations as never);
      };
      await expect(sweepRetention(opened.engine, now)).rejects.toThrow('stopped');
      await opened.close();
      engines.splice(0);
      opened = await open(dir);
    } else await sweepRetention(opened.engine, now);
    expect(ws().catalog.record('r1')?.properties).toEqual({ name: 'RJ' });
    expect(await opened.engine.store.get(ws().id, 'meta', 'catalog-recheck')).toBeUndefined();
  });

  it('a rebuild under way when the engine closes is not retried after it', async () => {
    const dir = tempDir('kairos-close-cat-');
    dirs.push(dir);
    const lines: string[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => void lines.push(line) });
    const opened = await open(dir, logger);
    const ws = opened.engine.workspaces.get('default')!;
    const now = Date.now();
    const at = (minute: number) => new Date(now - 3_600_000 + minute * 60_000).toISOString();
    await opened.engine.ingest(ws, {
      events: ['A', 'P'].map((u, k) => ({ type: 'track', userId: u, event: 'Product Viewed', properties: { product_id: 'c1', name: u }, messageId: `c-${u}`, timestamp: at(k * 5) })),
      receivedAt: now,
    });
    // reads of events are slow: the rebuild the opt-out starts is still reading when the engine closes
    const store = opened.engine.store as unknown as { get: (ws: string, table: string, key: string) => Promise<unknown> };
    const get = store.get.bind(store);
    store.get = async (id, table, key) => {
      if (table === 'events') await new Promise((r) => setTimeout(r, 200));
      return get(id, table, key);
    };
    const optOut = opened.engine.ingest(ws, { events: [{ type: 'identify', userId: 'P', context: { consent: { categoryPreferences: { Personalization: false } } }, messageId: 'c-out', timestamp: at(1) }], receivedAt: now });
    await new Promise((r) => setTimeout(r, 50));
    await opened.close();
    engines.splice(0);
    await expect(optOut).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 2500));
    expect(lines.filter((l) => l.includes('catalog rebuild failed'))).toEqual([]);
  });
});
