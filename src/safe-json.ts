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
 * what the store holds and gives back after a restart. Ids refuse U+FFFD (`hasReplacement`): two
 * different broken ids must not become one.
 */
import secureJson from 'secure-json-parse';

/** an escape of a surrogate (high or low): only then can parsed text hold a lone one */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

export function parseUntrustedJson(text: string): unknown {
  if (text.charCodeAt(0) !== 0xfeff && !text.includes('__proto__') && !text.includes('constructor') && !text.includes('\\u')) return JSON.parse(text);
  const value: unknown = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  return SURROGATE_ESCAPE.test(text) ? wellFormed(value) : value;
}

/** `value` with every lone surrogate in its strings and keys replaced by U+FFFD (in place where it can) */
export function wellFormed(value: unknown): unknown {
  if (typeof value === 'string') return value.isWellFormed() ? value : value.toWellFormed();
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = wellFormed(value[i]);
    return value;
  }
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    const v = wellFormed(o[key]);
    if (key.isWellFormed()) o[key] = v;
    else {
      delete o[key];
      o[key.toWellFormed()] = v;
    }
  }
  return o;
}

/** U+FFFD: what stands for text that was not text (malformed UTF-8, a lone surrogate) */
export const hasReplacement = (s: string): boolean => s.includes('\uFFFD');
