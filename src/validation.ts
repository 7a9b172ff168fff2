/** The one Ajv instance: request schemas are TypeBox objects compiled here. */
import { Ajv } from 'ajv';

export const ajv = new Ajv({ allErrors: true, strict: false, coerceTypes: false, useDefaults: false });
