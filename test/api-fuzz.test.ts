/**
 * Fuzzing the JSON API (not ingestion, which has its own table and fuzz): arbitrary JSON, and
 * near-valid bodies with one field replaced by arbitrary JSON, on every write route of actions,
 * decisions, rewards, experiments, triggers, recommendations, aggregates and the catalog. Every answer is a coded
 * 4xx or a success, never a 5xx, and the server keeps answering.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, removeDir, startServer, type TestServer } from './helpers/server.ts';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
  await api(s.url, 'PUT', '/v1/actions/a1', { placements: ['home'], channel: 'web', content: { t: 1 } });
});
afterAll(async () => {
  await s.close();
  removeDir(s.dataDir);
});

const VALID: Array<[method: string, path: string, body: Record<string, unknown>]> = [
  ['PUT', '/v1/actions/fz', { placements: ['home'], channel: 'web', content: {}, eligibility: { path: 'traits.plan', op: '==', value: 'pro' }, frequencyCaps: [{ count: 1, periodSeconds: 60, scope: 'action' }], value: 1 }],
  ['POST', '/v1/decide', { userId: 'fz', placement: 'home', context: { page: 'x' }, count: 2 }],
  ['PUT', '/v1/experiments/fz', { placement: 'fz', variants: [{ id: 'a', weight: 1, config: {} }], holdoutPercent: 5, metrics: ['Order Completed'], status: 'draft' }],
  ['PUT', '/v1/triggers/fz', { when: { event: 'Product Added' }, unless: { event: 'Order Completed', withinSeconds: 60 }, placement: 'home', channel: 'email', webhook: { url: 'https://hooks.example.com/kairos', secret: 'a-secret-of-16-chars' }, status: 'paused' }],
  ['POST', '/v1/recommendations', { userId: 'fz', context: { placement: 'home', itemId: 'x' }, count: 3, filter: { category: 'A', price: { min: 1 } } }],
  ['POST', '/v1/items', { items: [{ itemId: 'fz', properties: { name: 'Fz' } }] }],
  ['POST', '/v1/aggregates', { metric: 'interactions', kind: 'view', groupBy: 'day', from: '2026-01-01T00:00:00Z', to: '2026-01-05T00:00:00Z', epsilon: 0.0001, maxPartitionsPerPerson: 2, maxPerPartition: 2 }],
];

const json = fc.jsonValue({ maxDepth: 4 });

describe('JSON API fuzz', () => {
  it('arbitrary bodies, and valid bodies with one field made arbitrary, never get a 5xx', async () => {
    const decision = (await api(s.url, 'POST', '/v1/decide', { userId: 'fz', placement: 'home' })).json.decisionId as string;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: VALID.length }), fc.boolean(), json, fc.nat(), async (which, whole, junk, pick) => {
        const [method, path, valid] = which < VALID.length ? VALID[which]! : ['POST', `/v1/decisions/${decision}/reward`, { value: 1 }];
        let body: unknown = junk;
        if (!whole) {
          const keys = Object.keys(valid);
          body = { ...valid, [keys[pick % keys.length]!]: junk };
        }
        const r = await api(s.url, method, path, body);
        expect(r.status, `${method} ${path} ${JSON.stringify(body).slice(0, 300)} → ${r.text.slice(0, 200)}`).toBeLessThan(500);
        if (r.status >= 400) expect(r.json?.error?.code).toMatch(/^KAIROS_ERR_/);
      }),
      { numRuns: 400 },
    );
    expect((await api(s.url, 'GET', '/healthz')).status).toBe(200);
  });
});
