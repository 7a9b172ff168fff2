/**
 * parseUntrustedJson answers as secure-json-parse does (both actions 'error'), for any text: the same
 * value, or the same error. Keys are drawn from a pool holding the poisoning names, spelled plainly
 * and with \u escapes, so that texts which must be refused are common, not rare.
 */
import fc from 'fast-check';
import secureJson from 'secure-json-parse';
import { describe, expect, it } from 'vitest';
import { parseUntrustedJson } from '../src/safe-json.ts';

type Outcome = { value: unknown } | { error: string };
const outcome = (parse: (t: string) => unknown, text: string): Outcome => {
  try {
    return { value: parse(text) };
  } catch (e) {
    return { error: `${(e as Error).name}: ${(e as Error).message}` };
  }
};
const reference = (t: string): unknown => secureJson.parse(t, undefined, { protoAction: 'error', constructorAction: 'error' });

const same = (text: string): void => {
  expect(outcome(parseUntrustedJson, text), text).toEqual(outcome(reference, text));
};

/** JSON-encoded keys, each as it appears in the text */
const keys = fc.constantFrom('"__proto__"', '"\\u005f_proto__"', '"__pr\\u006fto__"', '"constructor"', '"c\\u006Fnstructor"', '"prototype"', '"proto"', '"a"', '"b"', '"constructors"', '"_\\u005fproto__"');
const scalar = fc.oneof(fc.integer().map(String), fc.constantFrom('true', 'null', '"x"', '"\\u0041"'), fc.string().map((s) => JSON.stringify(s)));
const { value: jsonText } = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(fc.tuple(keys, tie('value')), { maxLength: 4 }).map((entries) => `{${entries.map(([k, v]) => `${k} : ${v}`).join(',')}}`),
    fc.array(tie('value'), { maxLength: 3 }).map((items) => `[${items.join(',')}]`),
  ),
}));

describe('parseUntrustedJson', () => {
  it('agrees with secure-json-parse on texts full of poisoning keys', () => {
    fc.assert(fc.property(jsonText, (t) => same(t)), { numRuns: 5000 });
  });

  it('agrees on arbitrary JSON, with a byte order mark, and on broken text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.json(), jsonText.map((t) => '\ufeff' + t), fc.string(), jsonText.map((t) => t.slice(0, -1))), (t) => same(t)),
      { numRuns: 3000 },
    );
  });

  it('refuses the poisoning keys in every spelling', () => {
    for (const t of ['{"__proto__": {"x": 1}}', '{"\\u005f\\u005fproto\\u005f\\u005f": 1}', '{"constructor": {"prototype": {"x": 1}}}', '{"a": [{"c\\u006fnstructor": {"prototype": 1}}]}']) {
      expect(() => parseUntrustedJson(t), t).toThrow(/forbidden prototype property/);
    }
    expect(parseUntrustedJson('{"constructor": "fine", "a": "\\u0041"}')).toEqual({ constructor: 'fine', a: 'A' });
  });
});
