/**
 * Turning Ajv errors into the `details` of a KAIROS_ERR_VALIDATION answer: one entry per problem,
 * `field` a JSON pointer to the offending field (the missing or unknown one itself, not its parent),
 * and a message a person can act on.
 */
import { Type, type TUnsafe } from '@sinclair/typebox';
import type { ErrorObject } from 'ajv';
import type { ErrorDetail } from '../errors.ts';

/** A string enum whose Ajv error lists the allowed values (a union of literals reports one error per literal). */
export const stringEnum = <T extends string>(values: readonly T[], description?: string): TUnsafe<T> =>
  Type.Unsafe<T>({ type: 'string', enum: [...values], ...(description ? { description } : {}) });

function detailOf(e: ErrorObject): ErrorDetail {
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { field: `${e.instancePath}/${String(params.missingProperty)}`, message: 'is required' };
    case 'additionalProperties':
      return { field: `${e.instancePath}/${String(params.additionalProperty)}`, message: 'is not a known field' };
    case 'enum':
      return { field: e.instancePath || '/', message: `must be one of ${(params.allowedValues as unknown[]).join(', ')}` };
    default:
      return { field: e.instancePath || '/', message: e.message ?? 'is invalid' };
  }
}

export function schemaDetails(errors: readonly ErrorObject[] | null | undefined): ErrorDetail[] {
  return (errors ?? []).map(detailOf);
}
