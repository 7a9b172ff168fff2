import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Interaction } from '../src/eval/dataset.ts';
import type { NextItemPredictor } from '../src/eval/driver.ts';
import { readSessionRec } from '../src/eval/presets.ts';
import { parseTime } from '../src/eval/read-table.ts';
import { evaluateSessions, prepareSessionTest } from '../src/eval/session-protocol.ts';
import { randomUserSplit, sessionTimeSplit, temporalUserSplit, testCount } from '../src/eval/split.ts';
import { prepareTopN } from '../src/eval/topn-protocol.ts';

const MIN = 60_000;
/** one session's events, one minute apart */
const session = (id: string, items: string[], start = 0): Interaction[] =>
  items.map((item, i) => ({ person: id, session: id, item, t: start + i * MIN, event: 'Product Viewed' }));

describe('session protocol filtering (session-rec loader)', () => {
  const train = [...session('t1', ['a', 'b', 'c']), ...session('t2', ['b', 'd'])];
  const test = [
    ...session('s1', ['a', 'b', 'c', 'd']), // kept whole: 3 predictions
    ...session('s2', ['a', 'x', 'b']), // x unknown: dropped, session keeps a, b: 1 prediction
    ...session('s3', ['x', 'd']), // x dropped, left with 1 event: session dropped
    ...session('s4', ['c']), // a single event: dropped
    ...session('s5', ['y', 'z']), // both unknown: nothing left
  ];

  it('drops test events of items unknown to train, then sessions left with fewer than two events', () => {
    const set = prepareSessionTest(train, test);
    expect(set.counts).toEqual({ testEvents: 12, droppedUnknownItem: 4, droppedShortSessions: 2, sessions: 2, predictions: 4, repeatTargets: 0 });
    expect(set.sessions.map((s) => [s.id, s.events.map((e) => e.item).join('')])).toEqual([['s1', 'abcd'], ['s2', 'ab']]);
  });

  it('counts targets that re-visit an item of their prefix', () => {
    const set = prepareSessionTest(train, session('r', ['a', 'b', 'a', 'a', 'c']));
    expect(set.counts).toMatchObject({ predictions: 4, repeatTargets: 2 });
  });

  it('asks for every position i ≥ 1 with the first i events, at the time of the last of them', async () => {
    const calls: string[] = [];
    const recorder: NextItemPredictor = {
      name: 'recorder',
      nextItems: (id, prefix, now) => {
        calls.push(`${id}:${prefix.map((x) => x.item).join('')}@${now / MIN}`);
        return ['b', 'c'];
      },
    };
    const set = prepareSessionTest(train, test);
    const results = await evaluateSessions(set, [recorder], { online: false, cutoffs: [1, 2], trainCounts: new Map([['a', 1], ['b', 2], ['c', 1], ['d', 1]]) });
    expect(calls.sort()).toEqual(['s1:a@0', 's1:ab@1', 's1:abc@2', 's2:a@0'].sort());
    // targets b, c, d, b against [b, c]: HR@1 = 2/4 (b, b), HR@2 = 3/4, MRR@2 = (1 + 1/2 + 0 + 1) / 4
    const m = results.get('recorder')!.metrics;
    expect(m['HR@1']).toBe(0.5);
    expect(m['HR@2']).toBe(0.75);
    expect(m['MRR@2']).toBeCloseTo(2.5 / 4, 12);
    expect(results.get('recorder')!.latencies.count).toBe(4);
  });

  it('online mode shows each event as it happens and asks right after the last prefix event, in time order across sessions', async () => {
    const log: string[] = [];
    const spy: NextItemPredictor = {
      name: 'spy',
      nextItems: (id, prefix) => {
        log.push(`ask ${id}@${prefix.length}`);
        return [];
      },
      observe: (x) => void log.push(`see ${x.person}:${x.item}`),
    };
    const interleaved = [...session('s1', ['a', 'b'], 0), ...session('s2', ['c', 'd'], 30_000)];
    await evaluateSessions(prepareSessionTest(train, interleaved), [spy], { online: true, cutoffs: [20], trainCounts: new Map() });
    expect(log).toEqual(['see s1:a', 'ask s1@1', 'see s2:c', 'ask s2@1', 'see s1:b', 'see s2:d']);
  });
});

