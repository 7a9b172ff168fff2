/**
 * Next-best-action through the real server: actions, caps and exclusive groups under concurrency and
 * across identity merges, consistency, eligibility, rewards (events and API, delayed and duplicated),
 * learning that survives a restart, and erasure of decisions.
 */
import { describe, expect, it } from 'vitest';
import { api, testResources, type TestServer } from './helpers/server.ts';
import { ingest, kairosCli, ndjson, recordsOf, scanRecords, token } from './helpers/privacy.ts';

const resources = testResources();
const boot = (config?: unknown): Promise<TestServer> => resources.server(resources.dataDir(config));

const action = (over: Record<string, unknown> = {}) => ({ placements: ['home'], channel: 'web', content: { title: 'x' }, ...over });
const put = (s: TestServer, id: string, body: unknown) => api(s.url, 'PUT', `/v1/actions/${id}`, body);
const decide = (s: TestServer, body: Record<string, unknown>) => api(s.url, 'POST', '/v1/decide', { placement: 'home', ...body });

describe('actions', () => {
  it('are validated on write with a code and a pointer per problem, read back, listed and deleted', async () => {
    const s = await boot();
    const bad = await put(s, 'bad', { placements: 'home', channel: 'pigeon', content: {}, eligibility: { path: 'nope.x', op: '==', value: 1 } });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('KAIROS_ERR_VALIDATION');
    expect(bad.json.error.details.map((d: { field: string }) => d.field)).toEqual(expect.arrayContaining(['/placements', '/channel']));
    const badCondition = await put(s, 'bad2', action({ eligibility: { path: 'nope.x', op: '==', value: 1 }, validFrom: '2030-01-01', validUntil: '2029-01-01' }));
    expect(badCondition.status).toBe(400);
    expect(badCondition.json.error.details.map((d: { field: string }) => d.field)).toEqual(expect.arrayContaining(['/validUntil', expect.stringMatching(/^\/eligibility/)]));
    expect((await put(s, 'bad id!', action())).status).toBe(400);

    const ok = await put(s, 'spring-sale', action({ frequencyCaps: [{ count: 2, periodSeconds: 60, scope: 'action' }], value: 3 }));
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ actionId: 'spring-sale', value: 3, channel: 'web' });
    expect((await api(s.url, 'GET', '/v1/actions/spring-sale')).json).toMatchObject({ actionId: 'spring-sale', frequencyCaps: [{ count: 2 }] });
    expect((await api(s.url, 'GET', '/v1/actions')).json.actions.map((a: { actionId: string }) => a.actionId)).toEqual(['spring-sale']);
    expect((await api(s.url, 'DELETE', '/v1/actions/spring-sale')).status).toBe(200);
    expect((await api(s.url, 'GET', '/v1/actions/spring-sale')).status).toBe(404);
    expect((await api(s.url, 'DELETE', '/v1/actions/spring-sale')).status).toBe(404);
    // no action, no answer: an empty list, not an error
    expect((await decide(s, { userId: 'u' })).json).toMatchObject({ actions: [], holdout: false });
    expect((await decide(s, { placement: 'home' })).status).toBe(400);
  });

  it('bodies nested thousands of levels deep get a coded 400, never a 5xx (decide, actions, experiments)', async () => {
    const s = await boot();
    let deep: unknown = 1;
    for (let i = 0; i < 3000; i++) deep = { a: deep };
    const answers = [
      await decide(s, { userId: 'u', context: deep }),
      await put(s, 'deep', action({ content: deep })),
      await api(s.url, 'PUT', '/v1/experiments/deep', { placement: 'x', variants: [{ id: 'a', weight: 1, config: deep }], metrics: ['m'], status: 'draft' }),
    ];
    for (const r of answers) {
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe('KAIROS_ERR_VALIDATION');
    }
    expect((await api(s.url, 'GET', '/healthz')).status).toBe(200);
  });
});

