/**
 * Fixes from an adversarial review of authentication, keys and operations, through real servers: a
 * stalled request cannot hold a SIGTERM forever (a grace period, then a second signal, cut it off),
 * any workspace can issue itself a new write key (through the API, or the CLI when no admin key is
 * left), the primary keys from the environment are checked at start, and failed authentications
 * are limited per client address.
 */
import { connect } from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ADMIN_KEY, WRITE_KEY, api, runKairos, startChild, testResources, track, type ChildServer } from './helpers/server.ts';

const resources = testResources({ prefix: 'kairos-auth-review-' });

/** a client that sent half a request's headers and nothing more */
async function stall(c: ChildServer): Promise<() => void> {
  const { port } = new URL(c.url);
  const socket = connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
  socket.on('error', () => {});
  return () => socket.destroy();
}

describe('shutdown', () => {
  it('a stalled request is cut off after the grace period, and the process exits 0 with what it acknowledged', async () => {
    const c = await resources.child(resources.dataDir(), { KAIROS_SHUTDOWN_GRACE_SECONDS: '1' });
    expect((await track(c.url, '/v1/track', { userId: 'before-stop', event: 'Signed Up', messageId: 'kept' })).status).toBe(200);
    const release = await stall(c);
    try {
      expect(await c.stop()).toBe(0);
    } finally {
      release();
    }
    const again = await resources.child(c.dataDir);
    expect((await api(again.url, 'GET', '/v1/profiles/before-stop')).json.eventCount).toBe(1);
  });

  it('a second signal cuts off what is still open at once', async () => {
    const c = await resources.child(resources.dataDir(), { KAIROS_SHUTDOWN_GRACE_SECONDS: '3600' });
    const release = await stall(c);
    try {
      const exited = new Promise<number | null>((r) => c.child.on('exit', (code) => r(code)));
      process.kill(-c.child.pid!, 'SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      process.kill(-c.child.pid!, 'SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      release();
    }
  });
});

describe('write keys', () => {
  it('a workspace issues itself a new write key, so a leaked one can be revoked without ending its ingestion', async () => {
    const s = await resources.server();
    const created = (await api(s.url, 'POST', '/v1/workspaces', { name: 'tenant' })).json;
    const basic = (key: string) => ({ authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` });
    const fresh = await api(s.url, 'POST', '/v1/keys', { kind: 'write', name: 'rotated' }, created.adminKey);
    expect(fresh.status).toBe(201);
    expect(fresh.json).toMatchObject({ kind: 'write', scopes: [], name: 'rotated', key: expect.stringMatching(/^wk_/) });
    expect((await api(s.url, 'DELETE', '/v1/keys/primary-write', undefined, created.adminKey)).status).toBe(200);
    expect((await track(s.url, '/v1/track', { userId: 't1', event: 'E' }, basic(created.writeKey))).status).toBe(401);
    expect((await track(s.url, '/v1/track', { userId: 't1', event: 'E' }, basic(fresh.json.key))).status).toBe(200);
    expect((await api(s.url, 'GET', '/v1/profiles/t1', undefined, created.adminKey)).json.eventCount).toBe(1);
    // a write key is no API key, and takes no scopes
    expect((await api(s.url, 'GET', '/v1/keys', undefined, fresh.json.key)).status).toBe(401);
    expect((await api(s.url, 'POST', '/v1/keys', { kind: 'write', scopes: ['read'] }, created.adminKey)).status).toBe(400);
    expect((await api(s.url, 'POST', '/v1/keys', { scopes: ['read'] }, created.adminKey)).json).toMatchObject({ kind: 'api', scopes: ['read'] });
  });

  it('the CLI issues keys for any workspace, the way back in when its admin keys are all revoked', async () => {
    const dataDir = resources.dataDir();
    let c = await resources.child(dataDir);
    const created = (await api(c.url, 'POST', '/v1/workspaces', { name: 'locked-out' })).json;
    expect((await api(c.url, 'DELETE', '/v1/keys/primary-admin', undefined, created.adminKey)).status).toBe(200);
    expect(await c.stop()).toBe(0);
    const admin = await runKairos(['keys', 'create', '--scopes', 'admin', '--workspace', created.id], { KAIROS_DATA_DIR: dataDir });
    expect(admin.code, admin.stderr).toBe(0);
    const write = await runKairos(['keys', 'create', '--kind', 'write', '--workspace', created.id], { KAIROS_DATA_DIR: dataDir });
    expect(write.code, write.stderr).toBe(0);
    expect((await runKairos(['keys', 'list', '--workspace', 'nope'], { KAIROS_DATA_DIR: dataDir })).code).toBe(2);
    c = await resources.child(dataDir);
    const adminKey = JSON.parse(admin.stdout.trim().split('\n').pop()!).key;
    const writeKey = JSON.parse(write.stdout.trim().split('\n').pop()!).key;
    expect((await track(c.url, '/v1/track', { userId: 'back', event: 'E' }, { authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}` })).status).toBe(200);
    expect((await api(c.url, 'GET', '/v1/profiles/back', undefined, adminKey)).json.eventCount).toBe(1);
  });
});

describe('primary keys from the environment', () => {
  for (const [name, env, message] of [
    ['one secret for both keys', { KAIROS_WRITE_KEY: 'ak_same_secret_value', KAIROS_ADMIN_KEY: 'ak_same_secret_value' }, /must differ/],
    ['a write key with a colon', { KAIROS_WRITE_KEY: 'wk:with:colons' }, /must not hold ":"/],
  ] as const) {
    it(`${name} stops the start with a message naming the variable`, async () => {
      // a server that starts after all is stopped before the test fails
      const started = startChild(resources.dataDir(), env).then(async (c) => {
        await c.kill9();
        return 'started';
      });
      await expect(started).rejects.toThrow(message);
    });
  }
});

describe('failed authentications', () => {
  it('past the budget of an address, its requests are refused with Retry-After, a right key included', async () => {
    const s = await resources.server(resources.dataDir(), { KAIROS_AUTH_FAILURES: '2' });
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await api(s.url, 'GET', '/v1/keys', undefined, `ak_guess_${i}`)).status);
    expect(statuses.slice(0, 20)).toEqual(Array(20).fill(401));
    expect(statuses.slice(25)).toEqual(Array(5).fill(429));
    const right = await fetch(`${s.url}/v1/keys`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(right.status).toBe(429);
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await right.json()) as { error: { code: string } }).error.code).toBe('KAIROS_ERR_RATE_LIMITED');
    expect((await track(s.url, '/v1/track', { userId: 'x', event: 'E', writeKey: WRITE_KEY })).status).toBe(429);
    // the operational endpoints need no key and stay open
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  });
});
