/**
 * Identity (CONTRACT §4, §7): identify links anonymousId ↔ userId, alias merges previousId into
 * userId, links are transitive, and after a merge every id of the person serves their whole history,
 * the anonymous part included, also after a restart.
 */
import { describe, expect, it } from 'vitest';
import { timeless } from './helpers/profiles.ts';
import { api, fileServer, track } from './helpers/server.ts';

const server = fileServer();

const MIN = 60_000;
const T = Date.now() - 6 * 60 * MIN;
const at = (minutes: number): string => new Date(T + minutes * MIN).toISOString();
const ok = async (path: string, body: unknown): Promise<void> => {
  const r = await track(server.url, path, body);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
};
const view = (ids: Record<string, string>, item: string, minutes: number) => ({ ...ids, event: 'Product Viewed', properties: { product_id: item }, timestamp: at(minutes) });

/** every id must give the same profile; returns it */
async function onePerson(ids: string[]): Promise<any> {
  const answers = await Promise.all(ids.map((id) => api(server.url, 'GET', `/v1/profiles/${encodeURIComponent(id)}`)));
  for (const [i, a] of answers.entries()) expect(a.status, `GET /v1/profiles/${ids[i]}`).toBe(200);
  for (const [i, a] of answers.entries()) expect(timeless(a.json), `profile via ${ids[i]}`).toEqual(timeless(answers[0]!.json));
  return answers[0]!.json;
}

