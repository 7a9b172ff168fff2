/**
 * Write keys and API keys. Secrets are never stored: only their SHA-256, looked up by hash and then
 * compared in constant time. A write key only ingests; API keys carry scopes.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** `aggregates`: differentially private aggregates only (POST /v1/aggregates), which `read` allows too */
export const SCOPES = ['read', 'write', 'admin', 'aggregates'] as const;
export type Scope = (typeof SCOPES)[number];

/** the longest name a key or a workspace may have */
export const KEY_NAME_MAX = 200;

export interface KeyRecord {
  id: string;
  hash: string;
  kind: 'write' | 'api';
  scopes: Scope[];
  name?: string;
  createdAt: string;
}

export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

export const newSecret = (prefix: 'wk' | 'ak'): string => `${prefix}_${randomBytes(24).toString('base64url')}`;

export const newKeyId = (): string => `key_${randomBytes(8).toString('hex')}`;

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** admin implies every scope; read implies aggregates (it reads the people themselves); write does not imply read */
export const grants = (scopes: readonly Scope[], needed: Scope): boolean =>
  scopes.includes('admin') || scopes.includes(needed) || (needed === 'aggregates' && scopes.includes('read'));

/** A key as listed to clients: never the secret, never the hash. */
export const publicKey = (k: KeyRecord): { id: string; scopes: Scope[]; name?: string; kind: KeyRecord['kind']; createdAt: string } => ({
  id: k.id,
  kind: k.kind,
  scopes: k.scopes,
  ...(k.name !== undefined ? { name: k.name } : {}),
  createdAt: k.createdAt,
});
