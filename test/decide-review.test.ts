/**
 * Fixes from adversarial review of decisions and blend feedback, through real servers: caps and the
 * consistency window count every id a request names; opting out withdraws a person from the bandit
 * and from blend learning (and opting back in returns what was learnable), identically after a
 * kill -9 restart; an export holds only the exported person's data when a request named two people;
 * strict validity dates; honest reasons for a uniform experiment variant.
 */
import { describe, expect, it } from 'vitest';
import { api, testResources, type ChildServer } from './helpers/server.ts';
import { ingest, ndjson } from './helpers/privacy.ts';
import { clickPopular, learnedBlend, seedFeedbackShop } from './helpers/feedback.ts';

const resources = testResources();

type Server = { url: string };
const put = (s: Server, id: string, body: unknown) => api(s.url, 'PUT', `/v1/actions/${id}`, body);
const decide = (s: Server, body: Record<string, unknown>) => api(s.url, 'POST', '/v1/decide', body);
const consent = (s: Server, who: Record<string, string>, personalization: boolean) =>
  ingest(s.url, '/v1/track', { ...who, event: 'Consent Updated', context: { consent: { categoryPreferences: { Personalization: personalization } } } });
const exportOf = async (s: Server, id: string) => ndjson((await api(s.url, 'GET', `/v1/profiles/${id}/export`)).text);

/** kills the child with SIGKILL and starts another over its data dir */
async function killAndRestart(c: ChildServer): Promise<ChildServer> {
  await c.kill9();
  return resources.child(c.dataDir);
}

describe('caps and the consistency window span the ids a request names', () => {
  it('a cap of 2 holds when the anonymousId used before comes with a userId the graph already knows', async () => {
    const s = await resources.server(resources.dataDir({ decide: { consistencySeconds: 0 } }));
    await put(s, 'capped', { placements: ['slot'], channel: 'web', content: {}, frequencyCaps: [{ count: 2, periodSeconds: 3600, scope: 'action' }] });
    expect((await ingest(s.url, '/v1/track', { userId: 'known-user', event: 'Signed Up' })).status).toBe(200);
    const served: number[] = [];
    for (let i = 0; i < 2; i++) served.push((await decide(s, { anonymousId: 'device-1', placement: 'slot', context: { i } })).json.actions.length);
    for (let j = 0; j < 3; j++) served.push((await decide(s, { userId: 'known-user', anonymousId: 'device-1', placement: 'slot', context: { j } })).json.actions.length);
    expect(served).toEqual([1, 1, 0, 0, 0]);
  });

  it('the consistency window repeats what the anonymousId was shown when a known userId comes along', async () => {
    const s = await resources.server();
    await put(s, 'only', { placements: ['slot'], channel: 'web', content: {} });
    await ingest(s.url, '/v1/track', { userId: 'known-user', event: 'Signed Up' });
    const first = (await decide(s, { anonymousId: 'device-1', placement: 'slot', context: { page: 'home' } })).json;
    const again = (await decide(s, { userId: 'known-user', anonymousId: 'device-1', placement: 'slot', context: { page: 'home' } })).json;
    expect(again.actions[0].actionId).toBe(first.actions[0].actionId);
    expect(again.actions[0].reasons.map((r: { type: string }) => r.type)).toEqual(['consistent']);
    expect(again.actions[0].propensity).toBe(1);
  });
});

