/** Helpers for maps whose values are made on first use, and for indexes kept as a Map of Sets (one key, many values), which drop a key's emptied Set. */

/** the value `map` holds for `key`, made (by `make`) and held on first use */
export function entryOf<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) map.set(key, (v = make()));
  return v;
}

export function addTo<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  entryOf(index, key, () => new Set()).add(value);
}

export function removeFrom<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  const s = index.get(key);
  if (!s) return;
  s.delete(value);
  if (s.size === 0) index.delete(key);
}
