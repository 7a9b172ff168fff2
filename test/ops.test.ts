/**
 * Operations (CONTRACT §9), auth (§3) and the catalog (§5) over HTTP.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, api, fileServer, track, WRITE_KEY } from './helpers/server.ts';

const server = fileServer();

const get = async (path: string, headers: Record<string, string> = {}) => {
  const r = await fetch(server.url + path, { headers });
  return { status: r.status, type: r.headers.get('content-type') ?? '', text: await r.text() };
};

/** the value of one Prometheus sample, 0 when absent */
function sample(metrics: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of metrics.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[4]);
  }
  return 0;
}

describe('health, readiness and metrics', () => {
  it('GET /healthz and /readyz answer without a key, whatever Authorization says', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer nonsense' }, { authorization: `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}` }]) {
      const h = await get('/healthz', headers);
      expect(h.status).toBe(200);
      expect(JSON.parse(h.text)).toEqual({ status: 'ok' });
      const r = await get('/readyz', headers);
      expect(r.status).toBe(200);
    }
  });

  it('GET /metrics is Prometheus text with latency per route, events ingested and rejected, store size and model freshness', async () => {
    const before = (await get('/metrics')).text;
    const ingested = sample(before, 'kairos_events_ingested_total', { workspace: 'default' });
    expect((await track(server.url, '/v1/batch', { batch: [1, 2, 3].map((i) => ({ type: 'track', userId: 'ops-metrics', event: 'Product Viewed', messageId: `ops-m-${i}` })) })).status).toBe(200);
    // a repeat is acknowledged but not ingested again
    expect((await track(server.url, '/v1/track', { userId: 'ops-metrics', event: 'Product Viewed', messageId: 'ops-m-1' })).status).toBe(200);
    expect((await track(server.url, '/v1/track', { event: 'Product Viewed' })).status).toBe(400);

    const m = await get('/metrics');
    expect(m.status).toBe(200);
    expect(m.type).toMatch(/^text\/plain/);
    for (const name of ['kairos_http_request_duration_seconds', 'kairos_events_ingested_total', 'kairos_store_bytes', 'kairos_model_freshness_seconds']) {
      expect(m.text).toMatch(new RegExp(`^# TYPE ${name} (histogram|counter|gauge)$`, 'm'));
    }
    expect(sample(m.text, 'kairos_events_ingested_total', { workspace: 'default' })).toBe(ingested + 3);
    expect(sample(m.text, 'kairos_events_rejected_total', { reason: 'KAIROS_ERR_VALIDATION' })).toBeGreaterThanOrEqual(1);
    expect(sample(m.text, 'kairos_http_request_duration_seconds_count', { route: '/v1/batch', method: 'POST', status: '200' })).toBeGreaterThanOrEqual(1);
    expect(sample(m.text, 'kairos_http_request_duration_seconds_count', { route: '/v1/track', method: 'POST', status: '400' })).toBeGreaterThanOrEqual(1);
    expect(sample(m.text, 'kairos_store_bytes')).toBeGreaterThan(0);
    expect(sample(m.text, 'kairos_model_freshness_seconds')).toBeGreaterThanOrEqual(0);
  });
});

