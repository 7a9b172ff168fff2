/**
 * The item co-occurrence baseline for sessions (association rules, as session-rec's AR): an item's
 * score is the number of train sessions holding both it and the session's last item; the rest of the
 * list is filled by popularity. In online mode observed sessions count too.
 */
import type { Interaction } from '../dataset.ts';
import type { NextItemPredictor } from '../driver.ts';
import type { PopularityBaseline } from './popularity.ts';

const sessionOf = (x: Interaction): string => x.session ?? x.person;

export class CooccurrenceBaseline implements NextItemPredictor {
  readonly name = 'cooccurrence';
  private readonly pairs = new Map<string, Map<string, number>>();
  /** distinct items of each session seen so far (online mode extends test sessions) */
  private readonly sessionItems = new Map<string, Set<string>>();

  constructor(
    train: readonly Interaction[],
    private readonly popularity: PopularityBaseline,
  ) {
    for (const x of train) this.add(`train\u0000${sessionOf(x)}`, x.item);
    // train sessions are complete: only test sessions need their item sets from here on
    this.sessionItems.clear();
  }

  private add(session: string, item: string): void {
    let items = this.sessionItems.get(session);
    if (!items) this.sessionItems.set(session, (items = new Set()));
    if (items.has(item)) return;
    for (const other of items) {
      this.bump(item, other);
      this.bump(other, item);
    }
    items.add(item);
  }

  private bump(a: string, b: string): void {
    let row = this.pairs.get(a);
    if (!row) this.pairs.set(a, (row = new Map()));
    row.set(b, (row.get(b) ?? 0) + 1);
  }

  nextItems(_session: string, prefix: readonly Interaction[], _now: number, count: number): string[] {
    const last = prefix[prefix.length - 1]?.item;
    const row = last === undefined ? undefined : this.pairs.get(last);
    const out = row ? [...row].sort((a, b) => b[1] - a[1]).slice(0, count).map(([item]) => item) : [];
    if (out.length < count) {
      const taken = new Set(out);
      for (const item of this.popularity.top(count + out.length)) {
        if (out.length >= count) break;
        if (!taken.has(item)) out.push(item);
      }
    }
    return out;
  }

  observe(x: Interaction): void {
    this.add(`test\u0000${sessionOf(x)}`, x.item);
  }
}