describe('opting out withdraws a person from the bandit', () => {
  it('an opt-out unlearns their decisions and rewards, a later API reward is refused, an opt-in brings back what was learnable, and kill -9 restarts change nothing', async () => {
    let c = await resources.child();
    await put(c, 'only', { placements: ['slot'], channel: 'web', content: {} });
    // a probe repeats its first draw within the consistency window: its score is the bandit's
    // current estimate for its context, and probing teaches nothing
    const probe = async (): Promise<number> => {
      const d = (await decide(c, { anonymousId: 'probe', placement: 'slot', context: { probe: 1 } })).json;
      return d.actions[0].score as number;
    };
    await probe();
    const before = await probe();

    await ingest(c.url, '/v1/track', { userId: 'leaver', event: 'Product Viewed', properties: { product_id: 'i1' } });
    const decisions: string[] = [];
    for (let i = 0; i < 5; i++) decisions.push((await decide(c, { userId: 'leaver', placement: 'slot', context: { i } })).json.decisionId);
    for (const id of decisions.slice(0, 4)) expect((await api(c.url, 'POST', `/v1/decisions/${id}/reward`, { value: 1 })).json.applied).toBe(true);
    const learned = await probe();
    expect(learned).toBeGreaterThan(before + 0.01);

    expect((await consent(c, { userId: 'leaver' }, false)).status).toBe(200);
    expect(await probe()).toBeCloseTo(before, 9);
    const refused = await api(c.url, 'POST', `/v1/decisions/${decisions[4]}/reward`, { value: 1 });
    expect(refused.status).toBe(200);
    expect(refused.json).toMatchObject({ decisionId: decisions[4], applied: false, reason: 'opted_out', reward: 0 });
    expect(await probe()).toBeCloseTo(before, 9);
    // decided for while opted out: never learnable, not even after opting back in
    const whileOut = (await decide(c, { userId: 'leaver', placement: 'slot', context: { out: 1 } })).json;
    expect(whileOut.actions).toHaveLength(1);

    c = await killAndRestart(c);
    expect(await probe()).toBeCloseTo(before, 9);

    expect((await consent(c, { userId: 'leaver' }, true)).status).toBe(200);
    expect(await probe()).toBeCloseTo(learned, 9);
    c = await killAndRestart(c);
    expect(await probe()).toBeCloseTo(learned, 9);
  });
});

describe('opting out withdraws a person from blend learning', () => {
  const learned = learnedBlend;
  const seed = seedFeedbackShop;

  it('an opt-out replays the weights without the person, an opt-in with them again, and kill -9 restarts give the same weights', async () => {
    let c = await resources.child();
    await seed(c);
    const clickers: string[] = [];
    for (let i = 0; i < 70; i++) if (await clickPopular(c, `clicker-${i}`)) clickers.push(`clicker-${i}`);
    expect(clickers.length).toBeGreaterThanOrEqual(55);
    const all = (await learned(c))!;
    expect(all.examples).toBe(clickers.length);

    const leavers = clickers.slice(0, 5);
    for (const who of leavers) expect((await consent(c, { anonymousId: who }, false)).status).toBe(200);
    const without = (await learned(c))!;
    expect(without.examples).toBe(clickers.length - leavers.length);
    expect(without.learning).toBe(true);
    expect(without.weights).not.toEqual(all.weights);
    c = await killAndRestart(c);
    expect(await learned(c)).toEqual(without);

    for (const who of leavers) await consent(c, { anonymousId: who }, true);
    expect(await learned(c)).toEqual(all);
    c = await killAndRestart(c);
    expect(await learned(c)).toEqual(all);
  });
});

