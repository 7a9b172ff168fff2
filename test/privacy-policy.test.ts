/**
 * Data minimisation and retention (issue 7, the config file's `privacy` key): traits named like
 * e-mail or phone are stored hashed, the client IP is dropped, event properties and traits obey the
 * allow/denylists (never the properties the engine needs), and events older than their type's TTL
 * leave profiles, models and the store at the next start.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { api, startServer, testResources } from './helpers/server.ts';
import { storedEvents } from './helpers/stored-events.ts';
import { ingest, kairosCli, ndjson, scanBytes, scanRecords, token, waitFor, type RecItem } from './helpers/privacy.ts';

const resources = testResources({ prefix: 'kairos-policy-', release: 'all' });

/** what the policy documents: sha256 of the trimmed, lower-cased value, hex, prefixed */
const sha = (v: string): string => `sha256:${createHash('sha256').update(v.trim().toLowerCase()).digest('hex')}`;

async function exportOf(url: string, id: string): Promise<any[]> {
  const r = await api(url, 'GET', `/v1/profiles/${id}/export`);
  expect(r.status).toBe(200);
  return ndjson(r.text);
}
const exportedEvents = async (url: string, id: string): Promise<any[]> => (await exportOf(url, id)).filter((r) => r.type === 'event').map((r) => r.event);

