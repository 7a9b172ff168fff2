/**
 * Real client libraries against a real server on port 0: what Segment's and RudderStack's Node SDKs
 * send (JSON with Basic auth and writeKey in the body; gzip labelled x-www-form-urlencoded posted
 * to `${dataPlaneUrl}/v1/batch`) is accepted and lands in the person's profile.
 */
import { Analytics as SegmentAnalytics } from '@segment/analytics-node';
import RudderAnalytics from '@rudderstack/rudder-sdk-node';
import { describe, expect, it } from 'vitest';
import { timeless } from './helpers/profiles.ts';
import { api, fileServer, WRITE_KEY } from './helpers/server.ts';

const server = fileServer();

/** The profile every id of a person resolves to must be one and the same. */
async function profileOfAll(ids: string[]): Promise<any> {
  const profiles = await Promise.all(ids.map((id) => api(server.url, 'GET', `/v1/profiles/${encodeURIComponent(id)}`)));
  for (const [i, p] of profiles.entries()) expect(p.status, `GET /v1/profiles/${ids[i]}: ${p.text}`).toBe(200);
  for (const p of profiles.slice(1)) expect(timeless(p.json)).toEqual(timeless(profiles[0]!.json));
  return profiles[0]!.json;
}

const products = [
  { product_id: 'cl-p2', name: 'Rain Jacket', category: 'Apparel > Jackets', price: 120, quantity: 1 },
  { product_id: 'cl-p3', name: 'Wool Socks', category: 'Apparel > Socks', price: 9.5, quantity: 2 },
];

describe('@segment/analytics-node', () => {
  it('track, identify, page, screen, group and alias arrive and build one profile', async () => {
    const errors: unknown[] = [];
    const analytics = new SegmentAnalytics({ writeKey: WRITE_KEY, host: server.url, flushAt: 3, flushInterval: 50, maxRetries: 0, httpRequestTimeout: 10_000 });
    analytics.on('error', (e) => errors.push(e));
    const done = (err?: unknown) => {
      if (err) errors.push(err);
    };
    const anon = 'seg-anon-1';
    analytics.page({ anonymousId: anon, name: 'Home', properties: { path: '/' } }, done);
    analytics.track({ anonymousId: anon, event: 'Product Viewed', properties: { product_id: 'cl-p1', name: 'Trail Shoe', category: 'Shoes > Running', price: 89 } }, done);
    analytics.identify({ userId: 'seg-user-1', anonymousId: anon, traits: { name: 'Ada', plan: 'pro' } }, done);
    analytics.track({ userId: 'seg-user-1', event: 'Order Completed', properties: { order_id: 'o-1', products } }, done);
    analytics.screen({ userId: 'seg-user-1', name: 'Checkout' }, done);
    analytics.group({ userId: 'seg-user-1', groupId: 'seg-company', traits: { name: 'Acme' } }, done);
    analytics.alias({ previousId: 'seg-user-1', userId: 'seg-user-2' }, done);
    analytics.track({ userId: 'seg-user-2', event: 'Product Added', properties: { product_id: 'cl-p1', price: 89 } }, done);
    await analytics.closeAndFlush({ timeout: 20_000 });
    expect(errors).toEqual([]);

    const profile = await profileOfAll([anon, 'seg-user-1', 'seg-user-2']);
    expect(profile.eventCount).toBe(8);
    expect(profile.anonymousIds).toEqual([anon]);
    expect(['seg-user-1', 'seg-user-2']).toContain(profile.userId);
    expect(profile.traits).toMatchObject({ name: 'Ada', plan: 'pro' });
    expect(profile.features.counts).toMatchObject({ view: 1, purchase: 2, add: 1 });
    expect(profile.features.recentlyBought.map((r: any) => r.itemId).sort()).toEqual(['cl-p2', 'cl-p3']);
    expect(profile.features.rfm).toMatchObject({ frequency: 1, monetary: 139 });
    // product properties carried by the events created the catalog items
    const item = await api(server.url, 'GET', '/v1/items/cl-p1');
    expect(item.status).toBe(200);
    expect(item.json.properties).toMatchObject({ name: 'Trail Shoe', category: 'Shoes > Running' });
  });

  it('a wrong write key is refused and reported to the client', async () => {
    const errors: unknown[] = [];
    const analytics = new SegmentAnalytics({ writeKey: 'wk_wrong', host: server.url, flushAt: 1, maxRetries: 0 });
    analytics.on('error', (e) => errors.push(e));
    analytics.track({ userId: 'seg-refused', event: 'Product Viewed', properties: { product_id: 'cl-p1' } });
    await analytics.closeAndFlush({ timeout: 20_000 });
    expect(errors.length).toBeGreaterThan(0);
    expect((await api(server.url, 'GET', '/v1/profiles/seg-refused')).status).toBe(404);
  });
});

