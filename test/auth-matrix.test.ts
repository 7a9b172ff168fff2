/**
 * Auth (CONTRACT §3, issue 7): every route the real app registers × every kind of credential gives
 * the documented status. Routes are read from the app itself, so a new route without an entry in
 * ACCESS below fails this test until someone decides who may call it. Also: revocation is effective
 * on the next request, keys are stored hashed only, and per-key rate limits answer 429 with
 * Retry-After.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, WRITE_KEY, api, removeDir, startServer, tempDir, type TestServer } from './helpers/server.ts';
import { basicAuth, ingest, kairosCli, scanBytes, scanRecords } from './helpers/privacy.ts';

type App = TestServer;
const dirs: string[] = [];
const apps: App[] = [];
afterAll(async () => {
  for (const a of apps) await a.close().catch(() => undefined);
  for (const d of dirs) removeDir(d);
});

/** the product as `kairos serve` assembles it (core routes + capabilities), in process on port 0 */
async function startApp(o: { dataDir?: string; env?: Record<string, string> } = {}): Promise<App> {
  const dataDir = o.dataDir ?? tempDir('kairos-auth-');
  if (!dirs.includes(dataDir)) dirs.push(dataDir);
  const server = await startServer({ dataDir, ...(o.env ? { env: o.env } : {}) });
  const a: App = {
    ...server,
    async close() {
      apps.splice(apps.indexOf(a), 1);
      await server.close();
    },
  };
  apps.push(a);
  return a;
}

/** every METHOD + URL pattern the app serves, from Fastify's own route tree (HEAD mirrors GET and is left out) */
function routesOf(app: FastifyInstance): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:│ {3}| {4})*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    const url = (depth > 0 ? stack[depth - 1]! : '') + m[2]!;
    stack.push(url);
    for (const method of m[3]?.split(', ') ?? []) if (method !== 'HEAD') out.push(`${method} ${url}`);
  }
  return out.sort();
}

type Access = 'public' | 'ingest' | 'read' | 'aggregates' | 'write' | 'admin' | 'instance-admin';
const CREDENTIALS = ['none', 'wrong', 'writeKey', 'read', 'aggregates', 'write', 'admin', 'otherAdmin'] as const;
type Credential = (typeof CREDENTIALS)[number];

interface Fixture {
  access: Access;
  /** the concrete request; `c` makes targets unique per credential so one call cannot spoil another */
  request: (c: Credential) => { path: string; body?: unknown };
  /** status of an allowed call in the key's own workspace (the default one) */
  ok: number;
  /** status for the other workspace's admin, which holds none of the default workspace's data */
  inOther?: number;
}

const event = (type: string, c: Credential): Record<string, unknown> => {
  const id = `ingest-${type}-${c}`;
  switch (type) {
    case 'track':
      return { anonymousId: id, event: 'Product Viewed', properties: { product_id: 'm1' } };
    case 'identify':
      return { anonymousId: id, traits: { plan: 'gold' } };
    case 'group':
      return { anonymousId: id, groupId: 'g1' };
    case 'alias':
      return { userId: id, previousId: `${id}-old` };
    default:
      return { anonymousId: id, name: 'Home' };
  }
};

/**
 * Who may call each route (CONTRACT §3, docs/api.md). A route the app registers but this table does
 * not know fails the matrix: classify it here.
 */