describe('data minimisation', () => {
  it('traits named like e-mail or phone are stored as sha256 hashes: in the profile, the export and on disk no plaintext remains', async () => {
    const s = await resources.server();
    const person = token();
    const local = token();
    const email = `  ${local}@${token()}.DE `;
    const phone = `+49 ${token()}`;
    const workEmail = `${token()}@${token()}.de`;
    const mobile = token();
    const contextEmail = `${token()}@${token()}.de`;
    const nickname = token();
    const r = await ingest(s.url, '/v1/identify', {
      userId: person,
      traits: { email, phone, work_email: workEmail, emailAddress: `${local}@x.de`, mobile, phone_number: phone, nickname, hotel: 'Ritz', plan: 'gold', age: 41 },
    });
    expect(r.status).toBe(200);
    expect((await ingest(s.url, '/v1/track', { userId: person, event: 'Signed Up', context: { traits: { email: contextEmail, name: 'Ann' } } })).status).toBe(200);

    const plaintexts = [email.trim(), email.trim().toLowerCase(), local, phone, workEmail, mobile, contextEmail];
    // nothing of the plaintext reached the disk, not even transiently
    expect(scanBytes(s.dataDir, plaintexts)).toEqual([]);

    const profile = (await api(s.url, 'GET', `/v1/profiles/${person}`)).json;
    expect(profile.traits).toEqual({
      email: sha(email),
      phone: sha(phone),
      work_email: sha(workEmail),
      emailAddress: sha(`${local}@x.de`),
      mobile: sha(mobile),
      phone_number: sha(phone),
      // not named like contact data: kept as given
      nickname,
      hotel: 'Ritz',
      plan: 'gold',
      age: 41,
    });
    // the same address however it is typed hashes the same, so it still matches across systems
    expect(sha(email)).toBe(sha(email.toUpperCase()));

    const events = await exportedEvents(s.url, person);
    expect(events.find((e) => e.type === 'identify').traits.email).toBe(sha(email));
    expect(events.find((e) => e.type === 'track').context.traits).toEqual({ email: sha(contextEmail), name: 'Ann' });
    const text = JSON.stringify(await exportOf(s.url, person));
    for (const p of plaintexts) expect(text).not.toContain(p);

    await resources.stop(s);
    expect(scanBytes(s.dataDir, plaintexts)).toEqual([]);
    expect(await scanRecords(s.dataDir, plaintexts)).toEqual([]);
  });

  it('with {"privacy": {"hashTraits": false}} the e-mail is kept as given', async () => {
    const s = await resources.server(resources.dataDir({ privacy: { hashTraits: false } }));
    const email = `${token()}@${token()}.de`;
    expect((await ingest(s.url, '/v1/identify', { userId: 'plain', traits: { email } })).status).toBe(200);
    expect((await api(s.url, 'GET', '/v1/profiles/plain')).json.traits).toEqual({ email });
  });

  it('context.ip is dropped (also from a batch-level context); the rest of the context is kept', async () => {
    const s = await resources.server();
    const ips = ['203.0.113.77', '198.51.100.201', '2001:db8::4711'];
    const r1 = await ingest(s.url, '/v1/track', { anonymousId: 'ip-1', event: 'Product Viewed', properties: { product_id: 'p1' }, context: { ip: ips[0], locale: 'de-DE', userAgent: 'UA/1' } });
    expect(r1.status).toBe(200);
    const r2 = await ingest(s.url, '/v1/batch', {
      context: { ip: ips[1], library: { name: 'analytics-node' } },
      batch: [{ type: 'page', anonymousId: 'ip-1', name: 'Home' }, { type: 'track', anonymousId: 'ip-1', event: 'Clicked', context: { ip: ips[2] } }],
    });
    expect(r2.status).toBe(200);
    expect(scanBytes(s.dataDir, ips)).toEqual([]);
    const events = await exportedEvents(s.url, 'ip-1');
    expect(events).toHaveLength(3);
    for (const e of events) expect(e.context).not.toHaveProperty('ip');
    expect(events.find((e) => e.event === 'Product Viewed').context).toEqual({ locale: 'de-DE', userAgent: 'UA/1' });
    expect(events.find((e) => e.type === 'page').context).toEqual({ library: { name: 'analytics-node' } });
    await resources.stop(s);
    expect(await scanRecords(s.dataDir, ips)).toEqual([]);
  });

  it('dropContext from the config file drops more context fields', async () => {
    const s = await resources.server(resources.dataDir({ privacy: { dropContext: ['ip', 'userAgent', 'location'] } }));
    const ua = `Mozilla/5.0 ${token()}`;
    const city = token();
    expect((await ingest(s.url, '/v1/track', { anonymousId: 'dc', event: 'Clicked', context: { ip: '203.0.113.5', userAgent: ua, location: { city }, locale: 'fr-FR' } })).status).toBe(200);
    expect(scanBytes(s.dataDir, [ua, city, '203.0.113.5'])).toEqual([]);
    expect((await exportedEvents(s.url, 'dc'))[0].context).toEqual({ locale: 'fr-FR' });
  });

  it('the property denylist drops properties before they are stored, but never those the engine needs', async () => {
    const s = await resources.server(resources.dataDir({ privacy: { propertyDenylist: ['ssn', 'product_id', 'price'], traitDenylist: ['birthday'] } }));
    const ssn = token();
    const birthday = token();
    expect((await ingest(s.url, '/v1/track', { anonymousId: 'deny', event: 'Product Added', properties: { product_id: 'p7', price: 12, quantity: 2, ssn, color: 'red' } })).status).toBe(200);
    expect((await ingest(s.url, '/v1/identify', { anonymousId: 'deny', traits: { birthday, plan: 'gold' } })).status).toBe(200);
    expect(scanBytes(s.dataDir, [ssn, birthday])).toEqual([]);
    const events = await exportedEvents(s.url, 'deny');
    expect(events.find((e) => e.type === 'track').properties).toEqual({ product_id: 'p7', price: 12, quantity: 2, color: 'red' });
    const profile = (await api(s.url, 'GET', '/v1/profiles/deny')).json;
    expect(profile.traits).toEqual({ plan: 'gold' });
    // the interaction still counts: product_id was kept
    expect(profile.features.counts.add).toBe(1);
    expect(profile.features.recentlyAdded.map((x: any) => x.itemId)).toEqual(['p7']);
  });

  it('the property allowlist keeps only the listed properties plus the engine\'s (product_id, products, price, …)', async () => {
    const s = await resources.server(resources.dataDir({ privacy: { propertyAllowlist: ['color'], traitAllowlist: ['plan'] } }));
    const secret = token();
    const note = token();
    const nickname = token();
    await api(s.url, 'POST', '/v1/items', { items: [{ itemId: 'p1', properties: { name: 'P1' } }, { itemId: 'p2', properties: { name: 'P2' } }] });
    const batch = [
      { type: 'track', anonymousId: 'allow', event: 'Product Viewed', properties: { product_id: 'p1', name: 'P1', category: 'Shoes', color: 'blue', size: 42, secret } },
      { type: 'track', anonymousId: 'allow', event: 'Order Completed', properties: { order_id: 'o-1', revenue: 30, products: [{ product_id: 'p2', price: 30, quantity: 1 }], note } },
      { type: 'page', anonymousId: 'allow', name: 'Home', properties: { path: '/', url: 'https://shop.example/' } },
      { type: 'identify', anonymousId: 'allow', traits: { plan: 'gold', nickname } },
    ];
    expect((await ingest(s.url, '/v1/batch', { batch })).status).toBe(200);
    expect(scanBytes(s.dataDir, [secret, note, nickname])).toEqual([]);
    const events = await exportedEvents(s.url, 'allow');
    expect(events.find((e) => e.event === 'Product Viewed').properties).toEqual({ product_id: 'p1', name: 'P1', category: 'Shoes', color: 'blue' });
    expect(events.find((e) => e.event === 'Order Completed').properties).toEqual({ order_id: 'o-1', revenue: 30, products: [{ product_id: 'p2', price: 30, quantity: 1 }] });
    expect(events.find((e) => e.type === 'page').properties).toEqual({ url: 'https://shop.example/' });
    const profile = (await api(s.url, 'GET', '/v1/profiles/allow')).json;
    expect(profile.traits).toEqual({ plan: 'gold' });
    expect(profile.features.counts).toMatchObject({ view: 1, purchase: 1 });
    expect(profile.features.recentlyBought.map((x: any) => x.itemId)).toEqual(['p2']);
    expect(profile.features.rfm.monetary).toBe(30);
  });

  it('a malformed privacy section stops the start with a message naming the field', () => {
    const dir = resources.dataDir();
    const file = join(dir, 'bad.json');
    for (const [privacy, message] of [
      [{ retentionDays: { page: -1 } }, /retentionDays\.page/],
      [{ retentionDays: { pageview: 1 } }, /unknown event type "pageview"/],
      [{ hashTraits: 'yes' }, /hashTraits/],
      [{ propertyDenylist: 'ssn' }, /propertyDenylist/],
      [{ hashTraitPattern: '(' }, /hashTraitPattern/],
    ] as const) {
      writeFileSync(file, JSON.stringify({ privacy }));
      expect(() => loadConfig({ KAIROS_DATA_DIR: dir, KAIROS_CONFIG: file }), JSON.stringify(privacy)).toThrow(message);
    }
  });
});

