/** Helpers for indexes kept as a Map of Sets (one key, many values), which drop a key's emptied Set. */

export function addTo<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  let s = index.get(key);
  if (!s) index.set(key, (s = new Set()));
  s.add(value);
}

export function removeFrom<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  const s = index.get(key);
  if (!s) return;
  s.delete(value);
  if (s.size === 0) index.delete(key);
}
