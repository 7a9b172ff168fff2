/**
 * Suppression after erasure (`DELETE /v1/profiles/{id}?suppress=true`): future events naming an
 * erased id are acknowledged and dropped. Only a keyed hash of each id is kept (HMAC-SHA-256 with a
 * per-workspace secret), so the tombstone cannot be reversed into the id by guessing.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Mutation, Store } from '../store/types.ts';

const SECRET_KEY = 'tombstone-secret';

export class Tombstones {
  private readonly hashes = new Set<string>();
  /** ids suppressed for a while, not durably: an erasure that ingestion keeps feeding holds them */
  private readonly held = new Map<string, number>();

  private constructor(private readonly secret: Buffer) {}

  /** Loads a workspace's tombstones, creating its secret on first use. */
  static async load(store: Store, ws: string): Promise<Tombstones> {
    let secret = await store.get<string>(ws, 'meta', SECRET_KEY);
    if (!secret) {
      secret = randomBytes(32).toString('base64');
      await store.commit(ws, [{ table: 'meta', key: SECRET_KEY, value: secret }]);
    }
    const t = new Tombstones(Buffer.from(secret, 'base64'));
    for await (const [hash] of store.scan(ws, 'tombstones')) t.hashes.add(hash);
    return t;
  }

  hash(id: string): string {
    return createHmac('sha256', this.secret).update(id).digest('base64url');
  }

  /** how many ids are suppressed */
  get size(): number {
    return this.hashes.size + this.held.size;
  }

  has(id: string): boolean {
    if (this.size === 0) return false;
    const h = this.hash(id);
    return this.hashes.has(h) || this.held.has(h);
  }

  /** suppresses `ids` in memory until released (counted: two holders of one id both release it) */
  hold(ids: readonly string[]): void {
    for (const id of ids) {
      const h = this.hash(id);
      this.held.set(h, (this.held.get(h) ?? 0) + 1);
    }
  }

  release(ids: readonly string[]): void {
    for (const id of ids) {
      const h = this.hash(id);
      const n = (this.held.get(h) ?? 0) - 1;
      if (n > 0) this.held.set(h, n);
      else this.held.delete(h);
    }
  }

  /** mutations that record tombstones for `ids`; call `remember` once they are durable */
  mutations(ids: readonly string[], at: string): Mutation[] {
    return ids.map((id) => ({ table: 'tombstones' as const, key: this.hash(id), value: { at } }));
  }

  remember(ids: readonly string[]): void {
    for (const id of ids) this.hashes.add(this.hash(id));
  }
}
