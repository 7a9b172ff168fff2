/**
 * Triggered messages end to end (CONTRACT §8, docs/triggers.md): the real server on port 0 with the
 * real capabilities (decisions included), a real HTTP receiver on port 0 for the webhook. Windows of
 * one second and millisecond backoffs keep it fast; waits poll for states, never sleep for a guess.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { api, testResources, track, type TestServer } from './helpers/server.ts';
import { scanRecords, token, waitFor } from './helpers/privacy.ts';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
}

/** A webhook receiver: answers each request with `answer(n)` (n = 1 for the first), records them all. */
class Receiver {
  readonly received: Received[] = [];
  /** the answer to the n-th request (1-based); 'hang' never answers */
  answer: (n: number) => { status: number; headers?: Record<string, string> } | 'hang' = () => ({ status: 200 });
  private server!: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        this.received.push({ headers: req.headers, body, json: JSON.parse(body) });
        const answer = this.answer(this.received.length);
        if (answer !== 'hang') res.writeHead(answer.status, answer.headers).end();
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    const addr = this.server.address();
    this.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hook`;
    return this;
  }

  /** requests that carried this idempotency key */
  withKey(key: string): Received[] {
    return this.received.filter((r) => r.headers['idempotency-key'] === key);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

const resources = testResources({ prefix: 'kairos-triggers-', release: 'all' });
const receivers: Receiver[] = [];
afterAll(async () => {
  for (const r of receivers) await r.close();
});

// the receiver listens on loopback: these servers allow webhooks to internal addresses
const INTERNAL = { KAIROS_WEBHOOK_ALLOW_INTERNAL: 'true' };
const server = (): Promise<TestServer> => resources.server(undefined, INTERNAL);

async function receiver(): Promise<Receiver> {
  const r = await new Receiver().start();
  receivers.push(r);
  return r;
}

const SECRET = 'whsec_test_0123456789abcdef';

/** the action the decision service will choose for the trigger's placement and channel */
async function offer(s: TestServer, placement = 'cart_reminder'): Promise<void> {
  const r = await api(s.url, 'PUT', `/v1/actions/${placement}-offer`, { placements: [placement], channel: 'email', content: { subject: 'You left something behind' } });
  expect(r.status).toBe(200);
}

const abandonedCart = (url: string, extra: Record<string, unknown> = {}, webhook: Record<string, unknown> = {}) => ({
  when: { event: 'Product Added' },
  unless: { event: 'Order Completed', withinSeconds: 1 },
  placement: 'cart_reminder',
  channel: 'email',
  webhook: { url, secret: SECRET, backoffSeconds: 0.01, ...webhook },
  ...extra,
});

async function putTrigger(s: TestServer, id: string, body: unknown): Promise<any> {
  const r = await api(s.url, 'PUT', `/v1/triggers/${id}`, body);
  expect(r.status, r.text).toBe(200);
  return r.json;
}

async function deliveries(s: TestServer, id: string): Promise<any[]> {
  const r = await api(s.url, 'GET', `/v1/triggers/${id}/deliveries`);
  expect(r.status, r.text).toBe(200);
  return r.json.deliveries;
}

/** waits until the trigger's firing for this anchor messageId reaches one of the statuses */
async function settled(s: TestServer, id: string, messageId: string, statuses: string[]): Promise<any> {
  return waitFor(`${id}/${messageId} to be ${statuses.join(' or ')}`, async () => {
    const f = (await deliveries(s, id)).find((d) => d.anchor.messageId === messageId);
    return f && statuses.includes(f.status) ? f : undefined;
  });
}

const added = (anonymousId: string, messageId: string, extra: Record<string, unknown> = {}) =>
  ({ anonymousId, messageId, event: 'Product Added', properties: { product_id: 'sku-1', price: 20 }, ...extra });

describe('triggered messages', () => {
  it('an abandoned cart fires once, signed (HMAC-SHA256 of "t.body") and with its Idempotency-Key', async () => {
    const s = await server();
    const hook = await receiver();
    await offer(s);
    await putTrigger(s, 'cart', abandonedCart(hook.url));
    expect((await track(s.url, '/v1/track', added('shopper-1', 'm-cart-1'))).status).toBe(200);
    // the repeat of the anchor is acknowledged and changes nothing
    expect((await track(s.url, '/v1/track', added('shopper-1', 'm-cart-1'))).status).toBe(200);

    const f = await settled(s, 'cart', 'm-cart-1', ['delivered', 'dead', 'cancelled']);
    expect(f).toMatchObject({ status: 'delivered', attempts: 1, person: { anonymousId: 'shopper-1' }, decisionId: expect.stringMatching(/^dec_/) });
    expect(hook.received).toHaveLength(1);
    const [got] = hook.received;
    const key = got!.headers['idempotency-key'];
    expect(key).toBe(f.idempotencyKey);
    expect(got!.json).toEqual({
      idempotencyKey: key,
      triggerId: 'cart',
      decisionId: f.decisionId,
      placement: 'cart_reminder',
      channel: 'email',
      person: { userId: null, anonymousId: 'shopper-1' },
      actions: [expect.objectContaining({ actionId: 'cart_reminder-offer', content: { subject: 'You left something behind' } })],
      firedAt: expect.any(String),
    });
    // verified the way docs/triggers.md tells a receiver to
    const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(got!.headers['kairos-signature']));
    expect(m).not.toBeNull();
    expect(m![2]).toBe(createHmac('sha256', SECRET).update(`${m![1]}.${got!.body}`).digest('hex'));
    expect(Math.abs(Date.now() / 1000 - Number(m![1]))).toBeLessThan(300);
    expect(m![2]).not.toBe(createHmac('sha256', 'another-secret-0123456789').update(`${m![1]}.${got!.body}`).digest('hex'));
    expect(await deliveries(s, 'cart')).toHaveLength(1);
  });

  it('an event sent while the person had opted out is never an anchor, whatever order the statements arrive in', async () => {
    const s = await server();
    const hook = await receiver();
    await offer(s);
    await putTrigger(s, 'cart', abandonedCart(hook.url, { delaySeconds: 4 }));
    const t0 = Date.now();
    const at = (ms: number) => new Date(t0 - 3000 + ms).toISOString();
    const consent = (v: boolean) => ({ consent: { categoryPreferences: { Personalization: v } } });
    const story = (who: string) => ({
      out: { anonymousId: who, messageId: `${who}-out`, event: 'Consent Updated', context: consent(false), timestamp: at(0) },
      add: added(who, `${who}-add`, { timestamp: at(1000) }),
      back: { anonymousId: who, messageId: `${who}-in`, event: 'Consent Updated', context: consent(true), timestamp: at(2000) },
    });
    for (const k of ['out', 'add', 'back'] as const) expect((await track(s.url, '/v1/track', story('in-order')[k])).status).toBe(200);
    // the same story told backwards: the add is an anchor when it arrives, until the opt-out dated before it does
    for (const k of ['back', 'add', 'out'] as const) expect((await track(s.url, '/v1/track', story('backwards')[k])).status).toBe(200);
    const backwards = await settled(s, 'cart', 'backwards-add', ['delivered', 'dead', 'cancelled']);
    expect([backwards.status, backwards.reason]).toEqual(['cancelled', 'sent while opted out']);
    expect((await deliveries(s, 'cart')).map((d) => d.anchor.messageId)).toEqual(['backwards-add']);
    expect(hook.received).toEqual([]);
  });

  it('two anchors of one person at the same millisecond, from ids merged later, give one message', async () => {
    const s = await server();
    const hook = await receiver();
    await offer(s);
    await putTrigger(s, 'tie', { when: { event: 'Dup' }, delaySeconds: 1, placement: 'cart_reminder', channel: 'email', webhook: { url: hook.url, secret: SECRET, backoffSeconds: 0.01 } });
    const timestamp = new Date(Date.now() - 500).toISOString();
    expect((await track(s.url, '/v1/track', { anonymousId: 'tie-a', event: 'Dup', messageId: 'tie-1', timestamp })).status).toBe(200);
    expect((await track(s.url, '/v1/track', { userId: 'tie-u', event: 'Dup', messageId: 'tie-2', timestamp })).status).toBe(200);
    expect((await track(s.url, '/v1/identify', { anonymousId: 'tie-a', userId: 'tie-u', messageId: 'tie-link' })).status).toBe(200);
    const outcomes = await Promise.all(['tie-1', 'tie-2'].map((m) => settled(s, 'tie', m, ['delivered', 'dead', 'cancelled'])));
    // the later by messageId is the one latest anchor: it is sent, the other is superseded
    expect(outcomes.map((f) => [f.anchor.messageId, f.status, f.reason])).toEqual([
      ['tie-1', 'cancelled', 'superseded'],
      ['tie-2', 'delivered', undefined],
    ]);
    expect(hook.received).toHaveLength(1);
  });

  it('an Order Completed inside the window cancels, also when it came from another id merged before the firing', async () => {
    const s = await server();
    const hook = await receiver();
    await offer(s);
    await putTrigger(s, 'cart', abandonedCart(hook.url));
    const t0 = Date.now();
    const at = (ms: number) => new Date(t0 + ms).toISOString();
    // the same person completes the order
    await track(s.url, '/v1/track', added('buyer-1', 'm-buy-1', { timestamp: at(0) }));
    await track(s.url, '/v1/track', { anonymousId: 'buyer-1', messageId: 'm-buy-1-order', event: 'Order Completed', timestamp: at(300), properties: { order_id: 'o1' } });
    // the order comes from their userId, not yet known to be them; an identify links the two before the firing
    await track(s.url, '/v1/track', added('buyer-2', 'm-buy-2', { timestamp: at(0) }));
    await track(s.url, '/v1/track', { userId: 'user-2', messageId: 'm-buy-2-order', event: 'Order Completed', timestamp: at(300), properties: { order_id: 'o2' } });
    await track(s.url, '/v1/identify', { userId: 'user-2', anonymousId: 'buyer-2', messageId: 'm-buy-2-link', traits: {} });
    // control: nobody orders
    await track(s.url, '/v1/track', added('browser-3', 'm-buy-3', { timestamp: at(0) }));

    expect(await settled(s, 'cart', 'm-buy-1', ['cancelled', 'delivered'])).toMatchObject({ status: 'cancelled', reason: 'unless' });
    expect(await settled(s, 'cart', 'm-buy-2', ['cancelled', 'delivered'])).toMatchObject({ status: 'cancelled', reason: 'unless' });
    const control = await settled(s, 'cart', 'm-buy-3', ['cancelled', 'delivered']);
    expect(control.status).toBe('delivered');
    expect(hook.received.map((r) => r.json.person.anonymousId)).toEqual(['browser-3']);
  });

  it('a 500 is retried with backoff until a 2xx: exactly one delivery succeeds, every attempt with the same key', async () => {
    const s = await server();
    const hook = await receiver();
    hook.answer = (n) => (n <= 2 ? { status: n === 1 ? 500 : 503 } : { status: 204 });
    await offer(s);
    await putTrigger(s, 'cart', abandonedCart(hook.url));
    await track(s.url, '/v1/track', added('retry-1', 'm-retry-1'));
    const f = await settled(s, 'cart', 'm-retry-1', ['delivered', 'dead']);
    expect(f).toMatchObject({ status: 'delivered', attempts: 3 });
    expect(f.lastError).toBeUndefined();
    expect(hook.received).toHaveLength(3);
    expect(new Set(hook.received.map((r) => r.headers['idempotency-key']))).toEqual(new Set([f.idempotencyKey]));
    expect(new Set(hook.received.map((r) => r.body)).size).toBe(1);
  });

  it('a 4xx is a permanent failure (dead letter at once); retries that run out are dead letters too; a dead letter can be sent again', async () => {
    const s = await server();
    const hook = await receiver();
    hook.answer = () => ({ status: 422 });
    await offer(s);
    await putTrigger(s, 'cart', abandonedCart(hook.url, {}, { maxAttempts: 3 }));
    await track(s.url, '/v1/track', added('dead-1', 'm-dead-1'));
    const rejected = await settled(s, 'cart', 'm-dead-1', ['delivered', 'dead']);
    expect(rejected).toMatchObject({ status: 'dead', reason: 'rejected', attempts: 1, lastError: { status: 422 } });
    expect(hook.received).toHaveLength(1);

    hook.answer = () => ({ status: 500 });
    await track(s.url, '/v1/track', added('dead-2', 'm-dead-2'));
    const exhausted = await settled(s, 'cart', 'm-dead-2', ['delivered', 'dead']);
    expect(exhausted).toMatchObject({ status: 'dead', reason: 'exhausted', attempts: 3, lastError: { status: 500 } });
    expect(hook.withKey(exhausted.idempotencyKey)).toHaveLength(3);
    const listed = await api(s.url, 'GET', '/v1/triggers/cart/deliveries?status=dead');
    expect(listed.json.deliveries.map((d: any) => d.anchor.messageId).sort()).toEqual(['m-dead-1', 'm-dead-2']);

    hook.answer = () => ({ status: 200 });
    const again = await api(s.url, 'POST', `/v1/triggers/cart/deliveries/${rejected.idempotencyKey}/retry`);
    expect(again.status, again.text).toBe(200);
    expect(await settled(s, 'cart', 'm-dead-1', ['delivered'])).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(hook.withKey(rejected.idempotencyKey)).toHaveLength(2);
    const twice = await api(s.url, 'POST', `/v1/triggers/cart/deliveries/${rejected.idempotencyKey}/retry`);
    expect(twice.status).toBe(409);
    expect(twice.json.error.code).toBe('KAIROS_ERR_CONFLICT');
    expect((await api(s.url, 'POST', '/v1/triggers/cart/deliveries/kt_nope/retry')).status).toBe(404);
  });

  it('a restart resumes scheduled firings and deliveries in flight, and does not resend a delivered one', async () => {
    let s = await server();
    const hook = await receiver();
    // the first attempt gets no answer: the server stops while it is in flight
    hook.answer = (n) => (n === 1 ? 'hang' : { status: 200 });
    await offer(s);
    await putTrigger(s, 'cart', abandonedCart(hook.url));
    await track(s.url, '/v1/track', added('restart-1', 'm-restart-1'));
    await waitFor('the first attempt to reach the receiver', () => hook.received.length === 1);
    // and a firing still waiting for its window
    await putTrigger(s, 'later', abandonedCart(hook.url, { when: { event: 'Checkout Started' }, unless: { event: 'Order Completed', withinSeconds: 2 } }));
    await track(s.url, '/v1/track', { anonymousId: 'restart-2', messageId: 'm-restart-2', event: 'Checkout Started' });
    expect((await deliveries(s, 'later')).map((d) => d.status)).toEqual(['scheduled']);
    s = await resources.restart(s, INTERNAL);

    // the abandoned attempt did not count: the resumed one is the first
    const resumed = await settled(s, 'cart', 'm-restart-1', ['delivered', 'dead']);
    expect(resumed).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(hook.withKey(resumed.idempotencyKey)).toHaveLength(2);
    const later = await settled(s, 'later', 'm-restart-2', ['delivered', 'dead', 'cancelled']);
    expect(later.status).toBe('delivered');

    // delivered firings stay delivered across a restart; a new anchor after it is the barrier
    s = await resources.restart(s, INTERNAL);
    await track(s.url, '/v1/track', added('restart-3', 'm-restart-3'));
    const third = await settled(s, 'cart', 'm-restart-3', ['delivered', 'dead']);
    expect(third.status).toBe('delivered');
    expect(hook.withKey(resumed.idempotencyKey)).toHaveLength(2);
    expect(hook.withKey(later.idempotencyKey)).toHaveLength(1);
    expect(hook.withKey(third.idempotencyKey)).toHaveLength(1);
  });

  it('erasure deletes the person\'s firings and condition marks from the store; opted-out people get no triggered message', async () => {
    const s = await server();
    const hook = await receiver();
    await offer(s);
    const person = `erase-${token()}`;
    await putTrigger(s, 'cart', abandonedCart(hook.url, { delaySeconds: 3600, unless: { event: 'Order Completed', withinSeconds: 3600 } }));
    await putTrigger(s, 'vip', { when: { condition: { path: 'traits.tier', op: '==', value: 'vip' } }, placement: 'cart_reminder', channel: 'email', webhook: { url: hook.url, secret: SECRET }, delaySeconds: 3600 });
    await track(s.url, '/v1/track', added(person, `m-${person}`));
    await track(s.url, '/v1/identify', { anonymousId: person, traits: { tier: 'vip' } });
    expect((await deliveries(s, 'cart')).map((d) => d.status)).toEqual(['scheduled']);
    expect((await deliveries(s, 'vip')).map((d) => d.status)).toEqual(['scheduled']);

    // opted out: neither kind of trigger schedules anything
    const consent = { consent: { categoryPreferences: { Personalization: false } } };
    await track(s.url, '/v1/identify', { anonymousId: 'opted-out', traits: { tier: 'basic' }, context: consent });
    await track(s.url, '/v1/track', added('opted-out', 'm-opted-out'));
    await track(s.url, '/v1/identify', { anonymousId: 'opted-out', traits: { tier: 'vip' } });
    expect((await deliveries(s, 'cart')).map((d) => d.person.anonymousId)).toEqual([person]);
    expect((await deliveries(s, 'vip')).map((d) => d.person.anonymousId)).toEqual([person]);

    // the person's export lists them
    const exported = await api(s.url, 'GET', `/v1/profiles/${person}/export`);
    expect(exported.text.split('\n').filter((l) => l.includes('"triggered_message"')).length).toBe(2);

    const erased = await api(s.url, 'DELETE', `/v1/profiles/${person}`);
    expect(erased.status).toBe(200);
    expect(await deliveries(s, 'cart')).toEqual([]);
    expect(await deliveries(s, 'vip')).toEqual([]);
    await resources.stop(s);
    expect(await scanRecords(s.dataDir, [person])).toEqual([]);
    expect(hook.received).toEqual([]);
  });

  it('a condition trigger fires when the condition turns true, not on every event, and not for people who matched before it existed', async () => {
    const s = await server();
    const hook = await receiver();
    await offer(s);
    const identify = (anonymousId: string, ltv: number, messageId: string) => track(s.url, '/v1/identify', { anonymousId, messageId, traits: { ltv } });
    await identify('already', 500, 'c-already-0');
    await putTrigger(s, 'ltv', { when: { condition: { path: 'traits.ltv', op: '>=', value: 100 } }, placement: 'cart_reminder', channel: 'email', webhook: { url: hook.url, secret: SECRET } });
    await identify('climber', 50, 'c-climber-1');
    await identify('climber', 150, 'c-climber-2');
    await settled(s, 'ltv', 'c-climber-2', ['delivered']);
    await identify('climber', 200, 'c-climber-3');
    await identify('climber', 10, 'c-climber-4');
    await identify('climber', 300, 'c-climber-5');
    await identify('already', 600, 'c-already-1');
    await settled(s, 'ltv', 'c-climber-5', ['delivered']);
    expect((await deliveries(s, 'ltv')).map((d) => d.anchor.messageId).sort()).toEqual(['c-climber-2', 'c-climber-5']);
    expect(hook.received.map((r) => r.json.person.anonymousId)).toEqual(['climber', 'climber']);
  });
});

describe('triggered messages: late anchors, spent crossings, busy receivers', () => {
  it('a late anchor older than one already taken sends nothing: not after the purchase, not twice', async () => {
    const s = await server();
    const hook = await receiver();
    await offer(s);
    await putTrigger(s, 'cart', abandonedCart(hook.url, { unless: { event: 'Order Completed', withinSeconds: 2 } }));
    const t0 = Date.now();
    const at = (ms: number) => new Date(t0 + ms).toISOString();
    // the newer cart is bought; the older one, sent from an offline queue, arrives afterwards
    expect((await track(s.url, '/v1/track', added('late-1', 'late-1-new', { timestamp: at(0) }))).status).toBe(200);
    expect((await track(s.url, '/v1/track', { anonymousId: 'late-1', messageId: 'late-1-order', event: 'Order Completed', timestamp: at(500) })).status).toBe(200);
    expect((await track(s.url, '/v1/track', added('late-1', 'late-1-old', { timestamp: at(-5000) }))).status).toBe(200);
    // the firings an event makes are durable before its ack: none was made for the old anchor
    expect((await deliveries(s, 'cart')).map((d) => [d.anchor.messageId, d.status, d.reason])).toEqual([['late-1-new', 'cancelled', 'unless']]);

    // the newer cart's reminder went out; an older one arriving after it adds no second reminder
    expect((await track(s.url, '/v1/track', added('late-2', 'late-2-new', { timestamp: at(-1000) }))).status).toBe(200);
    await settled(s, 'cart', 'late-2-new', ['delivered']);
    expect((await track(s.url, '/v1/track', added('late-2', 'late-2-old', { timestamp: at(-600_000) }))).status).toBe(200);
    expect((await deliveries(s, 'cart')).map((d) => d.anchor.messageId).sort()).toEqual(['late-1-new', 'late-2-new']);
    expect(hook.received.map((r) => r.json.person.anonymousId)).toEqual(['late-2']);
  });

  it('a crossing seen on history alone fires at the next live event; one made while paused or opted out is spent', async () => {
    const s = await server();
    const hook = await receiver();
    await offer(s);
    const trigger = { when: { condition: { path: 'traits.ltv', op: '>=', value: 1000 } }, placement: 'cart_reminder', channel: 'email', webhook: { url: hook.url, secret: SECRET } };
    await putTrigger(s, 'ltv', trigger);
    const identify = (anonymousId: string, ltv: number, extra: Record<string, unknown> = {}) =>
      track(s.url, '/v1/identify', { anonymousId, messageId: `${anonymousId}-${ltv}`, traits: { ltv }, ...extra });
    const view = (anonymousId: string, messageId: string) => track(s.url, '/v1/page', { anonymousId, messageId, name: 'Home' });

    // first contact is a backfilled identify, two hours old: too old to send on, not spent either
    expect((await identify('backfill', 1500, { timestamp: new Date(Date.now() - 7_200_000).toISOString() })).status).toBe(200);
    expect(await deliveries(s, 'ltv')).toEqual([]);
    expect((await view('backfill', 'backfill-live')).status).toBe(200);
    expect(await settled(s, 'ltv', 'backfill-live', ['delivered', 'dead', 'cancelled'])).toMatchObject({ status: 'delivered' });

    // crossings while the trigger is paused are spent, as events while paused are
    await identify('paused', 500);
    await putTrigger(s, 'ltv', { ...trigger, status: 'paused' });
    await identify('paused', 1500);
    await putTrigger(s, 'ltv', { ...trigger, status: 'active' });
    expect((await view('paused', 'paused-after')).status).toBe(200);
    // and while the person had opted out
    const consent = (v: boolean) => ({ context: { consent: { categoryPreferences: { Personalization: v } } } });
    await identify('opted', 500);
    await identify('opted', 1500, consent(false));
    await track(s.url, '/v1/track', { anonymousId: 'opted', messageId: 'opted-in', event: 'Consent Updated', ...consent(true) });
    expect((await view('opted', 'opted-after')).status).toBe(200);
    expect((await deliveries(s, 'ltv')).map((d) => d.anchor.messageId)).toEqual(['backfill-live']);
    // a crossing after them fires as usual
    await identify('paused', 100);
    await identify('paused', 2000);
    await identify('opted', 100);
    await identify('opted', 2000);
    for (const m of ['paused-2000', 'opted-2000']) expect(await settled(s, 'ltv', m, ['delivered', 'dead', 'cancelled'])).toMatchObject({ status: 'delivered' });
    expect(hook.received.map((r) => r.json.person.anonymousId).sort()).toEqual(['backfill', 'opted', 'paused']);
  });

  it('`unless` may name the `when` event: the anchor does not cancel itself; a second one replaces it', async () => {
    const s = await server();
    const hook = await receiver();
    await offer(s);
    await putTrigger(s, 'quiet', { when: { event: 'Visited' }, unless: { event: 'Visited', withinSeconds: 1 }, placement: 'cart_reminder', channel: 'email', webhook: { url: hook.url, secret: SECRET } });
    expect((await track(s.url, '/v1/track', { anonymousId: 'once', messageId: 'once-1', event: 'Visited' })).status).toBe(200);
    expect(await settled(s, 'quiet', 'once-1', ['delivered', 'dead', 'cancelled'])).toMatchObject({ status: 'delivered' });
    // a second visit dated inside the first one's window, arriving after the newer: the older is superseded
    const t0 = Date.now();
    await track(s.url, '/v1/track', { anonymousId: 'twice', messageId: 'twice-1', event: 'Visited', timestamp: new Date(t0).toISOString() });
    await track(s.url, '/v1/track', { anonymousId: 'twice', messageId: 'twice-2', event: 'Visited', timestamp: new Date(t0 + 300).toISOString() });
    expect(await settled(s, 'quiet', 'twice-1', ['delivered', 'dead', 'cancelled'])).toMatchObject({ status: 'cancelled' });
    expect(await settled(s, 'quiet', 'twice-2', ['delivered', 'dead', 'cancelled'])).toMatchObject({ status: 'delivered' });
    expect(hook.received.map((r) => r.json.person.anonymousId)).toEqual(['once', 'twice']);
  });

  it('a receiver that never answers holds at most its share of the delivery slots: another trigger\'s message goes out meanwhile', async () => {
    const s = await server();
    const hung = await receiver();
    hung.answer = () => 'hang';
    const healthy = await receiver();
    await offer(s);
    await putTrigger(s, 'stuck', { when: { event: 'Stuck' }, placement: 'cart_reminder', channel: 'email', webhook: { url: hung.url, secret: SECRET } });
    await putTrigger(s, 'fine', { when: { event: 'Fine' }, placement: 'cart_reminder', channel: 'email', webhook: { url: healthy.url, secret: SECRET } });
    const batch = Array.from({ length: 12 }, (_, i) => ({ type: 'track', anonymousId: `stuck-${i}`, messageId: `stuck-${i}`, event: 'Stuck' }));
    expect((await track(s.url, '/v1/batch', { batch })).status).toBe(200);
    await waitFor('the hung receiver to hold its requests', async () => (hung.received.length >= 4 ? true : undefined));
    expect((await track(s.url, '/v1/track', { anonymousId: 'fine-0', messageId: 'fine-0', event: 'Fine' })).status).toBe(200);
    expect(await settled(s, 'fine', 'fine-0', ['delivered', 'dead', 'cancelled'])).toMatchObject({ status: 'delivered' });
    // delivered before any attempt to the hung receiver ran out of time (10 s), with at most 4 of them open
    const stuck = await deliveries(s, 'stuck');
    expect(stuck.every((d) => d.attempts === 0)).toBe(true);
    expect(hung.received).toHaveLength(4);
  });
});

describe('trigger API', () => {
  it('PUT/GET/DELETE: the secret never comes back (a fingerprint does), an update may keep it, and delete removes firings', async () => {
    const s = await server();
    const body = abandonedCart('https://hooks.example.com/kairos', { status: 'paused' });
    const created = await putTrigger(s, 'cart', body);
    expect(created).toMatchObject({ triggerId: 'cart', status: 'paused', delaySeconds: 1, webhook: { url: 'https://hooks.example.com/kairos', maxAttempts: 10, backoffSeconds: 0.01 } });
    expect(created.webhook.secretFingerprint).toMatch(/^sha256:[0-9a-f]{16}$/);
    for (const r of [await api(s.url, 'GET', '/v1/triggers/cart'), await api(s.url, 'GET', '/v1/triggers')]) {
      expect(r.status).toBe(200);
      expect(r.text).not.toContain(SECRET);
    }
    const { secret: _, ...keep } = body.webhook;
    const updated = await putTrigger(s, 'cart', { ...body, status: 'active', webhook: keep });
    expect(updated).toMatchObject({ status: 'active', createdAt: created.createdAt, webhook: { secretFingerprint: created.webhook.secretFingerprint } });
    const rotated = await putTrigger(s, 'cart', { ...body, webhook: { ...keep, secret: 'a-brand-new-secret-value' } });
    expect(rotated.webhook.secretFingerprint).not.toBe(created.webhook.secretFingerprint);
    expect((await api(s.url, 'GET', '/v1/triggers')).json.triggers.map((t: any) => t.triggerId)).toEqual(['cart']);

    expect(await api(s.url, 'DELETE', '/v1/triggers/cart')).toMatchObject({ status: 200, json: { triggerId: 'cart', deleted: true } });
    expect((await api(s.url, 'GET', '/v1/triggers/cart')).status).toBe(404);
    expect((await api(s.url, 'GET', '/v1/triggers/cart/deliveries')).status).toBe(404);
    expect((await api(s.url, 'DELETE', '/v1/triggers/cart')).status).toBe(404);
  });

  it('bad bodies answer 400 KAIROS_ERR_VALIDATION with a pointer to each problem', async () => {
    const s = await server();
    const good = abandonedCart('https://hooks.example.com/k');
    const cases: Array<[string, unknown, string[]]> = [
      ['no when', { ...good, when: undefined }, ['/when']],
      ['both event and condition', { ...good, when: { event: 'A', condition: { path: 'traits.x', op: 'exists' } } }, ['/when']],
      ['neither', { ...good, when: {} }, ['/when']],
      ['a malformed condition', { ...good, when: { condition: { path: 'traits.x', op: 'between', value: 1 } } }, ['/when/condition/op']],
      ['a condition on request context', { ...good, when: { condition: { and: [{ path: 'context.page.path', op: '==', value: '/' }] } } }, ['/when/condition/and/0/path']],
      ['an ftp URL', { ...good, webhook: { ...good.webhook, url: 'ftp://example.com/x' } }, ['/webhook/url']],
      ['a relative URL', { ...good, webhook: { ...good.webhook, url: '/hook' } }, ['/webhook/url']],
      ['credentials in the URL', { ...good, webhook: { ...good.webhook, url: 'https://u:p@example.com/x' } }, ['/webhook/url']],
      ['a short secret', { ...good, webhook: { ...good.webhook, secret: 'short' } }, ['/webhook/secret']],
      ['no secret on create', { ...good, webhook: { url: good.webhook.url } }, ['/webhook/secret']],
      ['a delay shorter than the window', { ...good, delaySeconds: 0, unless: { event: 'Order Completed', withinSeconds: 60 } }, ['/delaySeconds']],
      ['an unknown channel', { ...good, channel: 'fax' }, ['/channel']],
      ['an unknown field', { ...good, colour: 'red' }, ['/colour']],
      ['a zero window', { ...good, unless: { event: 'Order Completed', withinSeconds: 0 } }, ['/unless/withinSeconds']],
      ['too many attempts', { ...good, webhook: { ...good.webhook, maxAttempts: 100 } }, ['/webhook/maxAttempts']],
      ['a bad status', { ...good, status: 'on' }, ['/status']],
    ];
    for (const [what, body, fields] of cases) {
      const r = await api(s.url, 'PUT', '/v1/triggers/t1', JSON.parse(JSON.stringify(body)));
      expect(r.status, what).toBe(400);
      expect(r.json.error.code, what).toBe('KAIROS_ERR_VALIDATION');
      expect(r.json.error.details.map((d: any) => d.field), what).toEqual(expect.arrayContaining(fields));
    }
    const badId = await api(s.url, 'PUT', '/v1/triggers/has%2Fslash', good);
    expect(badId.status).toBe(400);
    expect((await api(s.url, 'GET', '/v1/triggers')).json.triggers).toEqual([]);
    expect((await api(s.url, 'GET', '/v1/triggers/t1/deliveries?limit=0')).status).toBe(400);
  });
});
