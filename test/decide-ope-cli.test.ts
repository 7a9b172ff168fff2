/**
 * `kairos ope` end to end: decisions and rewards made through a real server, the server closed, then
 * the command run as its own process on the data dir.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { api, runKairos, type CliRun, startServer, testResources, writeConfig } from './helpers/server.ts';
import { ingest, waitFor } from './helpers/privacy.ts';


function kairos(args: string[]): Promise<CliRun> {
  return runKairos(args);
}

const resources = testResources({ prefix: 'kairos-ope-' });
const workDir = (): string => resources.dataDir();

const inside = (ci: [number, number], v: number): boolean => ci[0] <= v && v <= ci[1];

/** Deterministic outcomes: offer "a" is always clicked, "b" every other time it is shown, "c" never. */
async function logDecisions(dataDir: string, decisions: number): Promise<{ rewards: number; served: Record<string, number> }> {
  // ε = 1: the logging policy is uniform, so propensities are exactly 1/3
  writeConfig(dataDir, { decide: { consistencySeconds: 0, bandit: { epsilon: 1 } } });
  const s = await startServer({ dataDir });
  const served: Record<string, number> = { a: 0, b: 0, c: 0 };
  let rewards = 0;
  try {
    for (const id of ['a', 'b', 'c']) {
      expect((await api(s.url, 'PUT', `/v1/actions/${id}`, { placements: ['home'], channel: 'web', content: { title: id } })).status).toBe(200);
    }
    for (let i = 0; i < decisions; i++) {
      // every fifth decision asks for two slots: only its first slot is a draw to evaluate
      const answer = await api(s.url, 'POST', '/v1/decide', { userId: `u${i % 40}`, placement: 'home', ...(i % 5 === 4 ? { count: 2 } : {}) });
      expect(answer.status).toBe(200);
      const first = answer.json.actions[0];
      expect(first.propensity).toBeCloseTo(1 / 3, 12);
      const clicked = first.actionId === 'a' || (first.actionId === 'b' && served.b! % 2 === 0);
      served[first.actionId]!++;
      if (clicked) {
        rewards++;
        expect((await api(s.url, 'POST', `/v1/decisions/${answer.json.decisionId}/reward`, { value: 1 })).status).toBe(200);
      }
    }
  } finally {
    await s.close();
  }
  return { rewards, served };
}

