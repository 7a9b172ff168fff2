/** The pieces of webhook delivery on their own: signatures, the retry schedule, Retry-After, the due and fair queues, one attempt. */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_BACKOFF_MS, MAX_RETRY_AFTER_MS, attemptDelivery, backoffMs, retryAfterMs, type AttemptRequest } from '../src/decide/triggers/delivery.ts';
import { DueQueue } from '../src/decide/triggers/due-queue.ts';
import { FairQueue, type Taken } from '../src/decide/triggers/fair-queue.ts';
import { idempotencyKeyOf } from '../src/decide/triggers/outbox.ts';
import { signatureHeader, verifySignature } from '../src/decide/triggers/signature.ts';

describe('signatures', () => {
  const secret = 'whsec_0123456789abcdef';
  const body = JSON.stringify({ idempotencyKey: 'kt_x', actions: [{ actionId: 'a', content: { text: 'héllo' } }] });

  it('sign HMAC-SHA256 of "t.body" as t=…,v1=<hex>, and verify within the tolerance only', () => {
    const header = signatureHeader(secret, body, 1_700_000_000);
    expect(header).toBe(`t=1700000000,v1=${createHmac('sha256', secret).update(`1700000000.${body}`).digest('hex')}`);
    expect(verifySignature(header, body, secret, 1_700_000_100)).toBe(true);
    expect(verifySignature(header, body, secret, 1_700_000_301)).toBe(false);
    expect(verifySignature(header, body + ' ', secret, 1_700_000_000)).toBe(false);
    expect(verifySignature(header, body, 'whsec_another_secret!', 1_700_000_000)).toBe(false);
    expect(verifySignature(header.replace('t=1700000000', 't=1700000001'), body, secret, 1_700_000_000)).toBe(false);
    expect(verifySignature('v1=deadbeef', body, secret, 1_700_000_000)).toBe(false);
    // several v1 values (a receiver rotating secrets): one valid is enough
    expect(verifySignature(`t=1700000000,v1=00,${header.split(',')[1]}`, body, secret, 1_700_000_000)).toBe(true);
  });

  it('idempotency keys depend on the trigger and the anchor event only, and are header-safe', () => {
    expect(idempotencyKeyOf('cart', 'm1')).toBe(idempotencyKeyOf('cart', 'm1'));
    expect(idempotencyKeyOf('cart', 'm1')).not.toBe(idempotencyKeyOf('cart', 'm2'));
    expect(idempotencyKeyOf('cart', 'm1')).not.toBe(idempotencyKeyOf('cart2', 'm1'));
    expect(idempotencyKeyOf('a\u0000b', 'ü/\n')).toMatch(/^kt_[0-9a-f]{32}$/);
  });
});

describe('retry schedule', () => {
  it('doubles from the base, caps at an hour, and jitters within the upper half of each step', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.double({ min: 0.01, max: 3600, noNaN: true }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempts, base, r) => {
        const step = Math.min(base * 1000 * 2 ** (attempts - 1), MAX_BACKOFF_MS);
        const wait = backoffMs(attempts, base, () => r);
        return wait >= step / 2 && wait < step + 1e-9;
      }),
    );
    expect(backoffMs(1, 30, () => 0)).toBe(15_000);
    expect(backoffMs(3, 30, () => 1)).toBe(120_000);
    expect(backoffMs(20, 30, () => 1)).toBe(MAX_BACKOFF_MS);
  });

  it('reads Retry-After as seconds or an HTTP date, bounded', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('3', now)).toBe(3000);
    expect(retryAfterMs('0', now)).toBe(0);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(retryAfterMs('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('999999', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });
});

describe('due queue', () => {
  it('releases entries in time order once due, whatever order they were added in', async () => {
    const released: number[] = [];
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    const q = new DueQueue<number>((n) => {
      released.push(n);
      if (released.length === 50) done();
    });
    const now = Date.now();
    const order = fc.sample(fc.shuffledSubarray([...Array(50).keys()], { minLength: 50 }), { numRuns: 1, seed: 7 })[0]!;
    for (const n of order) q.add(now + n, n);
    await all;
    expect(released).toEqual([...Array(50).keys()]);
    expect(q.size).toBe(0);
    q.stop();
  });

  it('releases nothing after stop', async () => {
    const released: number[] = [];
    const q = new DueQueue<number>((n) => released.push(n));
    q.add(Date.now(), 1);
    q.stop();
    q.add(Date.now(), 2);
    // a queue armed later for the same time is released after the stopped one would have been
    await new Promise<void>((r) => new DueQueue<void>(r).add(Date.now(), undefined));
    expect(released).toEqual([]);
  });
});