describe('metric label bounds', () => {
  it('placements sent by clients become at most 64 label values, then "other"', async () => {
    for (let i = 0; i < 80; i++) expect((await api(server.url, 'POST', '/v1/recommendations', { anonymousId: 'labels', context: { placement: `p-${i}` }, count: 1 })).status).toBe(200);
    const text = (await get('/metrics')).text;
    const placements = new Set([...text.matchAll(/^kairos_recommendation_duration_seconds_count\{placement="([^"]*)"\}/gm)].map((m) => m[1]));
    expect(placements.size).toBeLessThanOrEqual(65);
    expect(placements.has('other')).toBe(true);
    expect(placements.has('p-0')).toBe(true);
  });
});

describe('auth (CONTRACT §3)', () => {
  let readKey: { id: string; key: string };
  let writeScopeKey: { id: string; key: string };
  beforeAll(async () => {
    const r = await api(server.url, 'POST', '/v1/keys', { scopes: ['read'], name: 'reader' });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ scopes: ['read'], name: 'reader' });
    readKey = r.json;
    const w = await api(server.url, 'POST', '/v1/keys', { scopes: ['write'] });
    expect(w.status).toBe(201);
    writeScopeKey = w.json;
    expect((await track(server.url, '/v1/track', { userId: 'auth-u', event: 'Product Viewed' })).status).toBe(200);
  });

  it('a missing or unknown API key is 401', async () => {
    const none = await fetch(`${server.url}/v1/profiles/auth-u`);
    expect(none.status).toBe(401);
    expect(((await none.json()) as any).error.code).toBe('KAIROS_ERR_AUTH');
    const wrong = await api(server.url, 'GET', '/v1/profiles/auth-u', undefined, 'ak_not_a_key');
    expect(wrong.status).toBe(401);
    expect(wrong.json.error.code).toBe('KAIROS_ERR_AUTH');
  });

  it('a URL that is not valid percent-encoding is a coded 400, in the documented error shape', async () => {
    for (const path of ['/v1/items/%ff', '/v1/profiles/%E0%A4%A', '/v1/items/%']) {
      const r = await api(server.url, 'GET', path);
      expect(r.status, path).toBe(400);
      expect(r.json.error.code, path).toBe('KAIROS_ERR_VALIDATION');
    }
  });

  it('the write key grants no API access', async () => {
    for (const [method, path, body] of [['GET', '/v1/profiles/auth-u'], ['GET', '/v1/items/x'], ['PUT', '/v1/items/x', { properties: {} }], ['GET', '/v1/keys']] as const) {
      const r = await api(server.url, method, path, body, WRITE_KEY);
      expect(r.status, `${method} ${path}`).toBe(401);
      expect(r.json.error.code).toBe('KAIROS_ERR_AUTH');
    }
  });

  it('a read key reads profiles and items but cannot write the catalog or manage keys (403)', async () => {
    expect((await api(server.url, 'GET', '/v1/profiles/auth-u', undefined, readKey.key)).status).toBe(200);
    expect((await api(server.url, 'PUT', '/v1/items/auth-item', { properties: { name: 'A' } })).status).toBe(200);
    expect((await api(server.url, 'GET', '/v1/items/auth-item', undefined, readKey.key)).status).toBe(200);
    for (const [method, path, body] of [['PUT', '/v1/items/auth-item', { properties: {} }], ['POST', '/v1/items', { items: [{ itemId: 'z', properties: {} }] }], ['DELETE', '/v1/items/auth-item'], ['POST', '/v1/keys', { scopes: ['read'] }], ['GET', '/v1/keys']] as const) {
      const r = await api(server.url, method, path, body, readKey.key);
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.json.error.code).toBe('KAIROS_ERR_FORBIDDEN');
    }
    expect((await api(server.url, 'GET', '/v1/items/auth-item')).json.properties).toEqual({ name: 'A' });
  });

  it('a write key (API scope write) writes the catalog but does not read profiles', async () => {
    expect((await api(server.url, 'PUT', '/v1/items/auth-item-2', { properties: {} }, writeScopeKey.key)).status).toBe(200);
    expect((await api(server.url, 'GET', '/v1/profiles/auth-u', undefined, writeScopeKey.key)).status).toBe(403);
  });

  it('keys are listed without secrets, and a revoked key is refused on the very next request', async () => {
    const listed = await api(server.url, 'GET', '/v1/keys');
    expect(listed.status).toBe(200);
    expect(listed.json.keys.map((k: any) => k.id)).toEqual(expect.arrayContaining([readKey.id, writeScopeKey.id]));
    expect(listed.text).not.toContain(readKey.key);
    expect(listed.text).not.toContain(ADMIN_KEY);
    for (const k of listed.json.keys) expect(Object.keys(k)).not.toEqual(expect.arrayContaining(['hash']));

    const victim = (await api(server.url, 'POST', '/v1/keys', { scopes: ['read'] })).json;
    expect((await api(server.url, 'GET', '/v1/profiles/auth-u', undefined, victim.key)).status).toBe(200);
    const revoked = await api(server.url, 'DELETE', `/v1/keys/${victim.id}`);
    expect(revoked.status).toBe(200);
    const after = await api(server.url, 'GET', '/v1/profiles/auth-u', undefined, victim.key);
    expect(after.status).toBe(401);
    expect(after.json.error.code).toBe('KAIROS_ERR_AUTH');
    expect((await api(server.url, 'DELETE', `/v1/keys/${victim.id}`)).status).toBe(404);
    // and it stays revoked after a restart
    await server.restart();
    expect((await api(server.url, 'GET', '/v1/profiles/auth-u', undefined, victim.key)).status).toBe(401);
    expect((await api(server.url, 'GET', '/v1/profiles/auth-u', undefined, readKey.key)).status).toBe(200);
  });

  it('POST /v1/keys refuses unknown scopes', async () => {
    for (const body of [{ scopes: ['root'] }, { scopes: [] }, {}, { scopes: ['read', 'read'] }]) {
      const r = await api(server.url, 'POST', '/v1/keys', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error.code).toBe('KAIROS_ERR_VALIDATION');
    }
  });

  it('a new workspace has its own write and admin keys, and sees only its own data', async () => {
    const created = await api(server.url, 'POST', '/v1/workspaces', { name: 'acme' });
    expect(created.status).toBe(201);
    const { writeKey, adminKey } = created.json;
    expect(created.json).toMatchObject({ name: 'acme', id: expect.any(String), writeKey: expect.any(String), adminKey: expect.any(String) });
    const basic = { authorization: 'Basic ' + Buffer.from(`${writeKey}:`).toString('base64') };
    expect((await track(server.url, '/v1/track', { userId: 'ws-user', event: 'Product Viewed' }, basic)).status).toBe(200);
    expect((await api(server.url, 'GET', '/v1/profiles/ws-user', undefined, adminKey)).json.eventCount).toBe(1);
    expect((await api(server.url, 'GET', '/v1/profiles/ws-user')).status).toBe(404);
    expect((await api(server.url, 'GET', '/v1/profiles/auth-u', undefined, adminKey)).status).toBe(404);
    // only the default workspace's admin creates workspaces
    expect((await api(server.url, 'POST', '/v1/workspaces', { name: 'nested' }, adminKey)).status).toBe(403);
  });
});

