/**
 * Dense integer handles for item ids. Models index typed arrays and maps by these handles, which
 * is several times smaller and faster than string keys; ranking still breaks ties by the id string so
 * results never depend on the order in which items were first seen.
 */
import type { SessionItem } from './types.ts';
import { grownLength, widened } from './typed-arrays.ts';

/** UTF-16 code units packed per sort key: 3 × 17 bits fit a double's 53-bit mantissa exactly */
const UNITS_PER_KEY = 3;

/**
 * The id's code units from `from`, packed so that numeric order is string order: each unit is
 * stored as unit + 1 and a missing one (the id ended) as 0, which sorts a prefix before its
 * extensions as string comparison does.
 */
function sortKey(id: string, from: number): number {
  let key = 0;
  for (let i = from; i < from + UNITS_PER_KEY; i++) key = key * 65537 + (i < id.length ? id.charCodeAt(i) + 1 : 0);
  return key;
}

export class ItemIds {
  private readonly byId = new Map<string, number>();
  private readonly ids: string[] = [];
  /**
   * the first 3 and the next 3 code units of each id as numbers: ties between scores are frequent
   * (items with the same features or neighbours), and comparing two numbers from a typed array is
   * far cheaper than reaching two strings; the strings are compared only when 6 units agree
   */
  private head = new Float64Array(0);
  private next = new Float64Array(0);

  /** the handle of an id, allocating one on first sight */
  intern(itemId: string): number {
    let h = this.byId.get(itemId);
    if (h === undefined) {
      h = this.ids.length;
      this.ids.push(itemId);
      this.byId.set(itemId, h);
      if (h >= this.head.length) {
        const n = grownLength(this.head.length, h + 1);
        this.head = widened(this.head, n);
        this.next = widened(this.next, n);
      }
      this.head[h] = sortKey(itemId, 0);
      this.next[h] = sortKey(itemId, UNITS_PER_KEY);
    }
    return h;
  }

  /** the handle of a session item's id, memoised on the item (and checked: another instance may have set it) */
  internItem(it: SessionItem): number {
    const memo = it.handle;
    if (memo !== undefined && this.ids[memo] === it.itemId) return memo;
    const h = this.intern(it.itemId);
    it.handle = h;
    return h;
  }

  /** find() through the item's memo, without interning */
  findItem(it: SessionItem): number | undefined {
    const memo = it.handle;
    if (memo !== undefined && this.ids[memo] === it.itemId) return memo;
    return this.byId.get(it.itemId);
  }

  find(itemId: string): number | undefined {
    return this.byId.get(itemId);
  }

  idOf(handle: number): string {
    return this.ids[handle]!;
  }

  /** one more than the largest handle: the length scratch arrays indexed by handle need */
  get size(): number {
    return this.ids.length;
  }

  /** tie order of two handles: by id string (UTF-16 code units, as `<` compares), ascending */
  readonly compare = (a: number, b: number): number => {
    const ha = this.head[a]!;
    const hb = this.head[b]!;
    if (ha !== hb) return ha < hb ? -1 : 1;
    const na = this.next[a]!;
    const nb = this.next[b]!;
    if (na !== nb) return na < nb ? -1 : 1;
    const x = this.ids[a]!;
    const y = this.ids[b]!;
    return x < y ? -1 : x > y ? 1 : 0;
  };
}