const ACCESS: Record<string, Fixture> = {
  'GET /healthz': { access: 'public', request: () => ({ path: '/healthz' }), ok: 200 },
  'GET /readyz': { access: 'public', request: () => ({ path: '/readyz' }), ok: 200 },
  'GET /metrics': { access: 'public', request: () => ({ path: '/metrics' }), ok: 200 },
  ...Object.fromEntries(
    ['track', 'identify', 'page', 'screen', 'group', 'alias'].map((t) => [`POST /v1/${t}`, { access: 'ingest', request: (c: Credential) => ({ path: `/v1/${t}`, body: event(t, c) }), ok: 200 } satisfies Fixture]),
  ),
  'POST /v1/batch': { access: 'ingest', request: (c) => ({ path: '/v1/batch', body: { batch: [{ type: 'track', ...event('track', c) }] } }), ok: 200 },
  'POST /v1/import': { access: 'ingest', request: (c) => ({ path: '/v1/import', body: { batch: [{ type: 'page', ...event('page', c) }] } }), ok: 200 },
  'POST /v1/items': { access: 'write', request: (c) => ({ path: '/v1/items', body: { items: [{ itemId: `bulk-${c}`, properties: { name: 'Bulk' } }] } }), ok: 200, inOther: 200 },
  'PUT /v1/items/:itemId': { access: 'write', request: (c) => ({ path: `/v1/items/put-${c}`, body: { properties: { name: 'Put' } } }), ok: 200, inOther: 200 },
  'GET /v1/items/:itemId': { access: 'read', request: () => ({ path: '/v1/items/m1' }), ok: 200, inOther: 404 },
  'DELETE /v1/items/:itemId': { access: 'write', request: (c) => ({ path: `/v1/items/del-${c}` }), ok: 200, inOther: 404 },
  'GET /v1/items/:itemId/similar': { access: 'read', request: () => ({ path: '/v1/items/m1/similar?count=2' }), ok: 200, inOther: 404 },
  'POST /v1/recommendations': { access: 'read', request: () => ({ path: '/v1/recommendations', body: { anonymousId: 'mx', count: 3 } }), ok: 200, inOther: 200 },
  'GET /v1/profiles/:id': { access: 'read', request: () => ({ path: '/v1/profiles/mx' }), ok: 200, inOther: 404 },
  // a tiny ε: every allowed credential spends from the default budget of 1 per day
  'POST /v1/aggregates': { access: 'aggregates', request: () => ({ path: '/v1/aggregates', body: { metric: 'people', groupBy: 'none', epsilon: 0.01 } }), ok: 200, inOther: 200 },
  'GET /v1/profiles/:id/export': { access: 'admin', request: () => ({ path: '/v1/profiles/mx/export' }), ok: 200, inOther: 404 },
  'DELETE /v1/profiles/:id': { access: 'admin', request: (c) => ({ path: `/v1/profiles/erase-${c}` }), ok: 200, inOther: 404 },
  'POST /v1/keys': { access: 'admin', request: (c) => ({ path: '/v1/keys', body: { scopes: ['read'], name: `made-by-${c}` } }), ok: 201, inOther: 201 },
  'GET /v1/keys': { access: 'admin', request: () => ({ path: '/v1/keys' }), ok: 200, inOther: 200 },
  'DELETE /v1/keys/:id': { access: 'admin', request: (c) => ({ path: `/v1/keys/${revocable.get(c)!.id}` }), ok: 200, inOther: 404 },
  'POST /v1/workspaces': { access: 'instance-admin', request: (c) => ({ path: '/v1/workspaces', body: { name: `ws-${c}` } }), ok: 201 },
  'GET /v1/models': { access: 'admin', request: () => ({ path: '/v1/models' }), ok: 200, inOther: 200 },
  'POST /v1/models/collaborative/retrain': { access: 'admin', request: () => ({ path: '/v1/models/collaborative/retrain', body: {} }), ok: 200, inOther: 200 },
  'PUT /v1/actions/:actionId': { access: 'write', request: (c) => ({ path: `/v1/actions/put-${c}`, body: { placements: ['home'], channel: 'web', content: {} } }), ok: 200, inOther: 200 },
  'GET /v1/actions': { access: 'write', request: () => ({ path: '/v1/actions' }), ok: 200, inOther: 200 },
  'GET /v1/actions/:actionId': { access: 'write', request: () => ({ path: '/v1/actions/act1' }), ok: 200, inOther: 404 },
  'DELETE /v1/actions/:actionId': { access: 'write', request: (c) => ({ path: `/v1/actions/del-${c}` }), ok: 200, inOther: 404 },
  'POST /v1/decide': { access: 'read', request: () => ({ path: '/v1/decide', body: { anonymousId: 'mx', placement: 'home' } }), ok: 200, inOther: 200 },
  // an unknown decision: the route's access is what is checked here (rewards are tested in decide-serving)
  'POST /v1/decisions/:decisionId/reward': { access: 'write', request: () => ({ path: '/v1/decisions/dec_unknown/reward', body: { value: 1 } }), ok: 404, inOther: 404 },
  'PUT /v1/experiments/:id': {
    access: 'write',
    request: (c) => ({ path: `/v1/experiments/put-${c}`, body: { placement: `p-${c}`, variants: [{ id: 'a', weight: 1, config: {} }], metrics: ['Order Completed'], status: 'draft' } }),
    ok: 200,
    inOther: 200,
  },
  'GET /v1/experiments': { access: 'read', request: () => ({ path: '/v1/experiments' }), ok: 200, inOther: 200 },
  'GET /v1/experiments/:id': { access: 'read', request: () => ({ path: '/v1/experiments/e1' }), ok: 200, inOther: 404 },
  'GET /v1/experiments/:id/results': { access: 'read', request: () => ({ path: '/v1/experiments/e1/results' }), ok: 200, inOther: 404 },
  'PUT /v1/triggers/:triggerId': { access: 'admin', request: (c) => ({ path: `/v1/triggers/put-${c}`, body: pausedTrigger }), ok: 200, inOther: 200 },
  'GET /v1/triggers': { access: 'admin', request: () => ({ path: '/v1/triggers' }), ok: 200, inOther: 200 },
  'GET /v1/triggers/:triggerId': { access: 'admin', request: () => ({ path: '/v1/triggers/t1' }), ok: 200, inOther: 404 },
  'DELETE /v1/triggers/:triggerId': { access: 'admin', request: (c) => ({ path: `/v1/triggers/del-${c}` }), ok: 200, inOther: 404 },
  'GET /v1/triggers/:triggerId/deliveries': { access: 'admin', request: () => ({ path: '/v1/triggers/t1/deliveries' }), ok: 200, inOther: 404 },
  // an unknown delivery: the route's access is what is checked here (retries are tested in triggers.test.ts)
  'POST /v1/triggers/:triggerId/deliveries/:idempotencyKey/retry': { access: 'admin', request: () => ({ path: '/v1/triggers/t1/deliveries/kt_unknown/retry' }), ok: 404, inOther: 404 },
};
/** a trigger that never fires (paused; the matrix sends no anchor event either) */
const pausedTrigger = { when: { event: 'Never Sent' }, placement: 'home', channel: 'email', webhook: { url: 'https://hooks.example.com/kairos', secret: 'matrix-secret-0123456789' }, status: 'paused' };
/** per credential, a key of the default workspace that its DELETE /v1/keys/:id call targets */
const revocable = new Map<Credential, { id: string; key: string }>();

