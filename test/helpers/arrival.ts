/**
 * Arrival orders for order-independence properties: a set of events delivered as a shuffled
 * multiset (every event once, some repeated up to twice more), cut into batches at random, some
 * batches sent together with the previous one.
 */
import fc from 'fast-check';

export interface Arrival<E> {
  batches: E[][];
  /** batches sent concurrently with the previous one */
  together: boolean[];
}

export const arrivalOf = <E>(events: readonly E[]): fc.Arbitrary<Arrival<E>> =>
  fc
    .tuple(
      fc.array(fc.nat(2), { minLength: events.length, maxLength: events.length }),
      fc.infiniteStream(fc.boolean()),
      fc.infiniteStream(fc.boolean()),
    )
    .chain(([copies, cuts, together]) => {
      const multiset = events.flatMap((e, i) => Array.from({ length: 1 + copies[i]! }, () => structuredClone(e)));
      return fc.shuffledSubarray(multiset, { minLength: multiset.length, maxLength: multiset.length }).map((shuffled) => {
        const batches: E[][] = [];
        let current: E[] = [];
        const cutIt = cuts[Symbol.iterator]();
        for (const e of shuffled) {
          current.push(e);
          if (cutIt.next().value) {
            batches.push(current);
            current = [];
          }
        }
        if (current.length) batches.push(current);
        const togetherIt = together[Symbol.iterator]();
        return { batches, together: batches.map((_, i) => i > 0 && togetherIt.next().value === true) };
      });
    });

/** sends the batches in order, each batch marked `together` at the same time as the one before */
export async function deliver<E>(arrival: Arrival<E>, send: (batch: E[]) => Promise<unknown>): Promise<void> {
  let wave: Array<Promise<unknown>> = [];
  for (const [i, batch] of arrival.batches.entries()) {
    if (!arrival.together[i]) {
      await Promise.all(wave);
      wave = [];
    }
    wave.push(send(batch));
  }
  await Promise.all(wave);
}
