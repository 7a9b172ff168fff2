/**
 * What an adversarial review of ingestion found, through the real server: ids that are not
 * well-formed text, a click whose store key outgrew the store, errors Node's HTTP parser meets,
 * empty bodies without a Content-Type, empty Basic credentials, the field a product id's detail
 * names, and tenant ids on `/metrics`.
 */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { api, send, testResources, track, WRITE_KEY, type TestServer } from './helpers/server.ts';

const resources = testResources();

/** one raw HTTP exchange: what the server answers before it closes the connection */
function rawExchange(s: TestServer, request: string): Promise<string> {
  const { port } = new URL(s.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(request));
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (received += d));
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
  });
}
const statusAndBody = (answer: string): { status: number; body: any } => {
  const [head, body] = answer.split('\r\n\r\n');
  return { status: Number(head!.split(' ')[1]), body: JSON.parse(body!) };
};

describe('text that is not well-formed', () => {
  it('an id with half a surrogate pair is refused: two such ids never become one person, nor one item', async () => {
    const s = await resources.server();
    // JSON.stringify writes a lone surrogate as a \u escape: valid JSON that no UTF-8 store can hold
    const alice = await track(s.url, '/v1/identify', { userId: 'alice', anonymousId: 'dev\ud800', traits: { email: 'alice@example.com' } });
    expect(alice.status).toBe(400);
    expect(alice.json.error.code).toBe('KAIROS_ERR_VALIDATION');
    expect(alice.json.error.details).toEqual([expect.objectContaining({ field: '/anonymousId' })]);
    const bob = await track(s.url, '/v1/track', { userId: 'bob\udbff', event: 'Signed Up' });
    expect(bob.json.error.details).toEqual([expect.objectContaining({ field: '/userId' })]);
    const repeat = await track(s.url, '/v1/track', { userId: 'carol', event: 'Order Completed', messageId: 'm\ud800' });
    expect(repeat.json.error.details).toEqual([expect.objectContaining({ field: '/messageId' })]);
    // U+FFFD is a character like any other (ids stored before, with it, stay usable)
    expect((await track(s.url, '/v1/track', { anonymousId: 'dev\ufffd', event: 'Signed Up' })).status).toBe(200);
    expect((await api(s.url, 'PUT', '/v1/items/api-%EF%BF%BD', { properties: { name: 'Replacement' } })).status).toBe(200);
    expect((await api(s.url, 'GET', '/v1/items/api-%EF%BF%BD')).json.properties).toEqual({ name: 'Replacement' });
    // and the endpoints that only read by a person id refuse half a pair too
    for (const [path, body] of [['/v1/recommendations', { userId: 'r\ud83d' }], ['/v1/decide', { anonymousId: 'd\ud800', placement: 'home' }]] as const) {
      const r = await api(s.url, 'POST', path, body);
      expect([path, r.status, r.json.error.code]).toEqual([path, 400, 'KAIROS_ERR_VALIDATION']);
    }

    const items = await api(s.url, 'POST', '/v1/items', { items: [{ itemId: 'q\ud800', properties: {} }, { itemId: 'q\udbff', properties: {} }] });
    expect(items.status).toBe(400);
    expect(items.json.error.details.map((d: { field: string }) => d.field)).toEqual(['/items/0/itemId', '/items/1/itemId']);
    const viewed = await track(s.url, '/v1/track', { anonymousId: 'v1', event: 'Product Viewed', properties: { product_id: 'q\udc00' } });
    expect(viewed.json.error.details).toEqual([expect.objectContaining({ field: '/properties/product_id' })]);
    expect((await api(s.url, 'GET', '/v1/profiles/alice')).status).toBe(404);
  });

  it('elsewhere a lone half becomes U+FFFD when received, so a restart serves what was served before it', async () => {
    let s = await resources.server();
    const cut = '😀'.slice(0, 1);
    const sent = await track(s.url, '/v1/track', {
      anonymousId: 'cutter', event: 'Product Viewed', messageId: 'cut-1',
      properties: { product_id: 'mug', name: `Mug ${cut}`, category: `Kitchen${cut}`, [`note${cut}`]: cut },
    });
    expect(sent.status).toBe(200);
    const item = (await api(s.url, 'GET', '/v1/items/mug')).json;
    expect(item.properties).toMatchObject({ name: 'Mug \ufffd', category: 'Kitchen\ufffd' });
    const exported = async (t: TestServer) => (await api(t.url, 'GET', '/v1/profiles/cutter/export')).text;
    const before = { item, profile: (await api(s.url, 'GET', '/v1/profiles/cutter')).json, exported: await exported(s) };
    expect(before.exported).toContain('"note\ufffd":"\ufffd"');
    // the same event again is a repeat, also after the restart
    s = await resources.restart(s);
    expect((await track(s.url, '/v1/track', { anonymousId: 'cutter', event: 'Product Viewed', messageId: 'cut-1', properties: { product_id: 'mug' } })).status).toBe(200);
    const after = { item: (await api(s.url, 'GET', '/v1/items/mug')).json, profile: (await api(s.url, 'GET', '/v1/profiles/cutter')).json, exported: await exported(s) };
    expect(after.profile.eventCount).toBe(1);
    expect(after.item).toEqual(before.item);
    expect(after.profile.features.affinities).toEqual(before.profile.features.affinities);
    expect(after.exported).toBe(before.exported);
  });
});