function expectedStatus(f: Fixture, c: Credential): number {
  if (f.access === 'public') return f.ok;
  if (f.access === 'ingest') return c === 'writeKey' ? f.ok : 401;
  if (c === 'none' || c === 'wrong' || c === 'writeKey') return 401;
  if (c === 'admin') return f.ok;
  if (c === 'otherAdmin') return f.access === 'instance-admin' ? 403 : f.inOther!;
  if (f.access === 'read') return c === 'read' ? f.ok : 403;
  if (f.access === 'aggregates') return c === 'read' || c === 'aggregates' ? f.ok : 403;
  if (f.access === 'write') return c === 'write' ? f.ok : 403;
  return 403;
}

async function call(url: string, method: string, req: { path: string; body?: unknown }, access: Access, secret: string | undefined): Promise<{ status: number; text: string; code?: string }> {
  const headers: Record<string, string> = {};
  if (secret !== undefined) headers.authorization = access === 'ingest' ? basicAuth(secret) : `Bearer ${secret}`;
  if (req.body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(url + req.path, { method, headers, body: req.body === undefined ? undefined : JSON.stringify(req.body) });
  const text = await r.text();
  let code: string | undefined;
  try {
    code = JSON.parse(text)?.error?.code;
  } catch {
    /* not JSON */
  }
  return { status: r.status, text, ...(code ? { code } : {}) };
}

async function createKey(url: string, scopes: string[], key = ADMIN_KEY): Promise<{ id: string; key: string }> {
  const r = await api(url, 'POST', '/v1/keys', { scopes }, key);
  expect(r.status).toBe(201);
  return r.json;
}

describe('auth matrix', () => {
  it('every registered route × {no key, wrong key, write key, read, aggregates, write, admin, other workspace\'s admin} gives the documented status', async () => {
    const s = await startApp();
    const routes = routesOf(s.app);
    // the route tree was read (a broken parser must not make the matrix vacuous)
    expect(routes).toEqual(expect.arrayContaining(['GET /healthz', 'POST /v1/track', 'PUT /v1/items/:itemId', 'GET /v1/items/:itemId/similar', 'DELETE /v1/profiles/:id']));
    const unclassified = routes.filter((r) => !(r in ACCESS));
    expect(unclassified, 'routes with no expected access in ACCESS: classify them').toEqual([]);
    const stale = Object.keys(ACCESS).filter((r) => !routes.includes(r));
    expect(stale, 'ACCESS entries for routes the app does not register').toEqual([]);

    // the default workspace's data the calls target
    const read = await createKey(s.url, ['read']);
    const aggregates = await createKey(s.url, ['aggregates']);
    const write = await createKey(s.url, ['write']);
    const other = await api(s.url, 'POST', '/v1/workspaces', { name: 'other' });
    expect(other.status).toBe(201);
    expect(other.json).toEqual({ id: expect.any(String), name: 'other', writeKey: expect.any(String), adminKey: expect.any(String) });
    const secrets: Record<Credential, string | undefined> = {
      none: undefined,
      wrong: `ak_${randomBytes(24).toString('base64url')}`,
      writeKey: WRITE_KEY,
      read: read.key,
      aggregates: aggregates.key,
      write: write.key,
      admin: ADMIN_KEY,
      otherAdmin: other.json.adminKey,
    };
    await api(s.url, 'POST', '/v1/items', { items: ['m1', 'm2', ...CREDENTIALS.map((c) => `del-${c}`)].map((itemId) => ({ itemId, properties: { name: itemId } })) });
    const people = ['mx', ...CREDENTIALS.map((c) => `erase-${c}`)];
    expect((await ingest(s.url, '/v1/batch', { batch: people.map((anonymousId) => ({ type: 'track', anonymousId, event: 'Product Viewed', properties: { product_id: 'm1' } })) })).status).toBe(200);
    for (const c of CREDENTIALS) revocable.set(c, await createKey(s.url, ['read']));
    for (const id of ['act1', ...CREDENTIALS.map((c) => `del-${c}`)]) expect((await api(s.url, 'PUT', `/v1/actions/${id}`, { placements: ['home'], channel: 'web', content: {} })).status).toBe(200);
    const e1 = { placement: 'home', variants: [{ id: 'a', weight: 1, config: {} }], metrics: ['Order Completed'], status: 'running' };
    expect((await api(s.url, 'PUT', '/v1/experiments/e1', e1)).status).toBe(200);
    for (const id of ['t1', ...CREDENTIALS.map((c) => `del-${c}`)]) expect((await api(s.url, 'PUT', `/v1/triggers/${id}`, pausedTrigger)).status).toBe(200);

    const mismatches: string[] = [];
    const bodies = new Map<string, string>();
    for (const route of routes) {
      const f = ACCESS[route]!;
      const [method] = route.split(' ') as [string];
      for (const c of CREDENTIALS) {
        const r = await call(s.url, method, f.request(c), f.access, secrets[c]);
        bodies.set(`${route} ${c}`, r.text);
        const want = expectedStatus(f, c);
        const wantCode = want === 401 ? 'KAIROS_ERR_AUTH' : want === 403 ? 'KAIROS_ERR_FORBIDDEN' : undefined;
        if (r.status !== want || (wantCode && r.code !== wantCode)) mismatches.push(`${route} with ${c}: ${r.status} ${r.code ?? ''}, expected ${want} ${wantCode ?? ''}`);
      }
    }
    expect(mismatches).toEqual([]);

    // what the other workspace's admin did happened in its workspace, and it saw nothing of this one
    const adminGet = (path: string) => api(s.url, 'GET', path);
    expect((await adminGet('/v1/items/del-otherAdmin')).status).toBe(200);
    expect((await adminGet('/v1/profiles/erase-otherAdmin')).status).toBe(200);
    for (const id of ['put-otherAdmin', 'bulk-otherAdmin']) expect((await adminGet(`/v1/items/${id}`)).status).toBe(404);
    expect((await api(s.url, 'GET', '/v1/items/put-otherAdmin', undefined, secrets.otherAdmin)).status).toBe(200);
    // only the admin's DELETE /v1/keys/:id revoked anything; the other workspace's admin could not
    for (const c of CREDENTIALS) expect((await api(s.url, 'GET', '/v1/profiles/mx', undefined, revocable.get(c)!.key)).status, `key targeted by ${c}`).toBe(c === 'admin' ? 401 : 200);
    const otherRecs = JSON.parse(bodies.get('POST /v1/recommendations otherAdmin')!);
    for (const item of otherRecs.items) expect(['put-otherAdmin', 'bulk-otherAdmin']).toContain(item.itemId);
    const otherKeys = JSON.parse(bodies.get('GET /v1/keys otherAdmin')!).keys.map((k: any) => k.id);
    for (const id of [read.id, write.id, ...[...revocable.values()].map((k) => k.id)]) expect(otherKeys).not.toContain(id);
    const ownKeys = JSON.parse(bodies.get('GET /v1/keys admin')!).keys;
    expect(ownKeys.map((k: any) => k.id)).toEqual(expect.arrayContaining([read.id, write.id, 'primary-admin', 'primary-write']));
    // listings never show a secret or its hash
    for (const k of ownKeys) expect(Object.keys(k).sort()).toEqual(expect.arrayContaining(['createdAt', 'id', 'kind', 'scopes']));
    for (const k of ownKeys) expect(k).not.toHaveProperty('key');
    for (const k of ownKeys) expect(k).not.toHaveProperty('hash');
    const listing = bodies.get('GET /v1/keys admin')!;
    for (const secret of [read.key, write.key, ADMIN_KEY, WRITE_KEY]) {
      expect(listing).not.toContain(secret);
      expect(listing).not.toContain(createHash('sha256').update(secret).digest('hex'));
    }
    // ingestion with the API keys stored nothing
    for (const c of ['read', 'write', 'admin', 'otherAdmin', 'none', 'wrong'] as const) expect((await adminGet(`/v1/profiles/ingest-track-${c}`)).status).toBe(404);
    expect((await adminGet('/v1/profiles/ingest-track-writeKey')).status).toBe(200);
  });

  it('authentication comes before input validation: no key or a key without the scope never learns what is wrong with the input', async () => {
    const s = await startApp();
    const read = await createKey(s.url, ['read']);
    const cases: Array<[string, string, unknown, string | undefined, number]> = [
      ['POST', '/v1/items', { bogus: true }, undefined, 401],
      ['PUT', '/v1/items/x', { bogus: true }, undefined, 401],
      ['POST', '/v1/recommendations', { count: 1000 }, undefined, 401],
      ['POST', '/v1/keys', { scopes: ['root'] }, undefined, 401],
      ['POST', '/v1/workspaces', {}, undefined, 401],
      ['DELETE', '/v1/profiles/x?suppress=maybe', undefined, undefined, 401],
      ['POST', '/v1/items', { bogus: true }, read.key, 403],
      ['POST', '/v1/keys', { scopes: [] }, read.key, 403],
      ['DELETE', '/v1/profiles/x?suppress=maybe', undefined, read.key, 403],
    ];
    const wrong: string[] = [];
    for (const [method, path, body, key, want] of cases) {
      const r = await call(s.url, method, { path, ...(body !== undefined ? { body } : {}) }, 'read', key);
      if (r.status !== want) wrong.push(`${method} ${path} ${key ? 'read key' : 'no key'}: ${r.status} ${r.code}, expected ${want}`);
    }
    expect(wrong).toEqual([]);
  });

  it('the write key works as Basic username or as writeKey in the body, and only for its own workspace', async () => {
    const s = await startApp();
    const b = (await api(s.url, 'POST', '/v1/workspaces', { name: 'b' })).json;
    const track = (anonymousId: string, writeKey?: string) => ({ anonymousId, event: 'Clicked', ...(writeKey ? { writeKey } : {}) });
    const post = (body: unknown) => fetch(`${s.url}/v1/track`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post(track('in-body', WRITE_KEY))).status).toBe(200);
    expect((await post(track('wrong-body', 'wk_wrong'))).status).toBe(401);
    expect((await post(track('admin-body', ADMIN_KEY))).status).toBe(401);
    expect((await post(track('b-body', b.writeKey))).status).toBe(200);
    expect((await ingest(s.url, '/v1/batch', { batch: [{ type: 'track', ...track('b-basic') }] }, b.writeKey)).status).toBe(200);
    // a wrong Basic key is refused even when the body names a valid one
    expect((await ingest(s.url, '/v1/track', track('mixed', WRITE_KEY), 'wk_wrong')).status).toBe(401);
    expect((await api(s.url, 'GET', '/v1/profiles/in-body')).status).toBe(200);
    for (const id of ['b-body', 'b-basic', 'mixed', 'wrong-body', 'admin-body']) expect((await api(s.url, 'GET', `/v1/profiles/${id}`)).status, id).toBe(404);
    for (const id of ['b-body', 'b-basic']) expect((await api(s.url, 'GET', `/v1/profiles/${id}`, undefined, b.adminKey)).status, id).toBe(200);
    expect((await api(s.url, 'GET', '/v1/profiles/in-body', undefined, b.adminKey)).status).toBe(404);
    // the write key is no API key, in either workspace
    expect((await api(s.url, 'GET', '/v1/profiles/b-body', undefined, b.writeKey)).status).toBe(401);
  });
});

