/**
 * What the models are told is a function of the event set: events applied in any batches and any
 * arrival order (appends to open sessions, late events inside old sessions, gaps that split sessions,
 * identity merges, consent statements) leave the models holding exactly the sessions a workspace
 * given every event at once would hold. A recording model checks every add, remove and extend against
 * what it holds, so a wrong incremental update (the open-session fast path above all) fails here.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TUNING } from '../src/config.ts';
import { Workspace, personOf } from '../src/engine/workspace.ts';
import type { StoredEvent } from '../src/ingest/event.ts';
import type { SessionChange, SessionItem, SessionModel, SessionRecord } from '../src/recommend/types.ts';

/** a record as its own entries define it (records that grew share their array with their successors) */
const entries = (s: SessionRecord): SessionItem[] => s.items.slice(0, s.size);
const asHeld = (s: SessionRecord): string => JSON.stringify({ key: s.key, start: s.start, end: s.end, items: entries(s).map(({ itemId, kind, t, weight }) => ({ itemId, kind, t, weight })) });

class RecordingModel implements SessionModel {
  readonly held = new Map<string, string>();
  splices = 0;
  addSession(s: SessionRecord): void {
    if (this.held.has(s.key)) throw new Error(`session ${s.key} added twice`);
    this.held.set(s.key, asHeld(s));
  }
  removeSession(s: SessionRecord): void {
    if (this.held.get(s.key) !== asHeld(s)) throw new Error(`session ${s.key} removed but not held as given`);
    this.held.delete(s.key);
  }
  spliceSession(prev: SessionRecord, next: SessionRecord, change: SessionChange): void {
    this.removeSession(prev);
    // the change must say truly where the two differ: same prefix before it, same suffix after it
    const { at, removed, added } = change;
    const plain = (items: SessionItem[]): string => JSON.stringify(items.map(({ itemId, kind, t, weight }) => [itemId, kind, t, weight]));
    const [p, n] = [entries(prev), entries(next)];
    if (at + removed !== p.length - (n.length - at - added) || at + added > n.length || plain(p.slice(0, at)) !== plain(n.slice(0, at)) || plain(p.slice(at + removed)) !== plain(n.slice(at + added))) {
      throw new Error(`splice ${JSON.stringify(change)} does not describe ${plain(p)} → ${plain(n)}`);
    }
    this.splices++;
    this.addSession(next);
  }
}

const T0 = Date.UTC(2025, 0, 1);
const MIN = 60_000;

const eventArb = fc.record({
  who: fc.constantFrom('a1', 'a2', 'u1'),
  minute: fc.integer({ min: 0, max: 600 }),
  kind: fc.constantFrom('view', 'view', 'view', 'add', 'page', 'identify', 'consent-off', 'consent-on'),
  item: fc.constantFrom('p1', 'p2', 'p3', 'p4'),
});

function toEvent(e: { who: string; minute: number; kind: string; item: string }, i: number): StoredEvent {
  const base = { messageId: `m${String(i).padStart(3, '0')}`, timestamp: T0 + e.minute * MIN, receivedAt: T0 + e.minute * MIN };
  const id = e.who.startsWith('u') ? { userId: e.who } : { anonymousId: e.who };
  switch (e.kind) {
    case 'identify':
      return { ...base, type: 'identify', anonymousId: e.who.startsWith('a') ? e.who : 'a1', userId: 'u1' } as StoredEvent;
    case 'page':
      return { ...base, ...id, type: 'page' } as StoredEvent;
    case 'consent-off':
    case 'consent-on':
      return { ...base, ...id, type: 'track', event: 'Consent Changed', context: { consent: { categoryPreferences: { Personalization: e.kind === 'consent-on' } } } } as StoredEvent;
    default:
      return { ...base, ...id, type: 'track', event: e.kind === 'add' ? 'Product Added' : 'Product Viewed', properties: { product_id: e.item } } as StoredEvent;
  }
}

function workspace(): [Workspace, RecordingModel] {
  const ws = new Workspace('p', DEFAULT_TUNING);
  const model = new RecordingModel();
  ws.addModel(model);
  return [ws, model];
}

