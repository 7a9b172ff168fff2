/**
 * Fixes from adversarial review of decisions and blend feedback, through real servers: caps and the
 * consistency window count every id a request names; opting out withdraws a person from the bandit
 * and from blend learning (and opting back in returns what was learnable), identically after a
 * kill -9 restart; an export holds only the exported person's data when a request named two people;
 * strict validity dates; honest reasons for a uniform experiment variant. A second review: no model
 * kept for a placement no action lists, a changed `dims` does not stop a start, a purchase after 32
 * clicks still raises the reward, an action deleted and created again learns afresh before and after
 * a restart alike, and `__proto__` is no action id.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_TUNING } from '../src/config.ts';
import type { ActionRecord } from '../src/decide/action.ts';
import { DEFAULT_DECIDE_SETTINGS, DecisionState } from '../src/decide/serving/extension.ts';
import { Workspace } from '../src/engine/workspace.ts';
import { api, testResources, writeConfig, type ChildServer } from './helpers/server.ts';
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

describe('second review', () => {
  it('a placement no action lists gets an empty answer and keeps no model', () => {
    const state = new DecisionState(new Workspace('w', DEFAULT_TUNING), DEFAULT_DECIDE_SETTINGS, 'seed');
    state.setAction({ actionId: 'a', placements: ['home'], channel: 'web', content: {}, updatedAt: new Date().toISOString() } as ActionRecord & { updatedAt: string });
    for (let i = 0; i < 500; i++) expect(state.decide({ placement: `made-up-${i}`, anonymousId: 'x' }, undefined, undefined, { now: Date.now() }).response.actions).toEqual([]);
    expect(state.decide({ placement: 'home', anonymousId: 'x' }, undefined, undefined, { now: Date.now() }).response.actions).toHaveLength(1);
    expect((state as unknown as { bandits: Map<string, unknown> }).bandits.size).toBe(1);
  });

  it('a start with another `decide.bandit.dims` than the logged decisions\' serves and learns anew', async () => {
    const dataDir = resources.dataDir();
    let c = await resources.child(dataDir);
    await put(c, 'only', { placements: ['slot'], channel: 'web', content: {} });
    for (let i = 0; i < 5; i++) expect((await decide(c, { anonymousId: `d${i}`, placement: 'slot', context: { i } })).json.actions).toHaveLength(1);
    expect(await c.stop()).toBe(0);
    writeConfig(dataDir, { decide: { bandit: { dims: 32 } } });
    c = await resources.child(dataDir);
    const after = (await decide(c, { anonymousId: 'after', placement: 'slot' })).json;
    expect(after.actions.map((a: { actionId: string }) => a.actionId)).toEqual(['only']);
    expect((await api(c.url, 'POST', `/v1/decisions/${after.decisionId}/reward`, { value: 1 })).json).toMatchObject({ applied: true });
  });

  it('a purchase after 32 tagged clicks raises the reward; an API reward answers the reward that counts', async () => {
    const s = await resources.server(resources.dataDir({ decide: { rewardEvents: { 'Order Completed': 10 } } }));
    await put(s, 'offer', { placements: ['slot'], channel: 'web', content: {} });
    const d = (await decide(s, { userId: 'shopper', placement: 'slot' })).json;
    const tagged = (event: string, i: number) => ({ type: 'track', userId: 'shopper', event, messageId: `${event}-${i}`, properties: { decision_id: d.decisionId } });
    await ingest(s.url, '/v1/batch', { batch: Array.from({ length: 32 }, (_, i) => tagged('Product Viewed', i)) });
    await ingest(s.url, '/v1/track', tagged('Order Completed', 0));
    const record = (await exportOf(s, 'shopper')).find((r) => r.type === 'decision' && r.decisionId === d.decisionId);
    expect(record.rewards).toEqual({ offer: 10 });

    const e = (await decide(s, { userId: 'api-rewards', placement: 'slot' })).json;
    for (let i = 1; i <= 32; i++) await api(s.url, 'POST', `/v1/decisions/${e.decisionId}/reward`, { value: i / 100 });
    expect((await api(s.url, 'POST', `/v1/decisions/${e.decisionId}/reward`, { value: 5 })).json).toMatchObject({ reward: 5, applied: true });
    expect((await api(s.url, 'POST', `/v1/decisions/${e.decisionId}/reward`, { value: 0.5 })).json).toMatchObject({ reward: 5, applied: false });
  });

  it('an action deleted and created again starts afresh, and a restart agrees', async () => {
    let c = await resources.child(resources.dataDir({ decide: { seed: 'recreate' } }));
    for (const id of ['a', 'b']) await put(c, id, { placements: ['recr'], channel: 'web', content: {} });
    for (let i = 0; i < 60; i++) {
      const d = (await decide(c, { anonymousId: `p${i}`, placement: 'recr', context: { i } })).json;
      if (d.actions[0].actionId === 'a') await api(c.url, 'POST', `/v1/decisions/${d.decisionId}/reward`, { value: 1 });
    }
    const scoreOfA = async (probe: string): Promise<number> =>
      (await decide(c, { anonymousId: probe, placement: 'recr', count: 2, context: { probe } })).json.actions.find((x: { actionId: string }) => x.actionId === 'a').score;
    expect(await scoreOfA('before')).toBeGreaterThan(0.5);
    expect((await api(c.url, 'DELETE', '/v1/actions/a')).status).toBe(200);
    await put(c, 'a', { placements: ['recr'], channel: 'web', content: {} });
    const fresh = await scoreOfA('fresh');
    expect(fresh).toBe(0);
    c = await killAndRestart(c);
    expect(await scoreOfA('restarted')).toBe(fresh);
  });

  it('`__proto__` is no action id', async () => {
    const s = await resources.server();
    const r = await put(s, '__proto__', { placements: ['slot'], channel: 'web', content: {} });
    expect(r.status).toBe(400);
    expect(r.json.error.details[0].field).toBe('/actionId');
  });
});