describe('identity resolution', () => {
  const chain = ['chain-anon', 'chain-A', 'chain-B', 'chain-C'];

  it('anonymous browsing, identify, then alias A→B→C: every id resolves to one profile with all events', async () => {
    await ok('/v1/page', { anonymousId: 'chain-anon', name: 'Home', timestamp: at(0) });
    await ok('/v1/track', view({ anonymousId: 'chain-anon' }, 'id-p1', 1));
    await ok('/v1/track', view({ anonymousId: 'chain-anon' }, 'id-p2', 2));
    // before any link, the anonymous person stands alone
    expect((await api(server.url, 'GET', '/v1/profiles/chain-anon')).json.eventCount).toBe(3);
    expect((await api(server.url, 'GET', '/v1/profiles/chain-A')).status).toBe(404);

    await ok('/v1/identify', { userId: 'chain-A', anonymousId: 'chain-anon', traits: { plan: 'free', name: 'Ada' }, timestamp: at(3) });
    await ok('/v1/track', { userId: 'chain-A', event: 'Product Added', properties: { product_id: 'id-p2', price: 20 }, timestamp: at(4) });
    await ok('/v1/alias', { previousId: 'chain-A', userId: 'chain-B', timestamp: at(5) });
    await ok('/v1/track', view({ userId: 'chain-B' }, 'id-p3', 6));
    await ok('/v1/identify', { userId: 'chain-B', traits: { plan: 'pro' }, timestamp: at(7) });
    await ok('/v1/alias', { previousId: 'chain-B', userId: 'chain-C', timestamp: at(8) });
    await ok('/v1/track', { userId: 'chain-C', event: 'Order Completed', properties: { products: [{ product_id: 'id-p2', price: 20 }] }, timestamp: at(9) });

    const p = await onePerson(chain);
    expect(p.eventCount).toBe(10);
    expect(p.anonymousIds).toEqual(['chain-anon']);
    expect(p.userId).toBe('chain-C');
    // later traits win, earlier ones stay
    expect(p.traits).toEqual({ plan: 'pro', name: 'Ada' });
    // the anonymous history is part of the person's features
    expect(p.features.firstSeen).toBe(at(0));
    expect(p.features.counts).toMatchObject({ view: 3, add: 1, purchase: 1 });
    expect(p.features.recentlyViewed.map((r: any) => r.itemId)).toEqual(['id-p3', 'id-p2', 'id-p1']);
    expect(p.features.recentlyBought.map((r: any) => r.itemId)).toEqual(['id-p2']);
  });

  it('events naming any id of the person after the merge land in the same profile', async () => {
    await ok('/v1/track', view({ anonymousId: 'chain-anon' }, 'id-p4', 10));
    await ok('/v1/track', view({ userId: 'chain-A' }, 'id-p5', 11));
    const p = await onePerson(chain);
    expect(p.eventCount).toBe(12);
    expect(p.features.recentlyViewed.map((r: any) => r.itemId).slice(0, 2)).toEqual(['id-p5', 'id-p4']);
  });

  it('an event carrying both userId and anonymousId links them without an identify', async () => {
    await ok('/v1/track', view({ anonymousId: 'both-anon' }, 'id-p1', 0));
    await ok('/v1/track', view({ userId: 'both-user' }, 'id-p2', 1));
    expect((await api(server.url, 'GET', '/v1/profiles/both-anon')).json.eventCount).toBe(1);
    await ok('/v1/track', view({ userId: 'both-user', anonymousId: 'both-anon' }, 'id-p3', 2));
    const p = await onePerson(['both-anon', 'both-user']);
    expect(p.eventCount).toBe(3);
    expect(p.userId).toBe('both-user');
    expect(p.anonymousIds).toEqual(['both-anon']);
  });

  it('a second device joins the person when it identifies as any of their ids', async () => {
    await ok('/v1/track', view({ anonymousId: 'chain-anon-2' }, 'id-p6', 12));
    await ok('/v1/identify', { userId: 'chain-C', anonymousId: 'chain-anon-2', timestamp: at(13) });
    const p = await onePerson([...chain, 'chain-anon-2']);
    expect(p.eventCount).toBe(14);
    expect(p.anonymousIds).toEqual(['chain-anon', 'chain-anon-2']);
  });

  it('links arriving in any order give the same person (alias chain sent backwards)', async () => {
    await ok('/v1/batch', {
      batch: [
        { type: 'alias', previousId: 'rev-B', userId: 'rev-C', timestamp: at(8) },
        { type: 'track', ...view({ userId: 'rev-C' }, 'id-p3', 9) },
        { type: 'alias', previousId: 'rev-A', userId: 'rev-B', timestamp: at(5) },
        { type: 'track', ...view({ anonymousId: 'rev-anon' }, 'id-p1', 1) },
        { type: 'identify', userId: 'rev-A', anonymousId: 'rev-anon', timestamp: at(3) },
      ],
    });
    const p = await onePerson(['rev-anon', 'rev-A', 'rev-B', 'rev-C']);
    expect(p.eventCount).toBe(5);
    expect(p.features.recentlyViewed.map((r: any) => r.itemId)).toEqual(['id-p3', 'id-p1']);
    expect(p.userId).toBe('rev-C');
  });

  it('an alias whose previousId is an anonymous id merges that browsing history', async () => {
    await ok('/v1/track', view({ anonymousId: 'alias-anon' }, 'id-p7', 0));
    await ok('/v1/alias', { previousId: 'alias-anon', userId: 'alias-user', timestamp: at(1) });
    const p = await onePerson(['alias-anon', 'alias-user']);
    expect(p.eventCount).toBe(2);
    expect(p.features.recentlyViewed.map((r: any) => r.itemId)).toEqual(['id-p7']);
  });

  it('merging two people with histories interleaves their events by time', async () => {
    await ok('/v1/track', view({ userId: 'mix-1' }, 'mix-a', 0));
    await ok('/v1/track', view({ userId: 'mix-1' }, 'mix-c', 20));
    await ok('/v1/track', view({ userId: 'mix-2' }, 'mix-b', 10));
    await ok('/v1/track', view({ userId: 'mix-2' }, 'mix-d', 30));
    await ok('/v1/alias', { previousId: 'mix-1', userId: 'mix-2', timestamp: at(40) });
    const p = await onePerson(['mix-1', 'mix-2']);
    expect(p.features.recentlyViewed.map((r: any) => r.itemId)).toEqual(['mix-d', 'mix-c', 'mix-b', 'mix-a']);
    expect(p.eventCount).toBe(5);
  });

  it('merges persist across a restart', async () => {
    const ids = [...chain, 'chain-anon-2', 'both-anon', 'both-user', 'rev-anon', 'rev-C', 'alias-anon', 'alias-user', 'mix-1', 'mix-2'];
    const before = await Promise.all(ids.map((id) => api(server.url, 'GET', `/v1/profiles/${id}`)));
    await server.restart();
    for (const [i, id] of ids.entries()) {
      const after = await api(server.url, 'GET', `/v1/profiles/${id}`);
      expect(after.status, id).toBe(200);
      expect(timeless(after.json), id).toEqual(timeless(before[i]!.json));
    }
    await onePerson([...chain, 'chain-anon-2']);
    // and the restarted server keeps linking
    await ok('/v1/alias', { previousId: 'chain-C', userId: 'chain-D', timestamp: at(14) });
    expect((await onePerson([...chain, 'chain-D'])).eventCount).toBe(15);
  });

  it('an id nobody sent answers 404 with the catalogue code', async () => {
    const r = await api(server.url, 'GET', '/v1/profiles/nobody-ever');
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe('KAIROS_ERR_NOT_FOUND');
  });
});