describe('catalog (CONTRACT §5)', () => {
  const item = (id: string) => api(server.url, 'GET', `/v1/items/${encodeURIComponent(id)}`);
  const put = (id: string, properties: unknown) => api(server.url, 'PUT', `/v1/items/${encodeURIComponent(id)}`, { properties });

  it('PUT upserts, GET reads, DELETE removes', async () => {
    const properties = { name: 'Trail Shoe', category: 'Shoes > Running > Trail', brand: 'Acme', tags: ['trail', 'waterproof'], price: 89.9, createdAt: '2024-01-02T03:04:05.000Z', colour: 'red', sizes: [41, 42] };
    const created = await put('cat-crud', properties);
    expect(created.status).toBe(200);
    expect(created.json).toEqual({ itemId: 'cat-crud', properties, available: true, createdAt: '2024-01-02T03:04:05.000Z' });
    expect((await item('cat-crud')).json).toEqual(created.json);

    // an upsert replaces the properties
    const replaced = await put('cat-crud', { name: 'Trail Shoe 2', available: false });
    expect(replaced.status).toBe(200);
    expect(replaced.json.properties).toEqual({ name: 'Trail Shoe 2', available: false });
    expect(replaced.json.available).toBe(false);

    const deleted = await api(server.url, 'DELETE', '/v1/items/cat-crud');
    expect(deleted.status).toBe(200);
    const gone = await item('cat-crud');
    expect(gone.status).toBe(404);
    expect(gone.json.error.code).toBe('KAIROS_ERR_NOT_FOUND');
    expect((await api(server.url, 'DELETE', '/v1/items/cat-crud')).status).toBe(404);
  });

  it('bulk upsert stores every item', async () => {
    const items = Array.from({ length: 50 }, (_, i) => ({ itemId: `bulk-${i}`, properties: { name: `Item ${i}`, price: i } }));
    const r = await api(server.url, 'POST', '/v1/items', { items });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ upserted: 50 });
    for (const i of [0, 25, 49]) expect((await item(`bulk-${i}`)).json.properties).toEqual({ name: `Item ${i}`, price: i });
  });

  it.each([
    ['properties not an object', { itemId: 'bad-b', properties: ['x'] }, '/items/1/properties'],
    ['no itemId', { properties: {} }, '/items/1'],
    ['empty itemId', { itemId: '', properties: {} }, '/items/1/itemId'],
    ['an itemId over 512 characters', { itemId: 'x'.repeat(513), properties: {} }, '/items/1/itemId'],
  ])('bulk upsert is all or nothing: one item with %s → 400, none stored', async (_name, bad, field) => {
    const r = await api(server.url, 'POST', '/v1/items', { items: [{ itemId: 'aon-1', properties: { name: 'ok' } }, bad, { itemId: 'aon-3', properties: {} }] });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('KAIROS_ERR_VALIDATION');
    expect(r.json.error.details.map((d: any) => d.field)).toContainEqual(expect.stringContaining(field));
    expect((await item('aon-1')).status).toBe(404);
    expect((await item('aon-3')).status).toBe(404);
  });

  it('bad catalog bodies are 400 with the catalogue code', async () => {
    for (const body of [{}, { properties: 'x' }, { properties: [1] }, []]) {
      const r = await api(server.url, 'PUT', '/v1/items/bad-body', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error.code).toBe('KAIROS_ERR_VALIDATION');
    }
    expect((await api(server.url, 'POST', '/v1/items', { items: [] })).status).toBe(400);
    expect((await item('bad-body')).status).toBe(404);
  });

  it('item ids in any script and up to 512 characters can be written, read and deleted', async () => {
    const ids = ['商品/42', 'café crème', 'a?b#c&d', 'x'.repeat(512), 'é'.repeat(512), '😀'.repeat(256)];
    for (const id of ids) {
      const w = await put(id, { name: id.slice(0, 10) });
      expect(w.status, `PUT ${id.slice(0, 20)}… (${id.length} chars): ${w.text.slice(0, 200)}`).toBe(200);
      expect(w.json.itemId).toBe(id);
      const r = await item(id);
      expect(r.status, `GET ${id.slice(0, 20)}…: ${r.text.slice(0, 200)}`).toBe(200);
      expect(r.json.itemId).toBe(id);
    }
    for (const id of ids) expect((await api(server.url, 'DELETE', `/v1/items/${encodeURIComponent(id)}`)).status, id.slice(0, 20)).toBe(200);
  });

  it('an item id of 512 four-byte characters is stored like any other', async () => {
    const id = '😀'.repeat(512);
    const w = await put(id, { name: 'emoji' });
    expect(w.status, w.text).toBe(200);
    expect((await item(id)).json?.itemId).toBe(id);
  });

  it('a bulk upsert the store cannot take stores none of it, and answers no 5xx', async () => {
    const r = await api(server.url, 'POST', '/v1/items', { items: [{ itemId: 'aon-store-1', properties: { name: 'ok' } }, { itemId: '😀'.repeat(512), properties: {} }] });
    expect(r.status, r.text).toBeLessThan(500);
    const first = await item('aon-store-1');
    expect(first.status).toBe(r.status === 200 ? 200 : 404);
    // and the disk agrees with what was answered
    await server.restart();
    expect((await item('aon-store-1')).status).toBe(first.status);
  });

  it('an item id over 512 characters is refused with the catalogue error shape', async () => {
    const r = await put('y'.repeat(513), {});
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(r.json.error.code).toMatch(/^KAIROS_ERR_/);
  });

  it('a createdAt outside the range of dates never breaks the item', async () => {
    for (const createdAt of [1e20, -1e17, '+275760-09-14T00:00:00.000Z']) {
      const id = `cat-date-${String(createdAt)}`;
      const w = await put(id, { name: 'odd date', createdAt });
      expect(w.status, `${createdAt}: ${w.text}`).toBeLessThan(500);
      const r = await item(id);
      expect(r.status, `${createdAt}: ${r.text}`).toBeLessThan(500);
      // and the item can still be fixed
      const fixed = await put(id, { name: 'fixed' });
      expect(fixed.status, `${createdAt}: ${fixed.text}`).toBe(200);
    }
  });

  it('the catalog survives a restart, whatever the length of the item ids', async () => {
    const ids = ['short', 'm'.repeat(40), 'l'.repeat(56), 'k'.repeat(64), 'j'.repeat(200), 'i'.repeat(500)];
    const r = await api(server.url, 'POST', '/v1/items', { items: ids.map((itemId) => ({ itemId, properties: { name: `len ${itemId.length}` } })) });
    expect(r.status).toBe(200);
    await server.restart();
    for (const id of ids) {
      const got = await item(id);
      expect(got.status, `item id of ${id.length} characters`).toBe(200);
      expect(got.json.properties).toEqual({ name: `len ${id.length}` });
    }
    // deleted items stay deleted
    expect((await item('cat-crud')).status).toBe(404);
  });
});