describe('model contributions', () => {
  it('any batching and arrival order gives the sessions of all events applied at once', () => {
    fc.assert(
      fc.property(
        fc.array(eventArb, { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 40 }),
        fc.boolean(),
        (specs, cuts, timeOrdered) => {
          const events = specs.map(toEvent);
          const arrival = timeOrdered ? [...events].sort((x, y) => x.timestamp - y.timestamp) : events;
          const [live, liveModel] = workspace();
          let at = 0;
          for (let b = 0; at < arrival.length; b++) {
            const size = cuts[b % cuts.length]!;
            for (const e of arrival.slice(at, at + size)) live.apply(e, 's');
            live.flush();
            at += size;
          }
          const [once, onceModel] = workspace();
          for (const e of events) once.apply(e, 's');
          once.flush();
          expect([...liveModel.held.entries()].sort()).toEqual([...onceModel.held.entries()].sort());
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('the history a request reads', () => {
  it('is, after every event, what a workspace given the events so far at once gives (its memo never stale)', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 8 }), (specs, limit) => {
        const events = specs.map(toEvent);
        const [live] = workspace();
        // every history kept (in the server only long ones are), so that these short ones test the memo
        live.historyMemoMin = 0;
        const asked: Array<[readonly unknown[], string]> = [];
        events.forEach((e, i) => {
          live.apply(e, 's');
          live.flush();
          const [once] = workspace();
          for (const x of events.slice(0, i + 1)) once.apply(x, 's');
          once.flush();
          for (const who of ['a1', 'a2', 'u1']) {
            const view = personOf(live, { anonymousId: who, userId: who });
            const fresh = personOf(once, { anonymousId: who, userId: who });
            const history = view ? live.historyOf(view, limit) : [];
            // asked twice between two events: the same answer (the memo), and as a fresh workspace gives
            if (view) expect(live.historyOf(view, limit)).toBe(history);
            expect(JSON.stringify(history)).toBe(JSON.stringify(fresh ? once.historyOf(fresh, limit) : []));
            asked.push([history, JSON.stringify(history)]);
          }
        });
        // no answer was changed afterwards by later events (answers are shared, never modified)
        for (const [history, then] of asked) expect(JSON.stringify(history)).toBe(then);
      }),
      { numRuns: 200 },
    );
  });
});

describe('a change to one session', () => {
  /** what the models were asked, in order */
  class CallLog implements SessionModel {
    readonly calls: string[] = [];
    addSession(s: SessionRecord): void {
      this.calls.push(`add ${s.key} ${s.size}`);
    }
    removeSession(s: SessionRecord): void {
      this.calls.push(`remove ${s.key} ${s.size}`);
    }
    spliceSession(prev: SessionRecord, next: SessionRecord, c: SessionChange): void {
      this.calls.push(`splice ${prev.key}→${next.key} at ${c.at} -${c.removed} +${c.added} (${prev.size}→${next.size})`);
    }
  }
  const view = (i: number, minute: number): StoredEvent => ({ messageId: `m${String(i).padStart(4, '0')}`, type: 'track', timestamp: T0 + minute * MIN, receivedAt: T0, userId: 'u1', event: 'Product Viewed', properties: { product_id: `p${i % 7}` } }) as StoredEvent;

  it('reaches the models as one splice where it happened: appended, inside, before the first event', () => {
    const ws = new Workspace('c', DEFAULT_TUNING);
    const log = new CallLog();
    const recording = new RecordingModel();
    ws.addModel(log);
    ws.addModel(recording);
    // one long session, an event a minute, and an earlier session
    ws.apply(view(9000, -300), 's');
    for (let i = 0; i < 300; i++) ws.apply(view(i, i), 's');
    ws.flush();
    expect(log.calls).toEqual(['add m9000 1', 'add m0000 300']);
    log.calls.length = 0;
    ws.apply(view(300, 300), 's');
    ws.flush();
    ws.apply({ ...view(301, 100), timestamp: T0 + 100 * MIN + 30_000 }, 's');
    ws.flush();
    ws.apply(view(302, -20), 's');
    ws.flush();
    expect(log.calls).toEqual(['splice m0000→m0000 at 300 -0 +1 (300→301)', 'splice m0000→m0000 at 101 -0 +1 (301→302)', 'splice m0000→m0302 at 0 -0 +1 (302→303)']);
    // and every splice described its change truly
    expect(recording.splices).toBe(3);
    const [once, onceModel] = workspace();
    for (const e of [view(9000, -300), ...Array.from({ length: 301 }, (_, i) => view(i, i)), { ...view(301, 100), timestamp: T0 + 100 * MIN + 30_000 }, view(302, -20)]) once.apply(e as StoredEvent, 's');
    once.flush();
    expect([...recording.held.entries()].sort()).toEqual([...onceModel.held.entries()].sort());
  });
});

describe('records that share an array', () => {
  it('a session cut short (consent withdrawn late) and then grown again holds only its own items', () => {
    const at = (minute: number) => ({ timestamp: T0 + minute * MIN, receivedAt: T0 });
    const view = (id: string, minute: number, item: string): StoredEvent => ({ messageId: id, type: 'track', userId: 'u1', event: 'Product Viewed', properties: { product_id: item }, ...at(minute) }) as StoredEvent;
    const consent = (id: string, minute: number, on: boolean): StoredEvent => ({ messageId: id, type: 'track', userId: 'u1', event: 'Consent Changed', context: { consent: { categoryPreferences: { Personalization: on } } }, ...at(minute) }) as StoredEvent;
    // each step is flushed on its own, as separate requests are
    const steps = [[view('v1', 0, 'p1'), view('v2', 1, 'p2'), view('v3', 2, 'p3'), view('v4', 4, 'p4'), view('v5', 5, 'p5')], [consent('off', 3, false), consent('on', 6, true)], [view('v7', 7, 'p7')]];
    const [live, liveModel] = workspace();
    for (const batch of steps) {
      for (const e of batch) live.apply(e, 's');
      live.flush();
    }
    const [once, onceModel] = workspace();
    for (const e of steps.flat()) once.apply(e, 's');
    once.flush();
    expect([...liveModel.held.values()].map((r) => (JSON.parse(r) as SessionRecord).items.map((i) => i.itemId))).toEqual([['p1', 'p2', 'p3', 'p7']]);
    expect([...liveModel.held.entries()]).toEqual([...onceModel.held.entries()]);
  });
});

describe('an identity merge', () => {
  it('asks nothing of the models for sessions that stay as they were, and one splice where two people’s sessions meet', () => {
    const ws = new Workspace('m', DEFAULT_TUNING);
    const calls: string[] = [];
    ws.addModel({
      addSession: (s) => calls.push(`add ${s.key}`),
      removeSession: (s) => calls.push(`remove ${s.key}`),
      spliceSession: (p, n, c) => calls.push(`splice ${p.key}→${n.key} at ${c.at} -${c.removed} +${c.added}`),
    });
    const recording = new RecordingModel();
    ws.addModel(recording);
    const at = (minute: number) => ({ timestamp: T0 + minute * MIN, receivedAt: T0 });
    const view = (id: string, who: Record<string, string>, minute: number, item: string) => ({ messageId: id, type: 'track', event: 'Product Viewed', properties: { product_id: item }, ...who, ...at(minute) }) as StoredEvent;
    // a user's two sessions, and a device's session that falls inside the user's second one
    for (const [i, m] of [0, 1, 2, 100, 101, 104].entries()) ws.apply(view(`u-${i}`, { userId: 'u1' }, m, `p${i}`), 's');
    for (const [i, m] of [102, 103].entries()) ws.apply(view(`a-${i}`, { anonymousId: 'a1' }, m, `q${i}`), 's');
    ws.flush();
    calls.length = 0;
    ws.apply({ messageId: 'link', type: 'identify', userId: 'u1', anonymousId: 'a1', ...at(105) } as StoredEvent, 's');
    ws.flush();
    // the user's first session is left alone; the device's session and the user's second become one
    expect(calls).toEqual(['splice u-3→u-3 at 2 -0 +2', 'remove a-0']);
    const [once, onceModel] = workspace();
    for (const [i, m] of [0, 1, 2, 100, 101, 104].entries()) once.apply(view(`u-${i}`, { userId: 'u1' }, m, `p${i}`), 's');
    for (const [i, m] of [102, 103].entries()) once.apply(view(`a-${i}`, { anonymousId: 'a1' }, m, `q${i}`), 's');
    once.apply({ messageId: 'link', type: 'identify', userId: 'u1', anonymousId: 'a1', ...at(105) } as StoredEvent, 's');
    once.flush();
    expect([...recording.held.entries()].sort()).toEqual([...onceModel.held.entries()].sort());
  });
});