describe('kairos ope', () => {
  it('estimates target policies from a real server’s decision log', async () => {
    const dataDir = workDir();
    const n = 240;
    const { rewards, served } = await logDecisions(dataDir, n);
    expect(Math.min(...Object.values(served))).toBeGreaterThan(30);

    const run = await kairos(['ope', '--data-dir', dataDir, '--json', '--epsilon', '0.1']);
    expect(run.code, run.stderr).toBe(0);
    const r = JSON.parse(run.stdout);
    expect(r.decisions).toBe(n);
    expect(r.skipped).toEqual({ outsideFilter: 0, optedOut: 0, repeated: 0, otherDims: 0 });
    expect(r.placements).toEqual(['home']);
    expect(r.logged.meanReward).toBeCloseTo(rewards / n, 12);
    expect(Object.keys(r.policies).sort()).toEqual(['bandit', 'fixed:a', 'fixed:b', 'fixed:c', 'greedy', 'uniform']);

    // a uniform target on a uniform log: every weight is 1, so IPS and SNIPS are the logged mean
    expect(r.policies.uniform.ips.estimate).toBeCloseTo(r.logged.meanReward, 12);
    expect(r.policies.uniform.snips.estimate).toBeCloseTo(r.logged.meanReward, 12);
    expect(r.policies.uniform.effectiveSampleSize).toBeCloseTo(n, 6);
    // fixed policies: "c" never earns, "a" always does; IPS of "a" is 3 × its share of draws
    expect(r.policies['fixed:c'].ips.estimate).toBe(0);
    expect(r.policies['fixed:a'].ips.estimate).toBeCloseTo((3 * served.a!) / n, 12);
    expect(r.policies['fixed:a'].snips.estimate).toBeCloseTo(1, 12);
    expect(r.policies['fixed:b'].snips.estimate).toBeCloseTo(Math.ceil(served.b! / 2) / served.b!, 12);
    // they bracket uniform, and uniform is their average
    for (const e of ['ips', 'snips', 'dr'] as const) {
      expect(r.policies['fixed:c'][e].estimate).toBeLessThan(r.policies.uniform[e].estimate);
      expect(r.policies.uniform[e].estimate).toBeLessThan(r.policies['fixed:a'][e].estimate);
    }
    const fixedMean = (r.policies['fixed:a'].ips.estimate + r.policies['fixed:b'].ips.estimate + r.policies['fixed:c'].ips.estimate) / 3;
    expect(fixedMean).toBeCloseTo(r.policies.uniform.ips.estimate, 12);
    // the learned policies find "a"; the bandit explores 10% (--epsilon), so it earns a little less
    expect(r.policies.greedy.dr.estimate).toBeGreaterThan(0.9);
    expect(r.policies.bandit.dr.estimate).toBeLessThan(r.policies.greedy.dr.estimate);
    expect(r.policies.bandit.dr.estimate).toBeGreaterThan(0.8);
    // every interval contains its estimate, and the true values of the fixed policies (1, 0.5, 0)
    for (const p of Object.values(r.policies) as any[]) {
      for (const e of [p.ips, p.snips, p.dr]) {
        expect(e.ci95[0]).toBeLessThanOrEqual(e.estimate);
        expect(e.estimate).toBeLessThanOrEqual(e.ci95[1]);
      }
    }
    // (the draws are random, so only the self-normalised estimates are certain to cover the truth here:
    // "a" earned on every draw, "b" on every other one)
    expect(r.policies['fixed:a'].snips.ci95).toEqual([1, 1]);
    expect(inside(r.policies['fixed:b'].snips.ci95, 0.5)).toBe(true);

    // the table, filters, and a placement nobody decided for
    const table = await kairos(['ope', '--data-dir', dataDir, '--policy', 'uniform,fixed:a', '--since', '2000-01-01T00:00:00Z']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/240 decisions evaluated of 240 logged/);
    expect(table.stdout).toMatch(/doubly robust/);
    expect(table.stdout).toMatch(/^fixed:a +\d\.\d{4} \[[^\]]+\] +1\.0000 \[1\.0000, 1\.0000\]/m);
    const future = await kairos(['ope', '--data-dir', dataDir, '--since', '2999-01-01', '--json']);
    expect(future.code).toBe(2);
    expect(future.stderr).toMatch(/none of the 240 logged decisions can be evaluated.*240 outside the filter/);
    const unknown = await kairos(['ope', '--data-dir', dataDir, '--policy', 'fixed:zzz']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/action "zzz" is not a candidate/);
  });

  it('runs beside a server that holds the data dir, and agrees with a run after the server stopped', async () => {
    const dataDir = workDir();
    writeConfig(dataDir, { decide: { consistencySeconds: 0, bandit: { epsilon: 1 } } });
    const s = await startServer({ dataDir });
    let closed = false;
    try {
      for (const id of ['a', 'b']) expect((await api(s.url, 'PUT', `/v1/actions/${id}`, { placements: ['home'], channel: 'web', content: { title: id } })).status).toBe(200);
      for (let i = 0; i < 60; i++) {
        const answer = await api(s.url, 'POST', '/v1/decide', { userId: `u${i}`, placement: 'home' });
        expect(answer.status).toBe(200);
        if (answer.json.actions[0].actionId === 'a') expect((await api(s.url, 'POST', `/v1/decisions/${answer.json.decisionId}/reward`, { value: 1 })).status).toBe(200);
      }
      // the decision log is written in batches: wait until a reader sees all of it
      let beside: CliRun | undefined;
      await waitFor('the whole decision log to be readable beside the server', async () => {
        beside = await kairos(['ope', '--data-dir', dataDir, '--json', '--policy', 'uniform,fixed:a']);
        return beside.code === 0 && JSON.parse(beside.stdout).decisions === 60;
      });
      // the server keeps serving and writing while and after a reader had the store open
      const cut = Date.now();
      await new Promise((r) => setTimeout(r, 5));
      expect((await api(s.url, 'POST', '/v1/decide', { userId: 'u-after', placement: 'home' })).status).toBe(200);
      await s.close();
      closed = true;
      const all = await kairos(['ope', '--data-dir', dataDir, '--json', '--policy', 'uniform,fixed:a']);
      expect(all.code, all.stderr).toBe(0);
      expect(JSON.parse(all.stdout).records).toBe(61);
      // the same 60 decisions read with the server stopped give the same estimates
      const same = await kairos(['ope', '--data-dir', dataDir, '--json', '--policy', 'uniform,fixed:a', '--until', String(cut)]);
      expect(same.code, same.stderr).toBe(0);
      const r = JSON.parse(same.stdout);
      expect(r.decisions).toBe(60);
      expect(r.policies).toEqual(JSON.parse(beside!.stdout).policies);
      expect(r.logged).toEqual(JSON.parse(beside!.stdout).logged);
    } finally {
      if (!closed) await s.close();
    }
  });

  it('skips the decisions of people who opted out after them, and counts them again once they opt back in', async () => {
    const dataDir = workDir();
    writeConfig(dataDir, { decide: { consistencySeconds: 0, bandit: { epsilon: 1 } } });
    const s = await startServer({ dataDir });
    const optOut = (userId: string, personalization: boolean) => ingest(s.url, '/v1/identify', { userId, context: { consent: { categoryPreferences: { Personalization: personalization } } } });
    try {
      expect((await api(s.url, 'PUT', '/v1/actions/a', { placements: ['home'], channel: 'web', content: { title: 'a' } })).status).toBe(200);
      for (const userId of ['stays', 'leaves', 'returns']) {
        for (let i = 0; i < 3; i++) expect((await api(s.url, 'POST', '/v1/decide', { userId, placement: 'home' })).status).toBe(200);
      }
      expect((await optOut('leaves', false)).status).toBe(200);
      expect((await optOut('returns', false)).status).toBe(200);
      expect((await optOut('returns', true)).status).toBe(200);
    } finally {
      await s.close();
    }
    const run = await kairos(['ope', '--data-dir', dataDir, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const r = JSON.parse(run.stdout);
    expect(r.records).toBe(9);
    expect(r.skipped.optedOut).toBe(3);
    expect(r.decisions).toBe(6);
  });

  it('says so when the data dir holds no decisions, or is not a data dir', async () => {
    const dataDir = workDir();
    const s = await startServer({ dataDir });
    await s.close();
    const empty = await kairos(['ope', '--data-dir', dataDir]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/no logged decisions in .* serve some with POST \/v1\/decide first/);
    const none = await kairos(['ope', '--data-dir', join(dataDir, 'nowhere')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no data dir at/);
    const bad = await kairos(['ope', '--data-dir', dataDir, '--policy', 'thompson']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown policy "thompson"/);
  });
});
