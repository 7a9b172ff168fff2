/**
 * Suppression after erasure (`DELETE /v1/profiles/{id}?suppress=true`): future events naming an
 * erased id are acknowledged and dropped. Only a keyed hash of each id is kept (HMAC-SHA-256 with a
 * per-workspace secret), so the tombstone cannot be reversed into the id by guessing.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Mutation, Store } from '../store/types.ts';

const SECRET_KEY = 'tombstone-secret';
/** tombstones of erased events' messageIds are keyed `m:<hash>` (an id's hash, base64url, has no colon) */
const MESSAGE_PREFIX = 'm:';
/** how long a retry of an erased event is still recognised (CONTRACT §4 asks for 24 hours at least) */
export const ERASED_MESSAGE_DAYS = 7;

export class Tombstones {
  private readonly hashes = new Set<string>();
  /** ids suppressed for a while, not durably: an erasure that ingestion keeps feeding holds them */
  private readonly held = new Map<string, number>();
  /**
   * keyed hashes of erased events' messageIds, with when they were erased (ms): a client that
   * retries an event it sent before the erasure is acknowledged and ignored, as for any repeat,
   * instead of bringing the event back
   */
  private readonly erasedMessages = new Map<string, number>();

  private constructor(private readonly secret: Buffer) {}

  /** Loads a workspace's tombstones, creating its secret on first use. */
  static async load(store: Store, ws: string): Promise<Tombstones> {
    let secret = await store.get<string>(ws, 'meta', SECRET_KEY);
    if (!secret) {
      secret = randomBytes(32).toString('base64');
      await store.commit(ws, [{ table: 'meta', key: SECRET_KEY, value: secret }]);
    }
    const t = new Tombstones(Buffer.from(secret, 'base64'));
    const expired: Mutation[] = [];
    const since = Date.now() - ERASED_MESSAGE_DAYS * 86_400_000;
    for await (const [key, value] of store.scan<{ at?: string }>(ws, 'tombstones')) {
      if (!key.startsWith(MESSAGE_PREFIX)) t.hashes.add(key);
      else {
        const at = Date.parse(value?.at ?? '');
        if (at >= since) t.erasedMessages.set(key.slice(MESSAGE_PREFIX.length), at);
        else expired.push({ table: 'tombstones', key });
      }
    }
    if (expired.length) await store.commit(ws, expired);
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

  /** whether an event with this messageId was erased in the last ERASED_MESSAGE_DAYS days */
  wasErased(messageId: string): boolean {
    return this.erasedMessages.size > 0 && this.erasedMessages.has(this.hash(messageId));
  }

  get erasedMessageCount(): number {
    return this.erasedMessages.size;
  }

  /** mutations that record the erased events' messageIds; call `rememberMessages` once they are durable */
  messageMutations(messageIds: readonly string[], at: string): Mutation[] {
    return messageIds.map((m) => ({ table: 'tombstones' as const, key: MESSAGE_PREFIX + this.hash(m), value: { at } }));
  }

  rememberMessages(messageIds: readonly string[], at: string): void {
    const t = Date.parse(at);
    for (const m of messageIds) this.erasedMessages.set(this.hash(m), t);
  }
}