describe('retention ({"privacy": {"retentionDays": {"page": 1, "track": 2}}})', () => {
  it('at the next start, expired events leave profiles, models and — once compacted — the data dir; younger ones stay', async () => {
    // the history is written before retention is configured (events already past it on arrival are
    // not stored at all), then the server restarts with the policy
    const dir = resources.dataDir({});
    const now = Date.now();
    const ago = (hours: number, minutes = 0): string => new Date(now - hours * 3_600_000 + minutes * 60_000).toISOString();
    const oldPage = Array.from({ length: 3 }, () => token());
    const youngPage = token();
    const oldTrack = token();
    const staleCovisit = token();
    const keeper = 'keeper';
    const events = [
      ...oldPage.map((v, i) => ({ type: 'page', anonymousId: keeper, name: 'Old page', properties: { ref: v }, messageId: `old-page-${i}`, timestamp: ago(30 + i) })),
      { type: 'page', anonymousId: keeper, name: 'Young page', properties: { ref: youngPage }, messageId: 'young-page', timestamp: ago(1) },
      // track events 36 h old are within their 2 days
      { type: 'track', anonymousId: keeper, event: 'Product Viewed', properties: { product_id: 'r1', ref: oldTrack }, messageId: 'young-track-1', timestamp: ago(36) },
      { type: 'track', anonymousId: keeper, event: 'Product Viewed', properties: { product_id: 'r2' }, messageId: 'young-track-2', timestamp: ago(36, 1) },
      // no TTL for identify
      { type: 'identify', anonymousId: keeper, traits: { plan: 'gold' }, messageId: 'identify', timestamp: ago(24 * 10) },
      // somebody whose every event expires: three-day-old co-visits of r3 and r4, and an old page
      ...[0, 1, 2].flatMap((k) => [
        { type: 'track', anonymousId: 'gone', event: 'Product Viewed', properties: { product_id: 'r3', ref: staleCovisit }, messageId: `gone-a${k}`, timestamp: ago(72, 2 * k) },
        { type: 'track', anonymousId: 'gone', event: 'Product Viewed', properties: { product_id: 'r4' }, messageId: `gone-b${k}`, timestamp: ago(72, 2 * k + 1) },
      ]),
      { type: 'page', anonymousId: 'gone', name: 'Old', messageId: 'gone-page', timestamp: ago(50) },
    ];
    const first = await startServer({ dataDir: dir });
    expect((await api(first.url, 'POST', '/v1/items', { items: ['r1', 'r2', 'r3', 'r4', 'r5'].map((itemId) => ({ itemId, properties: { name: itemId.toUpperCase() } })) })).status).toBe(200);
    expect((await ingest(first.url, '/v1/batch', { batch: events })).status).toBe(200);
    expect((await ingest(first.url, '/v1/track', { anonymousId: 'looker', event: 'Product Viewed', properties: { product_id: 'r3' } })).status).toBe(200);
    expect((await api(first.url, 'GET', `/v1/profiles/${keeper}`)).json.eventCount).toBe(7);
    const lookerItems = async (url: string) => (await api(url, 'POST', '/v1/recommendations', { anonymousId: 'looker', count: 4 })).json.items as RecItem[];
    expect((await lookerItems(first.url)).find((i) => i.itemId === 'r4')?.reasons, 'precondition: the stale co-visits shape recommendations').toContainEqual(expect.objectContaining({ type: 'viewed_together', itemId: 'r3' }));
    await first.close();
    writeFileSync(join(dir, 'kairos.config.json'), JSON.stringify({ privacy: { retentionDays: { page: 1, track: 2 } } }));

    // `kairos serve` sweeps at start; the compaction it asks for runs a second later
    const second = await resources.child(dir, { LOG_LEVEL: 'info', KAIROS_AUTO_COMPACT_SECONDS: '1' });
    await waitFor('the retention sweep', () => second.output().includes('retention: expired events removed'));
    const keeperNow = (await api(second.url, 'GET', `/v1/profiles/${keeper}`)).json;
    expect(keeperNow.eventCount).toBe(4);
    expect(keeperNow.traits).toEqual({ plan: 'gold' });
    expect(keeperNow.features.counts.view).toBe(2);
    expect((await api(second.url, 'GET', '/v1/profiles/gone')).status).toBe(404);
    for (const item of await lookerItems(second.url)) for (const r of item.reasons) expect(['viewed_together', 'similar_session'], `${item.itemId}: ${JSON.stringify(r)}`).not.toContain(r.type);
    await waitFor('the automatic compaction', () => second.output().includes('store compacted'));
    expect(scanBytes(dir, [...oldPage, staleCovisit])).toEqual([]);
    expect(await second.stop()).toBe(0);

    const stored = (await storedEvents(dir)).map((e) => e.messageId).sort();
    expect(stored.filter((m) => m !== 'looker' && !m.startsWith('kairos-'))).toEqual(['identify', 'young-page', 'young-track-1', 'young-track-2']);
    expect(await scanRecords(dir, [...oldPage, staleCovisit])).toEqual([]);
    expect((await scanRecords(dir, [youngPage, oldTrack])).map((h) => h.needle).sort()).toEqual([youngPage, oldTrack].sort());
  });
});

