/** The one Ajv instance: request schemas are TypeBox objects compiled here. */
import { Ajv } from 'ajv';

/**
 * `unicode: false`: maxLength counts UTF-16 code units, as every hand-written length check does
 * (`string.length`), so an id accepted anywhere is accepted everywhere and its UTF-8 form is at most
 * three bytes a unit (store keys stay under LMDB's limit). `strictNumbers`: a number that overflowed
 * to Infinity (`1e999`) is not a number.
 */
export const AJV_OPTIONS = { allErrors: true, strict: false, coerceTypes: false, useDefaults: false, unicode: false, strictNumbers: true } as const;

export const ajv = new Ajv(AJV_OPTIONS);
