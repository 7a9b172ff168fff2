/**
 * A bounded cache that forgets what has not been used for a while. It keeps two generations of
 * about `capacity / 2` entries: hits in the older generation move to the newer one, and when the
 * newer fills up the older is dropped whole. That approximates least-recently-used eviction without
 * the per-hit delete and re-insert that make a strict LRU Map churn on the hot path.
 */
export class LruCache<K, V> {
  private recent = new Map<K, V>();
  private older = new Map<K, V>();

  constructor(private readonly capacity: number) {}

  get(key: K): V | undefined {
    const v = this.recent.get(key);
    if (v !== undefined) return v;
    const aged = this.older.get(key);
    if (aged !== undefined) this.set(key, aged);
    return aged;
  }

  set(key: K, value: V): void {
    this.recent.set(key, value);
    if (this.recent.size >= Math.max(1, this.capacity / 2)) {
      this.older = this.recent;
      this.recent = new Map();
    }
  }

  delete(key: K): void {
    this.recent.delete(key);
    this.older.delete(key);
  }

  clear(): void {
    this.recent.clear();
    this.older.clear();
  }
}