describe('retention at arrival', () => {
  it('`kairos import` applies the same policy on its parsing thread: denied fields, hashed traits and expired events never reach the data dir', async () => {
    const dir = resources.dataDir({ privacy: { propertyDenylist: ['ssn'], traitDenylist: ['birthday'], retentionDays: { page: 1 } } });
    const [ssn, birthday, email] = [token(), token(), `${token()}@example.com`];
    // the file outside the data dir, which is scanned below
    const file = join(resources.dataDir(), 'events.ndjson');
    writeFileSync(file, [
      { type: 'track', userId: 'imp-u', event: 'Product Viewed', properties: { product_id: 'p1', ssn, color: 'red' }, context: { ip: '203.0.113.9' } },
      { type: 'identify', userId: 'imp-u', traits: { birthday, email, plan: 'gold' } },
      { type: 'page', userId: 'imp-u', name: 'Old', timestamp: new Date(Date.now() - 3 * 86_400_000).toISOString() },
    ].map((e) => JSON.stringify(e)).join('\n'));
    const out = await kairosCli(['import', file], dir);
    expect(JSON.parse(out.trim().split('\n').pop()!)).toMatchObject({ read: 3, stored: 2, dropped: 1 });
    expect(scanBytes(dir, [ssn, birthday, email, '203.0.113.9'])).toEqual([]);
    const s = await resources.server(dir);
    const profile = (await api(s.url, 'GET', '/v1/profiles/imp-u')).json;
    expect(profile.eventCount).toBe(2);
    expect(profile.traits).toEqual({ plan: 'gold', email: sha(email) });
    expect((await exportedEvents(s.url, 'imp-u')).find((e) => e.type === 'track').properties).toEqual({ product_id: 'p1', color: 'red' });
  });

  it('an event already past its retention is acknowledged and never stored', async () => {
    const dir = resources.dataDir({ privacy: { retentionDays: { page: 1 } } });
    const server = await startServer({ dataDir: dir });
    try {
      const old = new Date(Date.now() - 3 * 86_400_000).toISOString();
      expect((await ingest(server.url, '/v1/page', { anonymousId: 'late-page', name: 'Old', timestamp: old, messageId: 'late-1' })).status).toBe(200);
      expect((await api(server.url, 'GET', '/v1/profiles/late-page')).status).toBe(404);
      expect((await ingest(server.url, '/v1/page', { anonymousId: 'late-page', name: 'New', messageId: 'late-2' })).status).toBe(200);
      expect((await api(server.url, 'GET', '/v1/profiles/late-page')).json.eventCount).toBe(1);
    } finally {
      await server.close();
    }
  });
});
