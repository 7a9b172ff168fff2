/** The one Ajv instance: request schemas are TypeBox objects compiled here. */
import { Ajv } from 'ajv';

/**
 * Ajv's own logger, less its notice that `unicode` is deprecated: the option still works (Ajv 8
 * counts `.length` with it), and it is the one way to count what every other check here counts.
 */
function quietAboutUnicode(): { log: (...args: unknown[]) => void; warn: (...args: unknown[]) => void; error: (...args: unknown[]) => void } {
  return {
    log: (...args) => console.log(...args),
    warn: (...args) => {
      if (!String(args[0]).includes('option unicode')) console.warn(...args);
    },
    error: (...args) => console.error(...args),
  };
}

/**
 * `unicode: false`: maxLength counts UTF-16 code units, as every hand-written length check does
 * (`string.length`), so an id accepted anywhere is accepted everywhere and its UTF-8 form is at most
 * three bytes a unit (store keys stay under LMDB's limit). `strictNumbers`: a number that overflowed
 * to Infinity (`1e999`) is not a number.
 */
export const AJV_OPTIONS = { allErrors: true, strict: false, coerceTypes: false, useDefaults: false, unicode: false, strictNumbers: true, logger: quietAboutUnicode() } as const;

export const ajv = new Ajv(AJV_OPTIONS);