describe('decisions', () => {
  it('50 concurrent calls for one person: caps hold, an exclusive group is never split, every answer is logged with its propensity', async () => {
    const s = await boot({ decide: { consistencySeconds: 0 } });
    await put(s, 'a1', action({ frequencyCaps: [{ count: 2, periodSeconds: 3600, scope: 'action' }] }));
    await put(s, 'a2', action({ exclusiveGroup: 'discount', frequencyCaps: [{ count: 100, periodSeconds: 3600, scope: 'action' }] }));
    await put(s, 'a3', action({ exclusiveGroup: 'discount', frequencyCaps: [{ count: 100, periodSeconds: 3600, scope: 'action' }] }));
    await put(s, 'email', action({ channel: 'email', frequencyCaps: [{ count: 5, periodSeconds: 3600, scope: 'all' }] }));
    const answers = await Promise.all(Array.from({ length: 50 }, () => decide(s, { userId: 'cap', count: 2, channel: 'web' })));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const served = answers.flatMap((a) => a.json.actions.map((x: { actionId: string }) => x.actionId));
    expect(served.filter((x) => x === 'a1').length).toBe(2);
    expect(served.includes('a2') && served.includes('a3')).toBe(false);
    expect(served).not.toContain('email'); // channel filter
    for (const a of answers) {
      expect(new Set(a.json.actions.map((x: { actionId: string }) => x.actionId)).size).toBe(a.json.actions.length);
      for (const x of a.json.actions) {
        expect(x.propensity).toBeGreaterThan(0);
        expect(x.propensity).toBeLessThanOrEqual(1);
        expect(x.reasons.length).toBeGreaterThan(0);
      }
    }
    // the "all" cap counts every channel: 50 web answers already used it up for the e-mail action
    expect((await decide(s, { userId: 'cap', channel: 'email' })).json.actions).toEqual([]);
    // decision ids are unique and logged durably
    const ids = answers.map((a) => a.json.decisionId);
    expect(new Set(ids).size).toBe(50);
    await resources.stop(s);
    const records = await recordsOf<{ decisionId: string; actions: unknown[] }>(s.dataDir, 'default', 'decisions');
    expect(records.filter(([, r]) => r.actions.length > 0).map(([k]) => k).sort()).toEqual(ids.filter((_, i) => answers[i]!.json.actions.length > 0).sort());
  });

  it('50 concurrent calls with the consistency window on: one fresh draw, then the same action until its cap forces one more', async () => {
    const s = await boot();
    await put(s, 'a1', action({ frequencyCaps: [{ count: 2, periodSeconds: 3600, scope: 'action' }] }));
    await put(s, 'a2', action({ exclusiveGroup: 'discount', frequencyCaps: [{ count: 100, periodSeconds: 3600, scope: 'action' }] }));
    await put(s, 'a3', action({ exclusiveGroup: 'discount', frequencyCaps: [{ count: 100, periodSeconds: 3600, scope: 'action' }] }));
    const answers = await Promise.all(Array.from({ length: 50 }, () => decide(s, { userId: 'steady-crowd', context: { page: 'home' } })));
    const served = answers.map((a) => a.json.actions[0]);
    expect(served.every((x) => x !== undefined)).toBe(true);
    expect(served.filter((x) => x.actionId === 'a1').length).toBeLessThanOrEqual(2);
    expect(new Set(served.map((x) => x.actionId)).size).toBeLessThanOrEqual(2);
    const fresh = served.filter((x) => x.reasons[0].type !== 'consistent');
    expect(fresh.length).toBeGreaterThanOrEqual(1);
    expect(fresh.length).toBeLessThanOrEqual(2);
  });

  it('caps hold across identity merges and restarts; expired and ineligible actions are never served', async () => {
    const dir = resources.dataDir({ decide: { consistencySeconds: 0 } });
    let s = await resources.server(dir);
    await put(s, 'once', action({ frequencyCaps: [{ count: 1, periodSeconds: 3600, scope: 'action' }] }));
    await put(s, 'old', action({ validUntil: '2020-01-01' }));
    await put(s, 'pro-only', action({ eligibility: { path: 'traits.plan', op: '==', value: 'pro' } }));
    await put(s, 'filler', action());
    const first = await decide(s, { anonymousId: 'anon-m', count: 4 });
    expect(first.json.actions.map((a: { actionId: string }) => a.actionId).sort()).toEqual(['filler', 'once']);
    // the anonymous visitor logs in: the cap follows them
    expect((await ingest(s.url, '/v1/identify', { anonymousId: 'anon-m', userId: 'user-m', traits: { plan: 'pro' } })).status).toBe(200);
    const second = await decide(s, { userId: 'user-m', count: 4 });
    expect(second.json.actions.map((a: { actionId: string }) => a.actionId).sort()).toEqual(['filler', 'pro-only']);
    s = await resources.restart(s);
    const third = await decide(s, { userId: 'user-m', count: 4 });
    expect(third.json.actions.map((a: { actionId: string }) => a.actionId).sort()).toEqual(['filler', 'pro-only']);
  });

  it('the same person, placement and context get the same action within the consistency window, caps allowing', async () => {
    const s = await boot();
    for (const id of ['b1', 'b2', 'b3', 'b4']) await put(s, id, action({ frequencyCaps: [{ count: 3, periodSeconds: 3600, scope: 'action' }] }));
    const first = await decide(s, { userId: 'steady', context: { page: 'home' } });
    const shown = first.json.actions[0].actionId;
    const again = await decide(s, { userId: 'steady', context: { page: 'home' } });
    expect(again.json.actions[0]).toMatchObject({ actionId: shown, propensity: 1, explored: false });
    expect(again.json.actions[0].reasons[0].type).toBe('consistent');
    expect(again.json.decisionId).not.toBe(first.json.decisionId);
    // the third serving is the cap's last; the fourth must move on
    expect((await decide(s, { userId: 'steady', context: { page: 'home' } })).json.actions[0].actionId).toBe(shown);
    expect((await decide(s, { userId: 'steady', context: { page: 'home' } })).json.actions[0].actionId).not.toBe(shown);
    // a changed context is a fresh draw of the policy
    const other = await decide(s, { userId: 'steady', context: { page: 'cart' } });
    expect(other.json.actions[0].reasons[0].type).not.toBe('consistent');
  });
});