describe('keys', () => {
  it('revocation is effective on the next request and survives a restart; another workspace cannot revoke', async () => {
    const dataDir = tempDir('kairos-auth-');
    let s = await startApp({ dataDir });
    const b = (await api(s.url, 'POST', '/v1/workspaces', { name: 'b' })).json;
    const k = await createKey(s.url, ['read', 'write']);
    const other = await createKey(s.url, ['read']);
    expect((await api(s.url, 'GET', '/v1/keys', undefined, k.key)).status).toBe(403);
    expect((await api(s.url, 'PUT', '/v1/items/r1', { properties: {} }, k.key)).status).toBe(200);
    expect((await api(s.url, 'DELETE', `/v1/keys/${k.id}`, undefined, b.adminKey)).status).toBe(404);
    expect((await api(s.url, 'GET', '/v1/items/r1', undefined, k.key)).status).toBe(200);

    const revoked = await api(s.url, 'DELETE', `/v1/keys/${k.id}`);
    expect(revoked).toMatchObject({ status: 200, json: { revoked: true, id: k.id } });
    const next = await api(s.url, 'GET', '/v1/items/r1', undefined, k.key);
    expect(next.status).toBe(401);
    expect(next.json.error.code).toBe('KAIROS_ERR_AUTH');
    expect((await api(s.url, 'PUT', '/v1/items/r2', { properties: {} }, k.key)).status).toBe(401);
    expect((await api(s.url, 'DELETE', `/v1/keys/${k.id}`)).status).toBe(404);
    expect((await api(s.url, 'GET', '/v1/keys')).json.keys.map((x: any) => x.id)).not.toContain(k.id);
    expect((await api(s.url, 'GET', '/v1/items/r1', undefined, other.key)).status).toBe(200);

    await s.close();
    s = await startApp({ dataDir });
    expect((await api(s.url, 'GET', '/v1/items/r1', undefined, k.key)).status).toBe(401);
    expect((await api(s.url, 'GET', '/v1/items/r1', undefined, other.key)).status).toBe(200);
    expect((await api(s.url, 'GET', '/v1/items/r1', undefined, b.adminKey)).status).toBe(404);
    expect((await api(s.url, 'PUT', '/v1/items/b1', { properties: {} }, b.adminKey)).status).toBe(200);
  });

  it('only hashes of keys are stored: no secret is anywhere in the data dir (HTTP and `kairos keys` alike)', async () => {
    const dataDir = tempDir('kairos-auth-');
    const s = await startApp({ dataDir });
    const made = [await createKey(s.url, ['read']), await createKey(s.url, ['write', 'admin'])];
    const b = (await api(s.url, 'POST', '/v1/workspaces', { name: 'b' })).json;
    const inB = await createKey(s.url, ['read'], b.adminKey);
    const secrets = [WRITE_KEY, ADMIN_KEY, ...made.map((k) => k.key), b.writeKey, b.adminKey, inB.key];
    expect(scanBytes(dataDir, secrets)).toEqual([]);
    await s.close();

    // the CLI, with the server stopped
    const created = JSON.parse((await kairosCli(['keys', 'create', '--scopes', 'read,write', '--name', 'cli'], dataDir)).trim());
    expect(created).toMatchObject({ id: expect.any(String), key: expect.any(String), scopes: ['read', 'write'], name: 'cli' });
    const listed = await kairosCli(['keys', 'list'], dataDir);
    expect(listed).toContain(created.id);
    expect(listed).not.toContain(created.key);
    secrets.push(created.key);
    expect(scanBytes(dataDir, secrets)).toEqual([]);
    expect(await scanRecords(dataDir, secrets)).toEqual([]);
    // positive control: the hashes are what is there
    expect((await scanRecords(dataDir, [createHash('sha256').update(created.key).digest('hex')])).map((h) => h.table)).toEqual(['default/keys']);

    // the key the CLI made works once the server is back
    const again = await startApp({ dataDir });
    expect((await api(again.url, 'GET', '/v1/profiles/none', undefined, created.key)).status).toBe(404);
  });
});