describe('splits', () => {
  const person = (id: string, n: number): Interaction[] =>
    Array.from({ length: n }, (_, i) => ({ person: id, item: `${id}-${i}`, t: (n - i) * MIN, event: 'Product Viewed' }));

  it('test takes the share rounded up, keeping one train interaction; a single interaction stays in train', () => {
    expect([1, 2, 5, 6, 10, 11].map((n) => testCount(n, 0.2))).toEqual([0, 1, 1, 2, 2, 3]);
    expect(testCount(3, 0.9)).toBe(2);
  });

  it('temporal: each person\'s latest interactions go to test', () => {
    const data = [...person('u1', 10), ...person('u2', 1)];
    const { train, test } = temporalUserSplit(data, 0.2);
    expect(test.map((x) => x.item).sort()).toEqual(['u1-0', 'u1-1']); // item i happens at (n − i) minutes: 0 and 1 are the latest
    expect(train).toHaveLength(9);
  });

  it('random: the same seed gives the same split, another seed another one, with the same sizes', () => {
    const data = person('u1', 40);
    const a = randomUserSplit(data, 0.25, '7');
    expect(randomUserSplit(data, 0.25, '7').test).toEqual(a.test);
    expect(randomUserSplit(data, 0.25, '8').test).not.toEqual(a.test);
    expect(a.test).toHaveLength(10);
    expect(a.train).toHaveLength(30);
  });

  it('sessions: those ending within the last days go to test whole', () => {
    const day = 86_400_000;
    const data = [...session('old', ['a', 'b'], 0), ...session('edge', ['a', 'b'], 2 * day - 30 * MIN), ...session('new', ['c'], 3 * day)];
    const { train, test } = sessionTimeSplit(data, 1);
    expect([...new Set(test.map((x) => x.person))]).toEqual(['new']);
    expect(train).toHaveLength(4);
  });
});

describe('top-N cases', () => {
  it('relevant items are test items not already in train, and people without any are left out', () => {
    const x = (person: string, item: string, t: number): Interaction => ({ person, item, t, event: 'Product Viewed' });
    const train = [x('u1', 'a', 1), x('u1', 'b', 5), x('u2', 'a', 1)];
    const test = [x('u1', 'b', 9), x('u1', 'c', 9), x('u2', 'a', 9), x('u3', 'c', 9)];
    const set = prepareTopN(train, test);
    expect(set.cases).toHaveLength(1);
    expect(set.cases[0]).toMatchObject({ person: 'u1', trainItems: ['a', 'b'], now: 5 + 1000 });
    expect([...set.cases[0]!.relevant]).toEqual(['c']);
    expect(set.counts.peopleWithoutTrain).toBe(1);
  });
});

describe('reading data', () => {
  it('times may be epoch seconds (with decimals), epoch milliseconds or ISO-8601', () => {
    expect(parseTime('1396860669.277')).toBe(1396860669277);
    expect(parseTime('1396860669277')).toBe(1396860669277);
    expect(parseTime('2014-04-07T08:51:09.277Z')).toBe(1396860669277);
    expect(parseTime('yesterday')).toBeUndefined();
  });

  it('reads session-rec prepared files: every session is its own person', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kairos-eval-'));
    const file = join(dir, 'x_test.txt');
    writeFileSync(file, 'SessionId\tItemId\tTime\n1\t214536502\t1396860669.277\n1\t214536506\t1396860886.998\n2\t214662742\t1396871797.614\n');
    const rows = await readSessionRec(file);
    rmSync(dir, { recursive: true, force: true });
    expect(rows).toEqual([
      { person: '1', session: '1', item: '214536502', t: 1396860669277, event: 'Product Viewed' },
      { person: '1', session: '1', item: '214536506', t: 1396860886998, event: 'Product Viewed' },
      { person: '2', session: '2', item: '214662742', t: 1396871797614, event: 'Product Viewed' },
    ]);
  });
});