describe('@rudderstack/rudder-sdk-node', () => {
  const client = (writeKey = WRITE_KEY, errors: unknown[] = []) =>
    new RudderAnalytics(writeKey, {
      dataPlaneUrl: server.url,
      // no retries, no timers left behind: the test flushes explicitly
      retryCount: 0,
      flushInterval: 60_000,
      logLevel: 'none',
      errorHandler: (e: unknown) => errors.push(e),
    });

  it('gzip batches labelled x-www-form-urlencoded build one profile from track, identify, page, screen, group and alias', async () => {
    const errors: unknown[] = [];
    const rudder = client(WRITE_KEY, errors);
    const anon = 'rs-anon-1';
    const callbacks: Array<Promise<void>> = [];
    const sent = () => {
      let resolve!: () => void;
      callbacks.push(new Promise<void>((r) => (resolve = r)));
      return () => resolve();
    };
    // the SDK sends the first event at once, then batches the rest until flush()
    rudder.page({ anonymousId: anon, name: 'Home', properties: { path: '/' } }, sent());
    rudder.track({ anonymousId: anon, event: 'Product Viewed', properties: { product_id: 'cl-p4', name: 'Trail Cap', category: 'Accessories' } }, sent());
    rudder.identify({ userId: 'rs-user-1', anonymousId: anon, traits: { name: 'Grace', plan: 'team' } }, sent());
    rudder.track({ userId: 'rs-user-1', event: 'Order Completed', properties: { order_id: 'o-2', products } }, sent());
    rudder.screen({ userId: 'rs-user-1', name: 'Checkout' }, sent());
    rudder.group({ userId: 'rs-user-1', groupId: 'rs-company', traits: { name: 'Initech' } }, sent());
    rudder.alias({ previousId: 'rs-user-1', userId: 'rs-user-2' }, sent());
    rudder.track({ userId: 'rs-user-2', event: 'Product Added to Wishlist', properties: { product_id: 'cl-p4' } }, sent());
    await rudder.flush();
    await Promise.all(callbacks);
    expect(errors).toEqual([]);

    const profile = await profileOfAll([anon, 'rs-user-1', 'rs-user-2']);
    expect(profile.eventCount).toBe(8);
    expect(profile.anonymousIds).toEqual([anon]);
    expect(profile.traits).toMatchObject({ name: 'Grace', plan: 'team' });
    expect(profile.features.counts).toMatchObject({ view: 1, purchase: 2, wishlist: 1 });
    expect(profile.features.rfm).toMatchObject({ frequency: 1, monetary: 139 });
    const item = await api(server.url, 'GET', '/v1/items/cl-p4');
    expect(item.json?.properties).toMatchObject({ name: 'Trail Cap', category: 'Accessories' });
  });

  it('resending the same events (same messageIds) counts them once', async () => {
    const rudder = client();
    const messages = [
      { userId: 'rs-retry', event: 'Product Viewed', properties: { product_id: 'cl-p1' }, messageId: 'rs-retry-1' },
      { userId: 'rs-retry', event: 'Product Viewed', properties: { product_id: 'cl-p4' }, messageId: 'rs-retry-2' },
    ];
    for (let round = 0; round < 3; round++) {
      for (const m of messages) rudder.track(m as Parameters<typeof rudder.track>[0]);
      await rudder.flush();
    }
    const profile = await api(server.url, 'GET', '/v1/profiles/rs-retry');
    expect(profile.json.eventCount).toBe(2);
    expect(profile.json.features.counts.view).toBe(2);
  });

  it('a wrong write key is refused and reported to the client', async () => {
    const errors: any[] = [];
    const rudder = client('wk_wrong', errors);
    rudder.track({ userId: 'rs-refused', event: 'Product Viewed' });
    await rudder.flush();
    expect(errors).toHaveLength(1);
    expect(errors[0].response?.status).toBe(401);
    expect((await api(server.url, 'GET', '/v1/profiles/rs-refused')).status).toBe(404);
  });
});