describe('rewards', () => {
  it('events with properties.decision_id teach the policy within the request cycle; duplicates change nothing; learning survives a restart', async () => {
    const dir = resources.dataDir({ decide: { consistencySeconds: 0 } });
    let s = await resources.server(dir);
    await put(s, 'good', action());
    await put(s, 'bad', action());
    let n = 0;
    const round = async (k: number) => {
      const shown: string[] = [];
      for (let i = 0; i < k; i++) {
        const d = (await decide(s, { anonymousId: `p${n++}` })).json;
        const a = d.actions[0].actionId;
        shown.push(a);
        if (a === 'good') {
          const r = await ingest(s.url, '/v1/track', { anonymousId: `p${n - 1}`, event: 'Promotion Clicked', properties: { decision_id: d.decisionId }, messageId: `click-${d.decisionId}` });
          expect(r.status).toBe(200);
        }
      }
      return shown;
    };
    await round(60);
    const later = await round(100);
    // ε = 5% over two actions: the bad one keeps 2.5% of the traffic
    expect(later.filter((a) => a === 'good').length).toBeGreaterThanOrEqual(85);
    const best = (await decide(s, { anonymousId: 'fresh-1' })).json.actions[0];
    if (best.actionId === 'good') expect(best.reasons.map((r: { type: string }) => r.type)).toContain('best_value');

    // the API path: a second, smaller reward for the same decision is a duplicate signal
    const d = (await decide(s, { anonymousId: 'api-1' })).json;
    const r1 = await api(s.url, 'POST', `/v1/decisions/${d.decisionId}/reward`, { value: 1 }, undefined);
    expect(r1.status).toBe(200);
    expect(r1.json).toMatchObject({ decisionId: d.decisionId, actionId: d.actions[0].actionId, reward: 1, applied: true });
    expect((await api(s.url, 'POST', `/v1/decisions/${d.decisionId}/reward`, { value: 1 })).json.applied).toBe(false);
    expect((await api(s.url, 'POST', `/v1/decisions/${d.decisionId}/reward`, { value: 0.5 })).json).toMatchObject({ applied: false, reward: 1 });
    expect((await api(s.url, 'POST', `/v1/decisions/${d.decisionId}/reward`, { value: 1, actionId: 'nope' })).status).toBe(400);
    expect((await api(s.url, 'POST', '/v1/decisions/dec_000000000nope/reward', { value: 1 })).status).toBe(404);
    expect((await api(s.url, 'POST', `/v1/decisions/${d.decisionId}/reward`, { value: -1 })).status).toBe(400);

    s = await resources.restart(s);
    const afterRestart = await round(40);
    expect(afterRestart.filter((a) => a === 'good').length).toBeGreaterThanOrEqual(33);
  });

  it('a reward from someone else, or outside the attribution window, is not credited', async () => {
    const WINDOW_SECONDS = 2;
    const s = await boot({ decide: { consistencySeconds: 0, attributionWindowSeconds: WINDOW_SECONDS } });
    await put(s, 'only', action());
    const d = (await decide(s, { userId: 'owner' })).json;
    // another person quoting the decision id, and a view (worth 0 by default) are not credited
    expect((await ingest(s.url, '/v1/track', { userId: 'intruder', event: 'Promotion Clicked', properties: { decision_id: d.decisionId } })).status).toBe(200);
    expect((await ingest(s.url, '/v1/track', { userId: 'owner', event: 'Promotion Viewed', properties: { decision_id: d.decisionId } })).status).toBe(200);
    // so the shop's own report is still the first reward
    expect((await api(s.url, 'POST', `/v1/decisions/${d.decisionId}/reward`, { value: 1 })).json.applied).toBe(true);
    // an action later than the window after the decision (late delivery is fine, late action is not);
    // no event is dated after its receipt, so lateness takes waiting
    const d2 = (await decide(s, { userId: 'owner' })).json;
    await new Promise((r) => setTimeout(r, WINDOW_SECONDS * 1000 + 200));
    expect((await ingest(s.url, '/v1/track', { userId: 'owner', event: 'Promotion Clicked', properties: { decision_id: d2.decisionId } })).status).toBe(200);
    const exported = ndjson((await api(s.url, 'GET', '/v1/profiles/owner/export')).text);
    const late = exported.find((r: { type: string; decisionId?: string }) => r.type === 'decision' && r.decisionId === d2.decisionId);
    expect(late, 'the decision is exported').toBeDefined();
    expect(late.rewards ?? {}).toEqual({});
    // (a credited reward shows there: the first decision's, reported through the API)
    expect(exported.find((r: { type: string; decisionId?: string }) => r.type === 'decision' && r.decisionId === d.decisionId)?.rewards).toEqual({ only: 1 });
    expect((await api(s.url, 'POST', `/v1/decisions/${d2.decisionId}/reward`, { value: 1 })).status).toBe(409);
    // the person it was for, after opting out of personalization: their click shapes nothing
    const d3 = (await decide(s, { userId: 'owner' })).json;
    await ingest(s.url, '/v1/identify', { userId: 'owner', context: { consent: { categoryPreferences: { Personalization: false } } } });
    await ingest(s.url, '/v1/track', { userId: 'owner', event: 'Promotion Clicked', properties: { decision_id: d3.decisionId } });
    // nor does a reward the shop reports for them through the API
    expect((await api(s.url, 'POST', `/v1/decisions/${d3.decisionId}/reward`, { value: 1 })).json).toMatchObject({ applied: false, reason: 'opted_out' });
  });
});

