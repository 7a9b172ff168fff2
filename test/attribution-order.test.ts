/**
 * Attribution does not depend on arrival order (real server). A click carrying `recommendation_id`
 * (blend learning) or `decision_id` (bandit rewards) counts when its sender is the person it answers,
 * by the identity links held, and it was not sent while they had opted out. An identify or a
 * preference arriving after the click it concerns must give what the same events in time order give;
 * the store keeps every candidate outcome, so a restart judges the same way, and erasing a sender
 * takes their outcomes out of other people's records too.
 */
import { describe, expect, it } from 'vitest';
import { api, testResources, type TestServer } from './helpers/server.ts';
import { FEEDBACK_PLACEMENT, learnedBlend, seedFeedbackShop } from './helpers/feedback.ts';
import { ingest, kairosCli, ndjson, recordsOf, scanRecords, token } from './helpers/privacy.ts';

const resources = testResources();

const iso = (t: number): string => new Date(t).toISOString();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const consent = (personalization: boolean) => ({ consent: { categoryPreferences: { Personalization: personalization } } });

/** a recommendation for a logged-in person, and the first item on it */
async function recommendFor(s: TestServer, userId: string): Promise<{ recommendationId: string; itemId: string; at: number }> {
  await ingest(s.url, '/v1/track', { userId, event: 'Product Viewed', properties: { product_id: 'a' } });
  const r = await api(s.url, 'POST', '/v1/recommendations', { userId, context: { placement: FEEDBACK_PLACEMENT }, count: 4 });
  expect(r.status).toBe(200);
  const at = Date.now();
  // every event below is dated after the recommendation, and none may be dated after its receipt
  await sleep(60);
  return { recommendationId: r.json.recommendationId, itemId: r.json.items[0].itemId, at };
}

const click = (s: TestServer, who: Record<string, string>, item: { recommendationId: string; itemId: string }, t: number) =>
  ingest(s.url, '/v1/track', { ...who, event: 'Product Clicked', properties: { product_id: item.itemId, recommendation_id: item.recommendationId }, timestamp: iso(t) });

describe('blend feedback is judged on the events held, not on when they arrived', () => {
  it('a click from a device linked only by a later-arriving identify counts; one sent while opted out never does, whatever order the preferences arrive in', async () => {
    let s = await resources.server(resources.dataDir());
    await seedFeedbackShop(s);
    const run = token();

    // three people click from a device the identity graph does not know yet; the identify that
    // links it (dated before the click) arrives after the click
    for (let k = 0; k < 3; k++) {
      const user = `late-${run}-${k}`;
      const rec = await recommendFor(s, user);
      expect((await click(s, { anonymousId: `device-${run}-${k}` }, rec, rec.at + 40)).status).toBe(200);
      expect((await learnedBlend(s))?.examples ?? 0, 'not linked yet: not credited').toBe(k);
      expect((await ingest(s.url, '/v1/identify', { userId: user, anonymousId: `device-${run}-${k}`, timestamp: iso(rec.at + 20) })).status).toBe(200);
      expect((await learnedBlend(s))!.examples, 'linked: credited').toBe(k + 1);
    }
    // a device nobody links never counts
    const stranger = await recommendFor(s, `owner-${run}`);
    await click(s, { anonymousId: `stranger-${run}` }, stranger, stranger.at + 40);
    expect((await learnedBlend(s))!.examples).toBe(3);

    // opted out at +10, clicked at +30, opted in at +50: the opt-in and the click arrive before the
    // opt-out. In time order the click is refused (sent while opted out), so it must not count here
    const sandwich = `sandwich-${run}`;
    const rec = await recommendFor(s, sandwich);
    await click(s, { userId: sandwich }, rec, rec.at + 30);
    await ingest(s.url, '/v1/identify', { userId: sandwich, context: consent(true), timestamp: iso(rec.at + 50) });
    expect((await learnedBlend(s))!.examples, 'before the opt-out arrives the click counts').toBe(4);
    await ingest(s.url, '/v1/identify', { userId: sandwich, context: consent(false), timestamp: iso(rec.at + 10) });
    const settled = (await learnedBlend(s))!;
    expect(settled.examples, 'the click was sent while opted out').toBe(3);

    // a restart rebuilds the weights from the stored candidates against the same events
    s = await resources.restart(s);
    expect(await learnedBlend(s)).toEqual(settled);
  });

  it('the same clicks, identifies and preferences credit the same clicks in time order and in reverse', async () => {
    const runs = [];
    for (const reversed of [false, true]) {
      const s = await resources.server(resources.dataDir());
      await seedFeedbackShop(s);
      const events: Array<() => Promise<unknown>> = [];
      for (let k = 0; k < 6; k++) {
        const user = `u-${k}`;
        const rec = await recommendFor(s, user);
        const device = { anonymousId: `d-${k}` };
        // in time order: identify (+10), an opt-out for odd people (+20), the click (+30), an opt-in (+40)
        events.push(() => ingest(s.url, '/v1/identify', { userId: user, ...device, timestamp: iso(rec.at + 10) }));
        if (k % 2) events.push(() => ingest(s.url, '/v1/identify', { userId: user, context: consent(false), timestamp: iso(rec.at + 20) }));
        events.push(() => click(s, device, rec, rec.at + 30));
        if (k % 2) events.push(() => ingest(s.url, '/v1/identify', { userId: user, context: consent(true), timestamp: iso(rec.at + 40) }));
      }
      for (const send of reversed ? events.reverse() : events) expect(await send()).toMatchObject({ status: 200 });
      runs.push(await learnedBlend(s));
    }
    expect(runs[0]!.examples, 'only the people who never opted out are credited').toBe(3);
    expect(runs[1]).toEqual(runs[0]);
  });
});