describe('a click on an item whose id is 512 four-byte characters', () => {
  it('is stored, learned from and acknowledged, and its feedback survives a restart', async () => {
    let s = await resources.server();
    const long = '😀'.repeat(512);
    expect((await api(s.url, 'POST', '/v1/items', { items: [{ itemId: long, properties: { name: 'Smiles' } }] })).status).toBe(200);
    const shown = await api(s.url, 'POST', '/v1/recommendations', { anonymousId: 'fb2', count: 5 });
    expect(shown.json.items.map((i: { itemId: string }) => i.itemId)).toContain(long);
    const click = await track(s.url, '/v1/track', { anonymousId: 'fb2', event: 'Product Clicked', messageId: 'fb2-click', properties: { product_id: long, recommendation_id: shown.json.recommendationId } });
    expect(click.status, click.text).toBe(200);
    const blends = async (t: TestServer) => (await api(t.url, 'GET', '/v1/models')).json.blends;
    const learned = await blends(s);
    expect(learned.find((b: { placement: string }) => b.placement === 'default')?.examples).toBe(1);
    s = await resources.restart(s);
    expect(await blends(s)).toEqual(learned);
  });
});

describe('requests Node refuses before Fastify sees them', () => {
  it('are answered in the documented error shape, with a code of the catalogue', async () => {
    const s = await resources.server();
    const big = statusAndBody(await rawExchange(s, `GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`));
    expect(big).toEqual({ status: 431, body: { error: { code: 'KAIROS_ERR_HEADERS_TOO_LARGE', message: expect.any(String) } } });
    const framed = statusAndBody(await rawExchange(s, 'POST /v1/track HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n'));
    expect(framed).toEqual({ status: 400, body: { error: { code: 'KAIROS_ERR_BAD_REQUEST', message: expect.any(String) } } });
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  });
});

