/**
 * The messageId ledger is a set of strings: any sequence of adds, lookups and deletes answers as a
 * `Set` does, through growth, deletion and rebuilds, and ids whose keys collide are told apart.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MessageLedger, messageIdKey } from '../src/ingest/message-ledger.ts';

type Op = { op: 'add' | 'has' | 'delete'; id: string };

function replay(ops: readonly Op[], keyOf: (id: string) => number): void {
  const ledger = new MessageLedger();
  const model = new Set<string>();
  for (const { op, id } of ops) {
    const key = keyOf(id);
    if (op === 'add') expect(ledger.add(id, key), `add ${id}`).toBe(!model.has(id) && model.add(id) !== undefined);
    else if (op === 'delete') expect(ledger.delete(id, key), `delete ${id}`).toBe(model.delete(id));
    else expect(ledger.has(id, key), `has ${id}`).toBe(model.has(id));
    expect(ledger.size).toBe(model.size);
  }
  for (const id of model) expect(ledger.has(id, keyOf(id))).toBe(true);
}

const ids = fc.oneof(fc.string({ maxLength: 3 }), fc.uuid(), fc.nat(1500).map((n) => `syn-42-${n}`), fc.nat(1500).map((n) => `syn-42-${n}`));
const ops = fc.array(fc.record({ op: fc.constantFrom<Op['op']>('add', 'add', 'has', 'delete'), id: ids }), { minLength: 1000, maxLength: 4000 });

describe('MessageLedger', () => {
  it('answers as a Set does', () => {
    fc.assert(fc.property(ops, (o) => replay(o, messageIdKey)), { numRuns: 30 });
  });

  it('tells apart ids whose keys collide, in every slot of a probe chain', () => {
    // a handful of keys shared by many ids: long probe chains, matches decided by the strings
    fc.assert(fc.property(ops, fc.integer({ min: 1, max: 7 }), (o, keys) => replay(o, (id) => (messageIdKey(id) % keys) * 2 ** 20)), { numRuns: 25 });
  });

  it('keeps its size through many rounds of adds and deletes', () => {
    const ledger = new MessageLedger();
    for (let round = 0; round < 20; round++) {
      let refused = 0;
      for (let i = 0; i < 5000; i++) if (!ledger.add(`r${round}-${i}`)) refused++;
      for (let i = 0; i < 5000; i++) if ((round === 0 || i % 2 === 0) && !ledger.delete(`r${round}-${i}`)) refused++;
      expect(refused).toBe(0);
    }
    // round 0 entirely deleted; of every later round, the odd half is kept
    expect(ledger.size).toBe(19 * 2500);
    expect(ledger.has('r0-1')).toBe(false);
    expect(ledger.has('r7-1')).toBe(true);
    expect(ledger.has('r7-2')).toBe(false);
  });

  it('keys are 52-bit integers that differ for ids that differ in one unit', () => {
    const a = messageIdKey('syn-42-100000');
    expect(Number.isSafeInteger(a) && a >= 0 && a < 2 ** 52).toBe(true);
    expect(messageIdKey('syn-42-100001')).not.toBe(a);
    expect(messageIdKey('')).not.toBe(messageIdKey('\u0000'));
  });
});
