/** Growing the typed arrays that hold per-item and per-session state. */
type NumericArray = Int8Array | Int32Array | Float64Array;

/** a copy of `old` lengthened to `length`, the new tail zero */
export function widened<T extends NumericArray>(old: T, length: number): T {
  const next = new (old.constructor as new (length: number) => T)(length);
  next.set(old);
  return next;
}

/** the length to grow to so that index `need - 1` fits, doubling to keep growth amortised */
export const grownLength = (current: number, need: number): number => Math.max(need, current * 2, 1024);
