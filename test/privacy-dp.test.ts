/**
 * The differential privacy primitives (src/privacy/dp.ts) and the sensitivity of aggregate counts
 * (src/privacy/aggregates.ts): the noise has the discrete Laplace distribution the guarantee assumes,
 * the 95% interval is the one reported, the budget window spends and frees as documented, and adding
 * one person (however active) moves the bounded counts by at most the sensitivity the noise is
 * scaled to.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TUNING } from '../src/config.ts';
import { Workspace } from '../src/engine/workspace.ts';
import { boundedCounts, publicPartitions, release, type AggregateQuery } from '../src/privacy/aggregates.ts';
import { BUDGET_WINDOW_MS, PrivacyBudget, SecureUniform, discreteLaplace, logRatio, noiseInterval95, noiseStdDev } from '../src/privacy/dp.ts';

describe('discrete Laplace noise', () => {
  const N = 200_000;
  const logP = logRatio(0.5, 1);
  const p = Math.exp(logP);
  const random = new SecureUniform();
  const draws = Array.from({ length: N }, () => discreteLaplace(logP, random));
  const share = (select: (x: number) => boolean): number => draws.filter(select).length / N;
  // six standard errors of a share near q
  const tolerance = (q: number): number => 6 * Math.sqrt((q * (1 - q)) / N);

  it('has P(X = k) = (1 − p)/(1 + p) · p^|k|, integer values, symmetric around 0', () => {
    expect(draws.every(Number.isInteger)).toBe(true);
    for (const k of [0, 1, -1, 3, -3, 6]) {
      const want = ((1 - p) / (1 + p)) * p ** Math.abs(k);
      expect(Math.abs(share((x) => x === k) - want), `P(X = ${k})`).toBeLessThan(tolerance(want));
    }
    const variance = (2 * p) / (1 - p) ** 2;
    expect(noiseStdDev(logP)).toBeCloseTo(Math.sqrt(variance), 12);
    const mean = draws.reduce((a, b) => a + b, 0) / N;
    expect(Math.abs(mean)).toBeLessThan(6 * Math.sqrt(variance / N));
  });

  it('the reported 95% interval is the smallest k with P(|X| > k) ≤ 0.05, and the draws agree', () => {
    const k = noiseInterval95(logP);
    const tail = (j: number): number => (2 * p ** (j + 1)) / (1 + p);
    expect(tail(k)).toBeLessThanOrEqual(0.05);
    expect(tail(k - 1)).toBeGreaterThan(0.05);
    expect(Math.abs(share((x) => Math.abs(x) > k) - tail(k))).toBeLessThan(tolerance(tail(k)));
    // no noise at all when p is 0 (no partition, no sensitivity): exactly 0, not −0
    expect(noiseInterval95(logRatio(1, 0))).toBe(0);
    expect(Object.is(discreteLaplace(logRatio(1, 0), random), 0)).toBe(true);
  });

  it('stays finite and well defined when ε/Δ is tiny (even where p rounds to 1 as a double)', () => {
    // the smallest the API allows is ε 1e-6 over Δ 1,000 · 1,000; below it p = e^(−ε/Δ) is 1
    expect(Math.exp(logRatio(1e-6, 1_000_000))).toBeLessThan(1);
    const tiny = -1e-17;
    expect(Math.exp(tiny)).toBe(1);
    const xs = Array.from({ length: 1000 }, () => discreteLaplace(tiny, random));
    expect(xs.every((x) => Number.isFinite(x) && Number.isInteger(x))).toBe(true);
    expect(Number.isFinite(noiseStdDev(tiny))).toBe(true);
    expect(noiseInterval95(tiny)).toBeGreaterThan(1e12);
  });

  it('uniforms are strictly inside (0, 1) and fill it evenly', () => {
    const u = new SecureUniform();
    const xs = Array.from({ length: 100_000 }, () => u.next());
    expect(xs.every((x) => x > 0 && x < 1)).toBe(true);
    for (let d = 0; d < 10; d++) expect(Math.abs(xs.filter((x) => x >= d / 10 && x < (d + 1) / 10).length / xs.length - 0.1)).toBeLessThan(tolerance(0.1) * Math.sqrt(N / xs.length));
  });
});

describe('the privacy budget', () => {
  it('spends within 24 hours, refuses what does not fit and says when enough frees up, and forgets spends past the window', () => {
    const MINUTE = 60_000;
    const t0 = 1_700_000_000_000 - (1_700_000_000_000 % MINUTE) + 1000;
    const b = new PrivacyBudget(1);
    // spends are kept per minute, dated at the minute's end: t0's minute ends at t0 + 59 s
    for (let i = 0; i < 10; i++) expect(b.take(0.1, t0 + i * MINUTE)).toEqual({ ok: true });
    const now = t0 + 10 * MINUTE;
    expect(b.spent(now)).toBeCloseTo(1, 9);
    // the first spend leaves the window 24 h after its minute ends
    expect(b.take(0.1, now)).toEqual({ ok: false, retryAfterSeconds: BUDGET_WINDOW_MS / 1000 - 10 * 60 + 59 });
    // 0.25 needs three spends gone: the third was made in the minute ending at t0 + 2 min 59 s
    expect(b.take(0.25, now)).toEqual({ ok: false, retryAfterSeconds: BUDGET_WINDOW_MS / 1000 - 8 * 60 + 59 });
    expect(b.take(0.1, t0 + 59_000 + BUDGET_WINDOW_MS)).toEqual({ ok: true });
    const stored = b.record(t0 + 59_000 + BUDGET_WINDOW_MS);
    expect(stored.spends).toHaveLength(10);
    expect(new PrivacyBudget(1, stored.spends).spent(t0 + 59_000 + BUDGET_WINDOW_MS)).toBeCloseTo(1, 9);
    // thousands of releases in one minute are one entry
    const busy = new PrivacyBudget(1);
    for (let i = 0; i < 5000; i++) busy.take(0.0001, t0 + i);
    expect(busy.record(t0 + 5000).spends).toEqual([{ at: t0 + 59_000, epsilon: expect.closeTo(0.5, 9) }]);
  });
});

describe('the sensitivity of bounded counts', () => {
  const DAY = 86_400_000;
  const START = Date.UTC(2026, 0, 5);
  const ITEMS = ['i0', 'i1', 'i2', 'i3', 'i4', 'i5', 'i6'];
  const KINDS = ['Product Viewed', 'Product Added', 'Order Completed'] as const;
  type Act = { item: number; kind: number; minute: number };
  const act = fc.record({ item: fc.nat(ITEMS.length - 1), kind: fc.nat(KINDS.length - 1), minute: fc.nat(3 * 24 * 60 - 1) });
  let messages = 0;

  function workspaceWith(people: Array<{ id: string; acts: Act[] }>): Workspace {
    const ws = new Workspace('dp', DEFAULT_TUNING);
    for (const [k, itemId] of ITEMS.entries()) ws.catalog.upsert(itemId, { name: itemId, category: k % 2 ? 'Odd > x' : 'Even' }, START - DAY, { source: 'api' });
    for (const person of people) {
      for (const a of person.acts) {
        const t = START + a.minute * 60_000;
        const event = KINDS[a.kind]!;
        const properties = event === 'Order Completed' ? { order_id: `o${messages}`, products: [{ product_id: ITEMS[a.item]!, price: 5, quantity: 1 }] } : { product_id: ITEMS[a.item]! };
        ws.apply({ messageId: `m${messages++}`, type: 'track', userId: person.id, event, properties, timestamp: t, receivedAt: t }, ws.allocateSegment());
      }
    }
    ws.flush();
    return ws;
  }

  const counts = async (ws: Workspace, q: AggregateQuery): Promise<Map<string, number>> => boundedCounts(ws, q, publicPartitions(ws, q), async () => undefined);

  it('a merge while the counting pauses for requests counts nobody twice', async () => {
    const people = Array.from({ length: 6 }, (_, i) => ({ id: `p${i}`, acts: [{ item: i, kind: 0, minute: 10 + i }, { item: i, kind: 0, minute: 30 + i }] }));
    const q: AggregateQuery = { metric: 'interactions', groupBy: 'none', from: START, to: START + 3 * DAY, epsilon: 1, maxPartitionsPerPerson: 1, maxPerPartition: 2, limit: 100 };
    const ws = workspaceWith(people);
    const before = await counts(ws, q);
    expect(before.get('all')).toBe(12);
    // after the first person is counted, the last one's id is linked to the first: one person now,
    // with four interactions, of which they may add L = 2 (before the merge each added 2)
    let merged = false;
    const during = await boundedCounts(ws, q, publicPartitions(ws, q), async () => {
      if (merged) return;
      merged = true;
      ws.apply({ messageId: `m${messages++}`, type: 'alias', userId: 'p0', previousId: 'p5', timestamp: START, receivedAt: START } as never, ws.allocateSegment());
      ws.flush();
    }, 1);
    expect(merged).toBe(true);
    // counted as of the start (12) — never 14, which counting p0 before and p0+p5 after would give
    expect(during.get('all')).toBe(12);
    expect((await counts(ws, q)).get('all')).toBe(10);
  });

  it('one more person, however active, moves the counts by at most C·L in L1', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(act, { maxLength: 12 }), { maxLength: 6 }),
        fc.array(act, { minLength: 1, maxLength: 60 }),
        fc.constantFrom('people', 'interactions'),
        fc.constantFrom('day', 'item', 'category', 'none'),
        fc.option(fc.constantFrom('view', 'add', 'purchase'), { nil: undefined }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        async (others, extra, metric, groupBy, kind, c, l) => {
          const people = others.map((acts, i) => ({ id: `p${i}`, acts }));
          const q: AggregateQuery = { metric, groupBy, ...(kind ? { kind } : {}), from: START, to: START + 3 * DAY, epsilon: 1, maxPartitionsPerPerson: c, maxPerPartition: l, limit: 100 };
          const without = await counts(workspaceWith(people), q);
          const withOne = await counts(workspaceWith([...people, { id: 'extra', acts: extra }]), q);
          let l1 = 0;
          for (const [key, n] of withOne) l1 += Math.abs(n - without.get(key)!);
          const sensitivity = release(withOne, q, new SecureUniform()).sensitivity;
          expect(sensitivity).toBe(Math.min(c, withOne.size) * (metric === 'people' ? 1 : l));
          expect(l1).toBeLessThanOrEqual(sensitivity);
        },
      ),
      { numRuns: 300 },
    );
  });
});