describe('rate limits (KAIROS_RATE_LIMIT=5)', () => {
  it('a burst over a key\'s bucket gets 429 KAIROS_ERR_RATE_LIMITED with Retry-After; other keys are unaffected; refused events are not stored', async () => {
    const s = await startApp({ env: { KAIROS_RATE_LIMIT: '5' } });
    const read = await createKey(s.url, ['read']);
    const burst = await Promise.all(
      Array.from({ length: 40 }, () => fetch(`${s.url}/v1/items/none`, { headers: { authorization: `Bearer ${read.key}` } }).then(async (r) => ({ status: r.status, retryAfter: r.headers.get('retry-after'), body: (await r.json()) as any }))),
    );
    const limited = burst.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(burst.filter((r) => r.status === 404).length, 'the bucket let some through').toBeGreaterThan(0);
    for (const r of limited) {
      expect(r.body.error.code).toBe('KAIROS_ERR_RATE_LIMITED');
      expect(r.retryAfter).toMatch(/^[1-9]\d*$/);
    }
    // the bucket is per key
    expect((await api(s.url, 'GET', '/v1/items/none', undefined, ADMIN_KEY)).status).toBe(404);

    // ingestion: per write key; a refused request stores nothing
    const sent = await Promise.all(
      Array.from({ length: 40 }, (_, i) => ingest(s.url, '/v1/track', { anonymousId: 'limited', event: 'Clicked', messageId: `burst-${i}` }).then((r) => r.status)),
    );
    expect(sent.filter((x) => x === 429).length).toBeGreaterThan(0);
    const accepted = sent.filter((x) => x === 200).length;
    expect(accepted + sent.filter((x) => x === 429).length).toBe(40);
    expect((await api(s.url, 'GET', '/v1/profiles/limited')).json.eventCount).toBe(accepted);
  });
});

