/**
 * Catalog items made from events, through the real server, under consent: an opted-out person's
 * product events make no item and set no property, whatever order the opt-out arrives in; a merge
 * with an opted-out person takes their devices' mentions back; an opt-in brings back what was sent
 * before the opt-out; erasing someone else rebuilds an item without what opted-out people sent; and
 * `kairos import`, which merges every mention, is corrected at the next start.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { api, testResources, type TestServer } from './helpers/server.ts';
import { ingest, kairosCli, scanRecords, token } from './helpers/privacy.ts';

const resources = testResources();
const T = Date.now() - 3 * 3_600_000;
const at = (minutes: number): string => new Date(T + minutes * 60_000).toISOString();
const consent = (allow: boolean) => ({ consent: { categoryPreferences: { Personalization: allow } } });
const view = (who: Record<string, string>, product: Record<string, unknown>, minutes: number) =>
  ({ type: 'track', ...who, event: 'Product Viewed', properties: product, timestamp: at(minutes), messageId: token() });
const statement = (who: Record<string, string>, allow: boolean, minutes: number) => ({ type: 'identify', ...who, context: consent(allow), timestamp: at(minutes), messageId: token() });

async function send(s: TestServer, ...events: unknown[]): Promise<void> {
  const r = await ingest(s.url, '/v1/batch', { batch: events });
  expect(r.status).toBe(200);
}
/** an item's properties as served, undefined when there is no such item */
const item = async (s: TestServer, id: string): Promise<Record<string, unknown> | undefined> => {
  const r = await api(s.url, 'GET', `/v1/items/${id}`);
  if (r.status === 404) return undefined;
  expect(r.json.itemId).toBe(id);
  return r.json.properties;
};
/** item ids a newcomer is recommended (new arrivals and popular: event-made items compete) */
const shownToNewcomer = async (s: TestServer): Promise<string[]> =>
  (await api(s.url, 'POST', '/v1/recommendations', { anonymousId: `new-${token()}`, count: 50 })).json.items.map((x: { itemId: string }) => x.itemId);