describe('an empty body', () => {
  it('is KAIROS_ERR_BAD_JSON with or without a Content-Type where a body is read; a route without one takes an empty body, labelled or not', async () => {
    const s = await resources.server();
    const basic = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
    // fetch labels an empty string text/plain: the bare case needs a raw request
    const bare = async (path: string, authorization: string) =>
      statusAndBody(await rawExchange(s, `POST ${path} HTTP/1.1\r\nhost: x\r\nauthorization: ${authorization}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`));
    for (const path of ['/v1/track', '/v1/batch']) {
      const labelled = await send(s.url, 'POST', path, '', { authorization: basic, 'content-type': 'application/json' });
      expect([path, labelled.status, labelled.json.error.code]).toEqual([path, 400, 'KAIROS_ERR_BAD_JSON']);
      const unlabelled = await bare(path, basic);
      expect([path, unlabelled.status, unlabelled.body.error.code]).toEqual([path, 400, 'KAIROS_ERR_BAD_JSON']);
    }
    const keys = await bare('/v1/keys', 'Bearer ak_test_admin_key');
    expect([keys.status, keys.body.error.code]).toEqual([400, 'KAIROS_ERR_BAD_JSON']);
    const retrain = await send(s.url, 'POST', '/v1/models/collaborative/retrain', undefined, { authorization: 'Bearer ak_test_admin_key' });
    expect(retrain.status, retrain.text).toBe(200);
    // nor when a client labels the empty body JSON
    const json = { authorization: 'Bearer ak_test_admin_key', 'content-type': 'application/json' };
    expect((await send(s.url, 'POST', '/v1/models/collaborative/retrain', '', json)).status).toBe(200);
    expect((await send(s.url, 'DELETE', '/v1/items/never-there', '', json)).json.error.code).toBe('KAIROS_ERR_NOT_FOUND');
    expect((await send(s.url, 'DELETE', '/v1/profiles/never-there', '', json)).json.error.code).toBe('KAIROS_ERR_NOT_FOUND');
  });
});

describe('credentials', () => {
  it('empty Basic credentials leave the body\'s writeKey to decide', async () => {
    const s = await resources.server();
    const body = JSON.stringify({ writeKey: WRITE_KEY, userId: 'empty-basic', event: 'Signed Up' });
    const r = await send(s.url, 'POST', '/v1/track', body, { 'content-type': 'application/json', authorization: 'Basic Og==' });
    expect(r.status, r.text).toBe(200);
    expect((await api(s.url, 'GET', '/v1/profiles/empty-basic')).json.eventCount).toBe(1);
    const wrong = await send(s.url, 'POST', '/v1/track', body, { 'content-type': 'application/json', authorization: `Basic ${Buffer.from('wk_wrong:').toString('base64')}` });
    expect(wrong.status).toBe(401);
  });
});

describe('validation details', () => {
  it('name the field a bad product id came from', async () => {
    const s = await resources.server();
    const long = 'x'.repeat(513);
    const order = await track(s.url, '/v1/track', { userId: 'u', event: 'Order Completed', properties: { products: [{ product_id: 'ok' }, { product_id: long }, { sku: long }] } });
    expect(order.json.error.details.map((d: { field: string }) => d.field)).toEqual(['/properties/products/1/product_id', '/properties/products/2/sku']);
    const viewed = await track(s.url, '/v1/track', { userId: 'u', event: 'Product Viewed', properties: { sku: long } });
    expect(viewed.json.error.details.map((d: { field: string }) => d.field)).toEqual(['/properties/sku']);
  });
});

describe('/metrics', () => {
  it('never shows another tenant\'s workspace id', async () => {
    const s = await resources.server();
    const created = await api(s.url, 'POST', '/v1/workspaces', { name: 'tenant-two' });
    expect(created.status).toBe(201);
    expect((await track(s.url, '/v1/track', { userId: 't2', event: 'Signed Up' }, { authorization: `Basic ${Buffer.from(`${created.json.writeKey}:`).toString('base64')}` })).status).toBe(200);
    expect((await track(s.url, '/v1/track', { userId: 't1', event: 'Signed Up' })).status).toBe(200);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).not.toContain(created.json.id);
    expect(metrics).toMatch(/kairos_events_ingested_total\{workspace="other"\} 1/);
    expect(metrics).toMatch(/kairos_events_ingested_total\{workspace="default"\} 1/);
  });
});