describe('an export holds only the exported person\'s data', () => {
  it('a recommendation and a decision whose request named two unlinked people show the other person only that they happened', async () => {
    const s = await resources.server();
    await ingest(s.url, '/v1/track', { userId: 'alice', event: 'Product Viewed', properties: { product_id: 'item-one', name: 'Item One' } });
    await ingest(s.url, '/v1/track', { anonymousId: 'bob-device', event: 'Product Viewed', properties: { product_id: 'item-two' } });
    const rec = await api(s.url, 'POST', '/v1/recommendations', { userId: 'alice', anonymousId: 'bob-device', context: { placement: 'home' }, count: 3 });
    expect(rec.status).toBe(200);
    await put(s, 'banner-1', { placements: ['banner'], channel: 'web', content: { title: 't' } });
    const d = (await decide(s, { userId: 'alice', anonymousId: 'bob-device', placement: 'banner' })).json;
    // bob clicks what was recommended to alice on his device
    const shown = rec.json.items.map((i: { itemId: string }) => i.itemId);
    expect(shown.length).toBeGreaterThan(0);
    await ingest(s.url, '/v1/track', { anonymousId: 'bob-device', event: 'Product Clicked', properties: { product_id: shown[0], recommendation_id: rec.json.recommendationId } });

    const bob = await exportOf(s, 'bob-device');
    expect(JSON.stringify(bob)).not.toContain('alice');
    expect(bob.find((r) => r.type === 'impression')).toEqual({ type: 'impression', recommendationId: rec.json.recommendationId, placement: 'home', ids: ['bob-device'], at: expect.any(Number), forAnotherPerson: true });
    expect(bob.find((r) => r.type === 'decision')).toEqual({ type: 'decision', decisionId: d.decisionId, placement: 'banner', ids: ['bob-device'], at: expect.any(Number), forAnotherPerson: true });
    const bobFeedback = bob.find((r) => r.type === 'recommendation_feedback');
    expect(bobFeedback).toMatchObject({ ids: ['bob-device'], itemId: shown[0], forAnotherPerson: true });
    expect(bobFeedback.example).toBeUndefined();

    const alice = await exportOf(s, 'alice');
    expect(JSON.stringify(alice)).not.toContain('bob-device');
    expect(alice.find((r) => r.type === 'impression')).toMatchObject({ ids: ['alice'], servedFor: 'alice', items: shown });
    const aliceDecision = alice.find((r) => r.type === 'decision');
    expect(aliceDecision).toMatchObject({ decisionId: d.decisionId, ids: ['alice'], servedFor: 'alice', actions: [{ actionId: 'banner-1' }] });
    expect(aliceDecision.x).toHaveLength(64);
    // the outcome is bob's: alice sees that her recommendation taught something, not what he did
    const aliceFeedback = alice.find((r) => r.type === 'recommendation_feedback');
    expect(aliceFeedback).toEqual({ type: 'recommendation_feedback', recommendationId: rec.json.recommendationId, placement: 'home', ids: ['alice'], forAnotherPerson: true });
  });
});

describe('smaller fixes', () => {
  it('validity dates that name a day or hour that does not exist are refused with a detail', async () => {
    const s = await resources.server();
    const base = { placements: ['slot'], channel: 'web', content: {} };
    const feb30 = await put(s, 'feb30', { ...base, validFrom: '2026-02-30' });
    expect(feb30.status).toBe(400);
    expect(feb30.json.error.details).toEqual([expect.objectContaining({ field: '/validFrom' })]);
    const hour24 = await put(s, 'hour24', { ...base, validUntil: '2026-03-01T24:00:00Z' });
    expect(hour24.status).toBe(400);
    expect(hour24.json.error.details).toEqual([expect.objectContaining({ field: '/validUntil' })]);
    expect((await put(s, 'fine', { ...base, validFrom: '2026-02-28', validUntil: '2099-03-01T23:59:59+02:00' })).status).toBe(200);
  });

  it('a uniform experiment variant says its pick was drawn uniformly, not that it had the highest value', async () => {
    const s = await resources.server(resources.dataDir({ decide: { consistencySeconds: 0 } }));
    for (const a of ['A', 'B']) await put(s, a, { placements: ['slot'], channel: 'web', content: {} });
    for (let i = 0; i < 40; i++) {
      const d = (await decide(s, { anonymousId: `train-${i}`, placement: 'slot' })).json;
      if (d.actions[0].actionId === 'A') await api(s.url, 'POST', `/v1/decisions/${d.decisionId}/reward`, { value: 1 });
    }
    const exp = await api(s.url, 'PUT', '/v1/experiments/uni', { placement: 'slot', variants: [{ id: 'u', weight: 1, config: { policy: 'uniform' } }], holdoutPercent: 0, metrics: ['x'], status: 'running' });
    expect(exp.status).toBe(200);
    for (let i = 0; i < 6; i++) {
      const d = (await decide(s, { anonymousId: `q-${i}`, placement: 'slot' })).json;
      expect(d.experiment).toEqual({ id: 'uni', variant: 'u' });
      const [a] = d.actions;
      expect(a.reasons.map((r: { type: string }) => r.type)).toEqual(['uniform']);
      expect(a.reasons[0].text).not.toMatch(/highest/i);
      expect(a.explored).toBe(true);
      expect(a.propensity).toBeCloseTo(0.5, 12);
      // the score is the placement's estimate, not the empty uniform policy's prior
      if (a.actionId === 'A') expect(a.score).toBeGreaterThan(0.1);
    }
  });
});
