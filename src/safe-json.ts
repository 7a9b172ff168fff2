/**
 * JSON parsing for untrusted text that refuses prototype-poisoning keys (`__proto__`, and
 * `constructor` holding `prototype`), as secure-json-parse does with both actions set to 'error'.
 *
 * secure-json-parse parses, then scans the text with two regular expressions for such keys, spelled
 * plainly or with `\u` escapes, and only walks the parsed value when one matches. Text that contains
 * neither name and no `\u` escape cannot spell one, so it is parsed with JSON.parse alone: three
 * substring searches instead of two regular-expression scans, which bulk import pays per line.
 *
 * Text is made well-formed: a `\u` escape may spell half of a surrogate pair alone, which no store
 * can hold as it is (UTF-8 has no encoding for it), so such a lone surrogate becomes U+FFFD here, as
 * malformed UTF-8 bytes already do when the body is decoded. What is kept in memory is then exactly
 * what the store holds and gives back after a restart. Ids are left as they are (ID_FIELDS), for
 * their validation to refuse: two different broken ids must not become one.
 */
import secureJson from 'secure-json-parse';

/** an escape of a surrogate (high or low): only then can parsed text hold a lone one */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

export function parseUntrustedJson(text: string): unknown {
  if (text.charCodeAt(0) !== 0xfeff && !text.includes('__proto__') && !text.includes('constructor') && !text.includes('\\u')) return JSON.parse(text);
  const value: unknown = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  return SURROGATE_ESCAPE.test(text) ? wellFormed(value) : value;
}

/**
 * Fields that hold ids (people, messages, items; `exclude` lists item ids): a lone surrogate in them
 * is not repaired, so that the id checks refuse it.
 */
const ID_FIELDS: ReadonlySet<string> = new Set(['userId', 'anonymousId', 'previousId', 'groupId', 'messageId', 'itemId', 'product_id', 'sku', 'exclude']);

/**
 * `value` with every lone surrogate in its strings and keys replaced by U+FFFD (in place where it
 * can), except in the values of ID_FIELDS
 */
export function wellFormed(value: unknown): unknown {
  if (typeof value === 'string') return value.isWellFormed() ? value : value.toWellFormed();
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = wellFormed(value[i]);
    return value;
  }
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    const v = ID_FIELDS.has(key) ? o[key] : wellFormed(o[key]);
    if (key.isWellFormed()) o[key] = v;
    else {
      delete o[key];
      o[key.toWellFormed()] = v;
    }
  }
  return o;
}

/**
 * A JSON-schema pattern of strings that hold no lone surrogate (Ajv compiles patterns with the `u`
 * flag, in which a surrogate pair is one code point and only a lone half matches the class).
 */
export const WELL_FORMED_PATTERN = '^[^\\uD800-\\uDFFF]*$';