describe('event-made catalog items and consent', () => {
  it('an opted-out person makes no item and sets no property; a restart agrees, and the store holds none of it', async () => {
    const s = await resources.server();
    const [secret, renamed] = [`Secret ${token()}`, `Renamed ${token()}`];
    await send(s, statement({ userId: 'out' }, false, 0), view({ userId: 'in' }, { product_id: 'lamp', name: 'Shared Lamp', price: 10 }, 1));
    await send(s, view({ userId: 'out' }, { product_id: 'secret-1', name: secret, price: 5 }, 2));
    await send(s, view({ userId: 'out' }, { product_id: 'lamp', name: renamed, price: 99 }, 3));
    // an event stating its own opt-out, from someone who never stated anything before
    await send(s, { ...view({ anonymousId: 'fresh' }, { product_id: 'secret-2', name: secret }, 4), context: consent(false) });
    const check = async (server: TestServer) => {
      expect(await item(server, 'secret-1')).toBeUndefined();
      expect(await item(server, 'secret-2')).toBeUndefined();
      expect(await item(server, 'lamp')).toMatchObject({ name: 'Shared Lamp', price: 10 });
      const shown = await shownToNewcomer(server);
      expect(shown).toContain('lamp');
      expect(shown).not.toContain('secret-1');
    };
    await check(s);
    const again = await resources.restart(s);
    await check(again);
    await resources.stop(again);
    const hits = await scanRecords(again.dataDir, [secret, renamed]);
    expect(hits.filter((h) => h.table.endsWith('/items'))).toEqual([]);
    // the events themselves are kept (the person may opt in again, or ask for an export)
    expect(hits.some((h) => h.table.endsWith('/events'))).toBe(true);
  });

  it('an opt-out that arrives late takes back the mentions sent after it; an opt-in brings back those sent before', async () => {
    const s = await resources.server();
    await send(s, view({ userId: 'other' }, { product_id: 'lamp-x', name: 'Old Lamp', price: 20 }, 0));
    await send(s, view({ userId: 'late' }, { product_id: 'lamp-y', name: 'Early Y' }, 1));
    await send(s, view({ userId: 'late' }, { product_id: 'lamp-x', name: 'Late Lamp' }, 10));
    expect(await item(s, 'lamp-x')).toMatchObject({ name: 'Late Lamp', price: 20 });
    expect(await item(s, 'lamp-y')).toMatchObject({ name: 'Early Y' });
    // sent at minute 5, received last: the view at minute 10 was sent while opted out, and the
    // person is opted out now, so the view at minute 1 does not count either
    await send(s, statement({ userId: 'late' }, false, 5));
    expect(await item(s, 'lamp-x')).toMatchObject({ name: 'Old Lamp', price: 20 });
    expect(await item(s, 'lamp-y')).toBeUndefined();
    // opting in again at minute 20: the view at minute 1 counts again, the one sent while opted out never does
    await send(s, statement({ userId: 'late' }, true, 20));
    expect(await item(s, 'lamp-y')).toMatchObject({ name: 'Early Y' });
    expect(await item(s, 'lamp-x')).toMatchObject({ name: 'Old Lamp' });
    const again = await resources.restart(s);
    expect(await item(again, 'lamp-y')).toMatchObject({ name: 'Early Y' });
    expect(await item(again, 'lamp-x')).toMatchObject({ name: 'Old Lamp' });
  });

  it("a device linked to an opted-out person takes its mentions back; erasing someone else never brings an opted-out person's values back", async () => {
    const s = await resources.server();
    await send(s, statement({ userId: 'u-out' }, false, 0), view({ anonymousId: 'device' }, { product_id: 'mug-z', name: 'Zed Mug' }, 1));
    expect(await item(s, 'mug-z')).toMatchObject({ name: 'Zed Mug' });
    await send(s, { type: 'identify', userId: 'u-out', anonymousId: 'device', timestamp: at(2), messageId: token() });
    expect(await item(s, 'mug-z')).toBeUndefined();

    await send(
      s,
      view({ userId: 'oldest' }, { product_id: 'vase', name: 'Vase C' }, 3),
      view({ userId: 'in' }, { product_id: 'vase', name: 'Vase A' }, 4),
      view({ userId: 'u-out' }, { product_id: 'vase', name: 'Vase B' }, 5),
    );
    expect(await item(s, 'vase')).toMatchObject({ name: 'Vase A' });
    expect((await api(s.url, 'DELETE', '/v1/profiles/in')).status).toBe(200);
    expect(await item(s, 'vase')).toMatchObject({ name: 'Vase C' });
  });

  it('an opt-in that `kairos import` stores brings back, at the next start, what was sent before the opt-out', async () => {
    const s = await resources.server();
    await send(s, view({ userId: 'back' }, { product_id: 'imp-j', name: 'PJ' }, 0), statement({ userId: 'back' }, false, 10));
    expect(await item(s, 'imp-j')).toBeUndefined();
    await resources.stop(s);
    const file = join(resources.dataDir(), 'opt-in.ndjson');
    writeFileSync(file, JSON.stringify(statement({ userId: 'back' }, true, 20)));
    await kairosCli(['import', file], s.dataDir);
    const again = await resources.server(s.dataDir);
    expect(await item(again, 'imp-j')).toMatchObject({ name: 'PJ' });
  });

  it('`kairos import` merges every mention; the next start takes back those that do not count', async () => {
    const dir = resources.dataDir();
    const secret = `Imported ${token()}`;
    const file = join(resources.dataDir(), 'events.ndjson');
    writeFileSync(
      file,
      [
        statement({ userId: 'imp-out' }, false, 0),
        view({ userId: 'imp-out' }, { product_id: 'imp-1', name: secret }, 1),
        view({ userId: 'imp-in' }, { product_id: 'imp-2', name: 'Kept', price: 3 }, 1),
        view({ userId: 'imp-out' }, { product_id: 'imp-2', name: secret }, 2),
      ]
        .map((e) => JSON.stringify(e))
        .join('\n'),
    );
    await kairosCli(['import', file], dir);
    // what import wrote, before any start judged it
    expect((await scanRecords(dir, [secret])).filter((h) => h.table.endsWith('/items')).length).toBeGreaterThan(0);
    const s = await resources.server(dir);
    expect(await item(s, 'imp-1')).toBeUndefined();
    expect(await item(s, 'imp-2')).toMatchObject({ name: 'Kept', price: 3 });
    await resources.stop(s);
    expect((await scanRecords(dir, [secret])).filter((h) => h.table.endsWith('/items'))).toEqual([]);
  });
});
