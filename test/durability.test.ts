/**
 * Crash safety (CONTRACT §4, §9) through a child process running `kairos serve` as `npm start` does:
 * a 200 means durable, so a SIGKILL loses no acknowledged event and client retries duplicate
 * nothing; SIGTERM lets in-flight requests finish and exits 0.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WRITE_KEY, api, removeDir, startChild, tempDir, type ChildServer } from './helpers/server.ts';
import { messageIdCounts, storedEvents } from './helpers/stored-events.ts';

const AUTH = 'Basic ' + Buffer.from(`${WRITE_KEY}:`).toString('base64');
const BATCHES = 40;
const EVENTS = 50;
/** concurrent clients */
const CLIENTS = 8;
/** the kill comes right after this many acknowledgements */
const KILL_AFTER = 12;

const userOf = (b: number): string => `dur-u${b}`;
const batchBody = (b: number): string =>
  JSON.stringify({
    batch: Array.from({ length: EVENTS }, (_, e) => ({
      type: 'track',
      userId: userOf(b),
      event: e % 10 === 9 ? 'Order Completed' : 'Product Viewed',
      properties: e % 10 === 9 ? { products: [{ product_id: `dur-p${e % 7}`, price: 10 }] } : { product_id: `dur-p${e % 7}` },
      messageId: `dur-${b}-${e}`,
      timestamp: new Date(Date.UTC(2024, 0, 1, 0, e)).toISOString(),
    })),
  });

/** POSTs a batch; resolves with the status, or 'lost' when the connection died first */
async function postBatch(url: string, b: number): Promise<number | 'lost'> {
  try {
    const r = await fetch(`${url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: AUTH }, body: batchBody(b) });
    await r.text().catch(() => undefined);
    return r.status;
  } catch {
    return 'lost';
  }
}

/** true once nothing listens on the server's port any more */
function refusesConnections(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

const children: ChildServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) await c.kill9();
  for (const d of dirs.splice(0)) removeDir(d);
});
async function child(dataDir: string): Promise<ChildServer> {
  const c = await startChild(dataDir);
  children.push(c);
  return c;
}

describe('crash safety', () => {
  it('after a SIGKILL amid concurrent batches every acknowledged event is there, and retries duplicate nothing', async () => {
    const dataDir = tempDir('kairos-crash-');
    dirs.push(dataDir);
    const first = await child(dataDir);

    // 40 batches from concurrent clients, a window of them in flight at any time, so that the kill
    // lands while some are being received or committed and others are not sent yet
    const acknowledged = new Set<number>();
    const inFlightAtKill: number[] = [];
    const inFlight = new Set<number>();
    let killed: Promise<void> | undefined;
    let next = 0;
    const client = async (): Promise<void> => {
      while (next < BATCHES && killed === undefined) {
        const b = next++;
        inFlight.add(b);
        const status = await postBatch(first.url, b);
        inFlight.delete(b);
        if (status !== 200 || killed !== undefined) continue;
        acknowledged.add(b);
        if (acknowledged.size === KILL_AFTER) {
          inFlightAtKill.push(...inFlight);
          killed = first.kill9();
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, client));
    await killed;
    expect(acknowledged.size).toBe(KILL_AFTER);
    expect(inFlightAtKill.length).toBeGreaterThan(0);

    const second = await child(dataDir);
    const counts = await Promise.all(
      Array.from({ length: BATCHES }, async (_, b) => {
        const p = await api(second.url, 'GET', `/v1/profiles/${userOf(b)}`);
        return p.status === 404 ? 0 : p.json.eventCount;
      }),
    );
    for (const b of acknowledged) expect(counts[b], `acknowledged batch ${b}`).toBe(EVENTS);
    // a batch is one commit: whatever was not acknowledged is there entirely or not at all
    for (const [b, n] of counts.entries()) expect([0, EVENTS], `batch ${b}`).toContain(n);

    // clients retry every batch, acknowledged or not
    const retries = await Promise.all(Array.from({ length: BATCHES }, (_, b) => postBatch(second.url, b)));
    expect(retries).toEqual(Array.from({ length: BATCHES }, () => 200));
    for (let b = 0; b < BATCHES; b++) {
      const p = await api(second.url, 'GET', `/v1/profiles/${userOf(b)}`);
      expect(p.json.eventCount, `batch ${b} after retries`).toBe(EVENTS);
      expect(p.json.features.counts.purchase).toBe(EVENTS / 10);
    }

    // the store itself holds each event exactly once
    expect(await second.stop()).toBe(0);
    children.splice(children.indexOf(second), 1);
    const stored = messageIdCounts(await storedEvents(dataDir));
    expect(stored.size).toBe(BATCHES * EVENTS);
    expect([...stored.values()].every((n) => n === 1)).toBe(true);
  });

  it('SIGTERM lets a request in flight finish, refuses new connections, and exits 0', async () => {
    const dataDir = tempDir('kairos-term-');
    dirs.push(dataDir);
    const server = await child(dataDir);
    const { hostname, port } = new URL(server.url);

    // a request whose headers and half of its body are sent: the server is handling it
    const body = Buffer.from(JSON.stringify({ userId: 'term-user', event: 'Product Viewed', properties: { product_id: 'term-p' }, messageId: 'term-1' }));
    const req = request({ host: hostname, port: Number(port), method: 'POST', path: '/v1/track', agent: false, headers: { 'content-type': 'application/json', 'content-length': body.length, authorization: AUTH } });
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      req.once('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.once('error', reject);
    });
    req.write(body.subarray(0, body.length >> 1));
    // a full round trip on another connection: the server has read the first request's headers by now
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

    const exited = server.stop();
    // shutting down: the listening socket closes
    while (!(await refusesConnections(server.url))) await new Promise((r) => setTimeout(r, 20));
    req.end(body.subarray(body.length >> 1));
    const r = await answer;
    expect(r.status, r.text).toBe(200);
    expect(JSON.parse(r.text)).toEqual({ success: true });
    expect(await exited).toBe(0);
    children.splice(children.indexOf(server), 1);

    // and what it acknowledged while stopping is durable
    const again = await child(dataDir);
    expect((await api(again.url, 'GET', '/v1/profiles/term-user')).json.eventCount).toBe(1);
  });
});