describe('bandit rewards are judged on the events held, not on when they arrived', () => {
  const put = (s: TestServer, id: string) => api(s.url, 'PUT', `/v1/actions/${id}`, { placements: ['home'], channel: 'web', content: { title: id } });
  const decide = async (s: TestServer, userId: string) => {
    const d = await api(s.url, 'POST', '/v1/decide', { placement: 'home', userId });
    expect(d.status).toBe(200);
    const at = Date.now();
    await sleep(60);
    return { decisionId: d.json.decisionId as string, at };
  };
  const reward = (s: TestServer, who: Record<string, string>, d: { decisionId: string }, t: number) =>
    ingest(s.url, '/v1/track', { ...who, event: 'Promotion Clicked', properties: { decision_id: d.decisionId }, timestamp: iso(t) });
  const rewardsOf = async (s: TestServer, userId: string, decisionId: string) =>
    ndjson((await api(s.url, 'GET', `/v1/profiles/${userId}/export`)).text).find((r) => r.type === 'decision' && r.decisionId === decisionId)?.rewards ?? {};

  it('a reward from a device linked by a later identify counts, one sent while opted out does not, a restart agrees, and erasing the sender takes their event off the decision', async () => {
    let s = await resources.server(resources.dataDir({ decide: { consistencySeconds: 0 } }));
    expect((await put(s, 'only')).status).toBe(200);
    const run = token();

    const owner = `owner-${run}`;
    const d = await decide(s, owner);
    await reward(s, { anonymousId: `phone-${run}` }, d, d.at + 40);
    expect(await rewardsOf(s, owner, d.decisionId), 'not linked yet').toEqual({});
    await ingest(s.url, '/v1/identify', { userId: owner, anonymousId: `phone-${run}`, timestamp: iso(d.at + 20) });
    expect(await rewardsOf(s, owner, d.decisionId), 'linked by an identify dated before the click').toEqual({ only: 1 });

    const sandwich = `sandwich-${run}`;
    const d2 = await decide(s, sandwich);
    await reward(s, { userId: sandwich }, d2, d2.at + 30);
    await ingest(s.url, '/v1/identify', { userId: sandwich, context: consent(true), timestamp: iso(d2.at + 50) });
    expect(await rewardsOf(s, sandwich, d2.decisionId)).toEqual({ only: 1 });
    await ingest(s.url, '/v1/identify', { userId: sandwich, context: consent(false), timestamp: iso(d2.at + 10) });
    expect(await rewardsOf(s, sandwich, d2.decisionId), 'sent while opted out').toEqual({});

    // someone else quoting the owner's decision: kept on it, never credited, never exported to the owner
    const intruder = `intruder-${run}`;
    await reward(s, { userId: intruder }, d, d.at + 45);
    const exported = ndjson((await api(s.url, 'GET', `/v1/profiles/${owner}/export`)).text).find((r) => r.type === 'decision' && r.decisionId === d.decisionId);
    expect(exported.rewards).toEqual({ only: 1 });
    expect(JSON.stringify(exported)).not.toContain(intruder);

    s = await resources.restart(s);
    expect(await rewardsOf(s, owner, d.decisionId)).toEqual({ only: 1 });
    expect(await rewardsOf(s, sandwich, d2.decisionId)).toEqual({});

    expect((await api(s.url, 'DELETE', `/v1/profiles/${intruder}`)).status).toBe(200);
    expect(await rewardsOf(s, owner, d.decisionId)).toEqual({ only: 1 });
    await resources.stop(s);
    // the stored records (what `kairos ope` reads) hold the rewards as judged last
    const stored = new Map(await recordsOf<{ rewards?: Record<string, number> }>(s.dataDir, 'default', 'decisions'));
    expect(stored.get(d.decisionId)?.rewards).toEqual({ only: 1 });
    expect(stored.get(d2.decisionId)?.rewards ?? {}).toEqual({});
    await kairosCli(['compact'], s.dataDir);
    expect(await scanRecords(s.dataDir, [intruder])).toEqual([]);
  });
});