describe('erasure and consent', () => {
  it('erasing a person removes their decisions from the store, the export and the caps', async () => {
    const s = await boot({ decide: { consistencySeconds: 0 } });
    await put(s, 'capped', action({ frequencyCaps: [{ count: 1, periodSeconds: 3600, scope: 'action' }] }));
    const who = `erase-${token()}`;
    const d = (await decide(s, { userId: who })).json;
    expect(d.actions[0].actionId).toBe('capped');
    await api(s.url, 'POST', `/v1/decisions/${d.decisionId}/reward`, { value: 1 });
    const exported = ndjson((await api(s.url, 'GET', `/v1/profiles/${who}/export`)).text);
    expect(exported.find((r) => r.type === 'decision')).toMatchObject({ decisionId: d.decisionId, ids: [who] });
    expect((await api(s.url, 'DELETE', `/v1/profiles/${who}`)).status).toBe(200);
    expect((await api(s.url, 'GET', `/v1/profiles/${who}/export`)).status).toBe(404);
    // a new person under the same id starts with no exposures
    expect((await decide(s, { userId: who })).json.actions.map((a: { actionId: string }) => a.actionId)).toEqual(['capped']);
    await api(s.url, 'DELETE', `/v1/profiles/${who}`);
    await resources.stop(s);
    await kairosCli(['compact'], s.dataDir);
    expect(await scanRecords(s.dataDir, [who])).toEqual([]);
  });

  it('a person who opted out of personalization is served without being learned from', async () => {
    const s = await boot({ decide: { consistencySeconds: 0 } });
    await put(s, 'a', action({ eligibility: { path: 'traits.plan', op: 'exists' } }));
    await put(s, 'b', action());
    await ingest(s.url, '/v1/identify', { userId: 'private', traits: { plan: 'pro' }, context: { consent: { categoryPreferences: { Personalization: false } } } });
    const d = (await decide(s, { userId: 'private', count: 2 })).json;
    // traits are personal data: the audience rule cannot see them
    expect(d.actions.map((x: { actionId: string }) => x.actionId)).toEqual(['b']);
    await resources.stop(s);
    const records = (await recordsOf<{ decisionId: string; x?: number[] }>(s.dataDir, 'default', 'decisions')).filter(([k]) => k === d.decisionId);
    expect(records).toHaveLength(1);
    expect(records[0]![1].x).toBeUndefined();
  });
});
