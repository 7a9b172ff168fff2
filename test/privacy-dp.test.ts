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
import { BUDGET_WINDOW_MS, PrivacyBudget, SecureUniform, discreteLaplace, geometricRatio, noiseInterval95 } from '../src/privacy/dp.ts';

describe('discrete Laplace noise', () => {
  const N = 200_000;
  const p = geometricRatio(0.5, 1);
  const random = new SecureUniform();
  const draws = Array.from({ length: N }, () => discreteLaplace(p, random));
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
    const mean = draws.reduce((a, b) => a + b, 0) / N;
    expect(Math.abs(mean)).toBeLessThan(6 * Math.sqrt(variance / N));
  });

  it('the reported 95% interval is the smallest k with P(|X| > k) ≤ 0.05, and the draws agree', () => {
    const k = noiseInterval95(p);
    const tail = (j: number): number => (2 * p ** (j + 1)) / (1 + p);
    expect(tail(k)).toBeLessThanOrEqual(0.05);
    expect(tail(k - 1)).toBeGreaterThan(0.05);
    expect(Math.abs(share((x) => Math.abs(x) > k) - tail(k))).toBeLessThan(tolerance(tail(k)));
    // no noise at all when p is 0 (no partition, no sensitivity)
    expect(noiseInterval95(0)).toBe(0);
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
    const t0 = 1_700_000_000_000;
    const b = new PrivacyBudget(1);
    for (let i = 0; i < 10; i++) expect(b.take(0.1, t0 + i * 1000)).toEqual({ ok: true });
    expect(b.spent(t0 + 10_000)).toBeCloseTo(1, 9);
    // the first spend leaves the window 24 h after it was made
    expect(b.take(0.1, t0 + 10_000)).toEqual({ ok: false, retryAfterSeconds: BUDGET_WINDOW_MS / 1000 - 10 });
    // 0.25 needs three spends gone: the third was made at t0 + 2 s
    expect(b.take(0.25, t0 + 10_000)).toEqual({ ok: false, retryAfterSeconds: BUDGET_WINDOW_MS / 1000 - 8 });
    expect(b.take(0.1, t0 + BUDGET_WINDOW_MS)).toEqual({ ok: true });
    const stored = b.record(t0 + BUDGET_WINDOW_MS);
    expect(stored.spends).toHaveLength(10);
    expect(new PrivacyBudget(1, stored.spends).spent(t0 + BUDGET_WINDOW_MS)).toBeCloseTo(1, 9);
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