describe('what reviews of the candidate outcomes found', () => {
  const put = (s: TestServer, id: string) => api(s.url, 'PUT', `/v1/actions/${id}`, { placements: ['home'], channel: 'web', content: { title: id } });
  const decide = async (s: TestServer, who: Record<string, string>) => {
    const d = await api(s.url, 'POST', '/v1/decide', { placement: 'home', ...who });
    expect(d.status).toBe(200);
    return { decisionId: d.json.decisionId as string, at: Date.now() };
  };
  const rewardsOf = async (s: TestServer, userId: string, decisionId: string) =>
    ndjson((await api(s.url, 'GET', `/v1/profiles/${userId}/export`)).text).find((r) => r.type === 'decision' && r.decisionId === decisionId)?.rewards ?? {};

  it('a click dated within the clock tolerance before the decision still counts for a person who stated a preference', async () => {
    const s = await resources.server(resources.dataDir({ decide: { consistencySeconds: 0 } }));
    await put(s, 'only');
    await ingest(s.url, '/v1/identify', { userId: 'early', context: consent(true), timestamp: iso(Date.now() - 600_000) });
    const d = await decide(s, { userId: 'early' });
    await ingest(s.url, '/v1/track', { userId: 'early', event: 'Promotion Clicked', properties: { decision_id: d.decisionId }, timestamp: iso(d.at - 60_000) });
    expect(await rewardsOf(s, 'early', d.decisionId)).toEqual({ only: 1 });
    await ingest(s.url, '/v1/identify', { userId: 'early', context: consent(true) });
    expect(await rewardsOf(s, 'early', d.decisionId)).toEqual({ only: 1 });
  });

  it('an API reward given while an opt-out (arriving later) was in force never counts; nor is a decision made then learned from', async () => {
    let s = await resources.server(resources.dataDir({ decide: { consistencySeconds: 0 } }));
    await put(s, 'only');
    const d = await decide(s, { userId: 'late-opt-out' });
    await sleep(40);
    const given = Date.now();
    expect((await api(s.url, 'POST', `/v1/decisions/${d.decisionId}/reward`, { value: 2 })).json).toMatchObject({ applied: true });
    expect(await rewardsOf(s, 'late-opt-out', d.decisionId)).toEqual({ only: 2 });
    // the opt-out happened between the decision and the reward, and reaches the server after both
    await ingest(s.url, '/v1/identify', { userId: 'late-opt-out', context: consent(false), timestamp: iso(given - 20) });
    await ingest(s.url, '/v1/identify', { userId: 'late-opt-out', context: consent(true) });
    // in time order the reward was refused (opted_out): it must not count after the opt-in either
    expect(await rewardsOf(s, 'late-opt-out', d.decisionId)).toEqual({});

    // a decision made while an opt-out (arriving later) was in force is withheld from learning for good
    const d2 = await decide(s, { userId: 'late-opt-out-2' });
    await ingest(s.url, '/v1/identify', { userId: 'late-opt-out-2', context: consent(false), timestamp: iso(d2.at - 1000) });
    await ingest(s.url, '/v1/identify', { userId: 'late-opt-out-2', context: consent(true) });
    s = await resources.restart(s);
    await resources.stop(s);
    const stored = new Map(await recordsOf<{ withheld?: boolean }>(s.dataDir, 'default', 'decisions'));
    expect(stored.get(d2.decisionId)?.withheld).toBe(true);
    expect(stored.get(d.decisionId)?.withheld).toBeUndefined();
  });

  it('a sender\'s export shows the reward events they sent for someone else\'s decision, and nothing else of it', async () => {
    const s = await resources.server(resources.dataDir({ decide: { consistencySeconds: 0 } }));
    await put(s, 'only');
    const d = await decide(s, { userId: 'owner-x' });
    await ingest(s.url, '/v1/track', { userId: 'sender-x', messageId: 'msg-sender-x', event: 'Promotion Clicked', properties: { decision_id: d.decisionId } });
    const exported = ndjson((await api(s.url, 'GET', '/v1/profiles/sender-x/export')).text).filter((r) => r.type === 'decision');
    expect(exported).toEqual([{ type: 'decision', decisionId: d.decisionId, placement: 'home', ids: [], at: expect.any(Number), forAnotherPerson: true, outcomes: [expect.objectContaining({ messageId: 'msg-sender-x', userId: 'sender-x', actionId: 'only' })] }]);
  });

  it('an action named like an Object.prototype member is rewarded like any other', async () => {
    const s = await resources.server(resources.dataDir({ decide: { consistencySeconds: 0 } }));
    await put(s, 'constructor');
    const d = await decide(s, { userId: 'proto' });
    expect((await api(s.url, 'POST', `/v1/decisions/${d.decisionId}/reward`, { value: 1 })).json).toMatchObject({ applied: true, reward: 1 });
    const d2 = await decide(s, { userId: 'proto' });
    await ingest(s.url, '/v1/track', { userId: 'proto', event: 'Promotion Clicked', properties: { decision_id: d2.decisionId } });
    expect(await rewardsOf(s, 'proto', d2.decisionId)).toEqual({ constructor: 1 });
  });

  it('strangers quoting a decision or recommendation id cannot crowd out the person\'s own click', async () => {
    const s = await resources.server(resources.dataDir({ decide: { consistencySeconds: 0 } }));
    await seedFeedbackShop(s);
    await put(s, 'only');
    const d = await decide(s, { userId: 'crowded' });
    const rec = await recommendFor(s, 'crowded');
    const batch: unknown[] = [];
    for (let k = 0; k < 60; k++) {
      batch.push({ type: 'track', anonymousId: `stranger-${k}`, event: 'Promotion Clicked', properties: { decision_id: d.decisionId } });
      batch.push({ type: 'track', anonymousId: `stranger-${k}`, event: 'Product Clicked', properties: { product_id: rec.itemId, recommendation_id: rec.recommendationId } });
    }
    expect((await ingest(s.url, '/v1/batch', { batch })).status).toBe(200);
    expect(await rewardsOf(s, 'crowded', d.decisionId)).toEqual({});
    const before = (await learnedBlend(s))?.examples ?? 0;
    await ingest(s.url, '/v1/track', { userId: 'crowded', event: 'Promotion Clicked', properties: { decision_id: d.decisionId } });
    await click(s, { userId: 'crowded' }, rec, Date.now());
    expect(await rewardsOf(s, 'crowded', d.decisionId)).toEqual({ only: 1 });
    expect((await learnedBlend(s))!.examples).toBe(before + 1);
  });

  it('erasing a person whose click passed a reward on to an earlier draw leaves none of their ids and none of its reward', async () => {
    const s = await resources.server(resources.dataDir({ decide: { consistencySeconds: 300 } }));
    await put(s, 'offer');
    const run = token();
    const [anon, user] = [`anon-${run}`, `user-${run}`];
    const d1 = await decide(s, { anonymousId: anon });
    // the same person, now with a userId the graph does not know yet: the slot repeats d1's draw
    const d2 = await decide(s, { userId: user, anonymousId: anon });
    await ingest(s.url, '/v1/track', { userId: user, event: 'Promotion Clicked', properties: { decision_id: d2.decisionId } });
    expect((await api(s.url, 'DELETE', `/v1/profiles/${user}`)).status).toBe(200);
    await resources.stop(s);
    const stored = new Map(await recordsOf<{ rewards?: Record<string, number>; outcomes?: unknown[] }>(s.dataDir, 'default', 'decisions'));
    // d2 named the erased userId: gone; d1 named only the anonymousId: kept, without the click it was passed
    expect(stored.has(d2.decisionId)).toBe(false);
    expect(stored.get(d1.decisionId)).toMatchObject({ outcomes: [] });
    expect(stored.get(d1.decisionId)?.rewards ?? {}).toEqual({});
    await kairosCli(['compact'], s.dataDir);
    expect(await scanRecords(s.dataDir, [user])).toEqual([]);
  });
});
