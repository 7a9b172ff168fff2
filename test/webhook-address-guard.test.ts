/**
 * Webhooks cannot reach this machine or its private network unless the instance allows it
 * (KAIROS_WEBHOOK_ALLOW_INTERNAL): refused when a trigger is saved (through the real server), and
 * refused at connect time when a name resolves to an internal address (a real receiver on loopback
 * that must see nothing).
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guardedLookup, INTERNAL_ADDRESS_CODE, internalHostProblem, isInternalAddress } from '../src/decide/triggers/address-guard.ts';
import { attemptDelivery, type AttemptRequest } from '../src/decide/triggers/delivery.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { api, removeDir, startServer, tempDir } from './helpers/server.ts';

describe('internal addresses', () => {
  it.each([
    '127.0.0.1', '127.255.0.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0',
    '224.0.0.1', '255.255.255.255', '198.18.0.1', '::1', '::', 'fe80::1', 'fe80::1%eth0', 'fc00::1', 'fd12:3456::1', 'ff02::1',
    '::ffff:127.0.0.1', '::ffff:10.0.0.1', '::ffff:a9fe:a9fe', '[::1]',
    // IPv4 embedded in IPv6 other ways (NAT64, IPv4-compatible, IPv4-translated, 6to4, Teredo), and documentation ranges
    '64:ff9b::7f00:1', '64:ff9b:1::a00:1', '::127.0.0.1', '::ffff:0:a00:1', '2002:7f00:1::', '2001:0:4136:e378::1',
    '192.0.2.1', '198.51.100.1', '203.0.113.5', '2001:db8::1', '100::1', 'fec0::1',
  ])('%s is internal', (address) => expect(isInternalAddress(address)).toBe(true));

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '192.169.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', 'example.com', ''])(
    '%s is not',
    (address) => expect(isInternalAddress(address)).toBe(false),
  );

  it('names reserved for this machine and internal literals are problems; public names and addresses are not', () => {
    for (const host of ['localhost', 'LOCALHOST.', 'api.localhost', '127.0.0.1', '[::1]', '169.254.169.254']) expect(internalHostProblem(host)).toBeDefined();
    for (const host of ['example.com', 'hooks.example.com', '8.8.8.8', 'localhost.example.com']) expect(internalHostProblem(host)).toBeUndefined();
  });

  it('the connect-time lookup refuses a name that resolves to loopback', async () => {
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => guardedLookup('localhost', { all: true }, (e) => resolve(e)));
    expect(err?.code).toBe(INTERNAL_ADDRESS_CODE);
  });
});

describe('delivery', () => {
  let receiver: Server;
  let port = 0;
  let received = 0;
  beforeAll(async () => {
    receiver = createServer((req, res) => {
      received++;
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const addr = receiver.address();
    port = typeof addr === 'object' && addr ? addr.port : 0;
  });
  afterAll(() => new Promise<void>((r) => receiver.close(() => r())));

  const attempt = (url: string, allowInternalAddresses: boolean) => {
    const a: AttemptRequest = { url, secret: 'a-secret-of-16-chars', idempotencyKey: 'k1', body: '{}', now: Date.now(), timeoutMs: 5000, signal: new AbortController().signal, allowInternalAddresses };
    return attemptDelivery(a);
  };

  it('is refused, for good and without sending, to an internal address or a name resolving to one', async () => {
    const before = received;
    const literal = await attempt(`http://127.0.0.1:${port}/hook`, false);
    expect(literal).toMatchObject({ kind: 'rejected', message: expect.stringContaining('internal address') });
    const byName = await attempt(`http://localhost:${port}/hook`, false);
    expect(byName).toMatchObject({ kind: 'rejected', message: 'not sent: localhost resolves to an internal address' });
    expect(received).toBe(before);
  });

  it('goes through when the instance allows internal addresses', async () => {
    const before = received;
    expect(await attempt(`http://localhost:${port}/hook`, true)).toEqual({ kind: 'delivered', status: 204 });
    expect(await attempt(`http://127.0.0.1:${port}/hook`, true)).toEqual({ kind: 'delivered', status: 204 });
    expect(received).toBe(before + 2);
  });
});

describe('KAIROS_WEBHOOK_ALLOW_INTERNAL', () => {
  it('is off by default, takes true/false/1/0, and names itself when it is anything else', () => {
    const dir = tempDir();
    try {
      expect(loadConfig({ KAIROS_DATA_DIR: dir }).webhookAllowInternal).toBe(false);
      for (const [raw, want] of [['true', true], ['1', true], ['false', false], ['0', false]] as const) {
        expect(loadConfig({ KAIROS_DATA_DIR: dir, KAIROS_WEBHOOK_ALLOW_INTERNAL: raw }).webhookAllowInternal).toBe(want);
      }
      expect(() => loadConfig({ KAIROS_DATA_DIR: dir, KAIROS_WEBHOOK_ALLOW_INTERNAL: 'yes' })).toThrow(ConfigError);
      expect(() => loadConfig({ KAIROS_DATA_DIR: dir, KAIROS_WEBHOOK_ALLOW_INTERNAL: 'yes' })).toThrow(/KAIROS_WEBHOOK_ALLOW_INTERNAL must be true or false/);
    } finally {
      removeDir(dir);
    }
  });
});

describe('saving a trigger', () => {
  const trigger = (url: string) => ({ when: { event: 'Product Added' }, placement: 'home', channel: 'email', webhook: { url, secret: 'a-secret-of-16-chars' }, status: 'paused' });
  const internalUrls = ['http://127.0.0.1:8080/hook', 'http://localhost/hook', 'http://169.254.169.254/latest/meta-data/', 'http://[::1]:9000/', 'http://2130706433/', 'http://[::ffff:10.0.0.1]/', 'https://10.0.0.5/hook'];

  it('refuses internal webhook URLs with a 400 naming the field, and stores nothing', async () => {
    const s = await startServer();
    try {
      for (const [i, url] of internalUrls.entries()) {
        const r = await api(s.url, 'PUT', `/v1/triggers/t${i}`, trigger(url));
        expect(r.status, url).toBe(400);
        const err = (r.json as { error: { code: string; details: Array<{ field: string; message: string }> } }).error;
        expect(err.code).toBe('KAIROS_ERR_VALIDATION');
        expect(err.details).toEqual([{ field: '/webhook/url', message: expect.stringContaining('KAIROS_WEBHOOK_ALLOW_INTERNAL') }]);
        expect((await api(s.url, 'GET', `/v1/triggers/t${i}`)).status).toBe(404);
      }
      expect((await api(s.url, 'PUT', '/v1/triggers/public', trigger('https://hooks.example.com/kairos'))).status).toBe(200);
    } finally {
      await s.close();
      removeDir(s.dataDir);
    }
  });

  it('accepts them on an instance that allows internal addresses', async () => {
    const s = await startServer({ dataDir: tempDir(), env: { KAIROS_WEBHOOK_ALLOW_INTERNAL: 'true' } });
    try {
      for (const [i, url] of internalUrls.entries()) expect((await api(s.url, 'PUT', `/v1/triggers/t${i}`, trigger(url))).status, url).toBe(200);
    } finally {
      await s.close();
      removeDir(s.dataDir);
    }
  });
});
