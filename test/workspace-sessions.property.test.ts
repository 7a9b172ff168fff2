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
import type { SessionModel, SessionRecord } from '../src/recommend/types.ts';

class RecordingModel implements SessionModel {
  readonly held = new Map<string, string>();
  addSession(s: SessionRecord): void {
    if (this.held.has(s.key)) throw new Error(`session ${s.key} added twice`);
    this.held.set(s.key, JSON.stringify(s));
  }
  removeSession(s: SessionRecord): void {
    if (this.held.get(s.key) !== JSON.stringify(s)) throw new Error(`session ${s.key} removed but not held as given`);
    this.held.delete(s.key);
  }
  extendSession(prev: SessionRecord, next: SessionRecord): void {
    this.removeSession(prev);
    // an extension appends items, or none (events without items moved the end)
    if (next.items.length < prev.items.length || next.start !== prev.start || next.end < prev.end || JSON.stringify(next.items.slice(0, prev.items.length)) !== JSON.stringify(prev.items)) throw new Error('extend is not an append');
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