describe('fair queue', () => {
  const limits = { perWorkspace: 3, perDestination: 2, failingDestination: 1 };
  const takeAll = (q: FairQueue<string>): Taken<string>[] => {
    const out: Taken<string>[] = [];
    for (let t = q.take(); t; t = q.take()) out.push(t);
    return out;
  };

  it('hands out destinations in turn, each within its limit, and the rest once slots are released', () => {
    const q = new FairQueue<string>({ ...limits, perWorkspace: 10 });
    for (let i = 0; i < 5; i++) q.push('w', 'w|slow', `slow-${i}`);
    q.push('w', 'w|fast', 'fast-0');
    q.push('w', 'w|fast', 'fast-1');
    const first = takeAll(q);
    // a queue of five for one receiver does not stand in front of another receiver's work
    expect(first.map((t) => t.item)).toEqual(['slow-0', 'fast-0', 'slow-1', 'fast-1']);
    expect(q.size).toBe(3);
    q.release(first[0]!);
    expect(takeAll(q).map((t) => t.item)).toEqual(['slow-2']);
  });

  it('gives a destination whose last attempt failed one slot until an attempt succeeds', () => {
    const q = new FairQueue<string>({ ...limits, perWorkspace: 10 });
    for (let i = 0; i < 4; i++) q.push('w', 'w|dead', `d-${i}`);
    q.setFailing('w|dead', true);
    const [one, ...none] = takeAll(q);
    expect([one?.item, none]).toEqual(['d-0', []]);
    q.release(one!);
    q.setFailing('w|dead', false);
    expect(takeAll(q).map((t) => t.item)).toEqual(['d-1', 'd-2']);
  });

  it('keeps slots for other workspaces: one workspace holds at most its share', () => {
    const q = new FairQueue<string>(limits);
    for (const d of ['a|1', 'a|2', 'a|3']) for (let i = 0; i < 2; i++) q.push('a', d, `${d}-${i}`);
    q.push('b', 'b|1', 'b-0');
    const taken = takeAll(q);
    expect(taken.filter((t) => t.workspace === 'a')).toHaveLength(3);
    expect(taken.map((t) => t.item)).toContain('b-0');
    q.clear();
    expect([q.size, q.take()]).toEqual([0, undefined]);
  });
});

describe('one attempt against a real receiver', () => {
  /** a loopback receiver answering with `respond`; the attempt is allowed to reach loopback */
  async function withReceiver(respond: (req: IncomingMessage, res: ServerResponse, body: string) => void, run: (url: string, seen: Array<{ headers: IncomingMessage['headers']; body: string }>) => Promise<void>): Promise<void> {
    const seen: Array<{ headers: IncomingMessage['headers']; body: string }> = [];
    const server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        seen.push({ headers: req.headers, body });
        respond(req, res, body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    try {
      await run(`http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hook`, seen);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  }
  const attempt = (url: string, extra: Partial<AttemptRequest> = {}) =>
    attemptDelivery({ url, secret: 'whsec_0123456789abcdef', idempotencyKey: 'kt_1', body: '{"a":"é"}', now: 1_700_000_000_000, timeoutMs: 5000, signal: new AbortController().signal, allowInternalAddresses: true, ...extra });

  it('POSTs the body with its length, signature and idempotency key; 2xx delivers (whatever the answer body)', async () => {
    await withReceiver((_req, res) => res.writeHead(201, { 'content-type': 'text/plain' }).end('thanks'), async (url, seen) => {
      expect(await attempt(url)).toEqual({ kind: 'delivered', status: 201 });
      expect(seen).toHaveLength(1);
      expect(seen[0]!.body).toBe('{"a":"é"}');
      expect(seen[0]!.headers['content-length']).toBe(String(Buffer.byteLength('{"a":"é"}')));
      expect(seen[0]!.headers['idempotency-key']).toBe('kt_1');
      expect(verifySignature(seen[0]!.headers['kairos-signature'] as string, seen[0]!.body, 'whsec_0123456789abcdef', 1_700_000_000)).toBe(true);
    });
  });

  it('a 503 with Retry-After is retried after it; a 3xx is not followed but refused; a 404 is refused', async () => {
    await withReceiver((req, res) => {
      if (req.url === '/hook') res.writeHead(503, { 'retry-after': '7' }).end();
      else if (req.url === '/moved') res.writeHead(302, { location: '/hook' }).end();
      else res.writeHead(404).end();
    }, async (url, seen) => {
      expect(await attempt(url)).toEqual({ kind: 'retry', status: 503, message: 'HTTP 503 Service Unavailable', retryAfterMs: 7000 });
      expect(await attempt(url.replace('/hook', '/moved'))).toEqual({ kind: 'rejected', status: 302, message: 'HTTP 302 Found' });
      expect(await attempt(url.replace('/hook', '/gone'))).toEqual({ kind: 'rejected', status: 404, message: 'HTTP 404 Not Found' });
      expect(seen.map((s) => s.body)).toHaveLength(3);
    });
  });

  it('no answer within the timeout is a retry; shutdown abandons the attempt; a closed port is a retry', async () => {
    await withReceiver(() => undefined, async (url) => {
      expect(await attempt(url, { timeoutMs: 150 })).toEqual({ kind: 'retry', message: 'network error: no answer within 150 ms' });
      const shutdown = new AbortController();
      const pending = attempt(url, { signal: shutdown.signal });
      setTimeout(() => shutdown.abort(), 50);
      expect(await pending).toEqual({ kind: 'aborted' });
    });
    // the receiver is gone: its port refuses connections
    const closed = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const addr = probe.address();
        probe.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
      });
    });
    expect(await attempt(`http://127.0.0.1:${closed}/hook`)).toEqual({ kind: 'retry', message: 'network error: ECONNREFUSED' });
  });
});
