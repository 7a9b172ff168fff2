/**
 * The ledger of stored messageIds, by which a repeated event is recognised (CONTRACT §4: dedupe
 * across restarts). An exact set of strings, held as an open-addressing hash table over typed arrays:
 * a lookup of an id not in it, the common case, reads one slot of one array instead of chasing a
 * `Set`'s buckets and entries, and growing it moves numbers, not objects. The key of an id, a 52-bit
 * hash, can be computed ahead, off the thread that owns the ledger (bulk import's parsing thread
 * sends it with each event); two ids with one key are still told apart by comparing the strings.
 */

/** avalanche of a 32-bit value (MurmurHash3's finaliser) */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const LOW_BITS = 2 ** 20;

/** The ledger key of a messageId: two independent 32-bit hashes of its UTF-16 units, 52 bits of them. */
export function messageIdKey(id: string): number {
  let a = 0x811c9dc5 ^ id.length;
  let b = 0x9747b28c;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return mix(a) * LOW_BITS + (mix(b) >>> 12);
}

const EMPTY = -1;
const DELETED = -2;
const MIN_CAPACITY = 1024;
/** rebuilt once entries and DELETED marks fill this share of the slots, to half of it */
const MAX_LOAD = 0.7;

/** the part of a key a slot keeps: its low 32 bits (the slot's position already tells most of the rest) */
const fingerprint = (key: number): number => (key % 4294967296) | 0;

export class MessageLedger {
  /**
   * two int32 per slot, eight slots to a cache line: [2s] the fingerprint of the entry's key,
   * [2s + 1] the entry (an index into `ids`), EMPTY or DELETED
   */
  private slots = MessageLedger.emptySlots(MIN_CAPACITY);
  private mask = MIN_CAPACITY - 1;
  /** per entry: its id (undefined once deleted) and key; entries are compacted when the table is rebuilt */
  private ids: Array<string | undefined> = [];
  private entryKeys = new Float64Array(MIN_CAPACITY / 2);
  private live = 0;
  /** slots that are not EMPTY: entries and DELETED marks (probes stop only at EMPTY) */
  private used = 0;

  private static emptySlots(capacity: number): Int32Array {
    const slots = new Int32Array(2 * capacity);
    for (let s = 1; s < slots.length; s += 2) slots[s] = EMPTY;
    return slots;
  }

  get size(): number {
    return this.live;
  }

  private get capacity(): number {
    return this.slots.length >> 1;
  }

  /** the slot holding `id`, or -1 */
  private find(id: string, key: number): number {
    const { slots, mask, ids } = this;
    const fp = fingerprint(key);
    for (let s = (key / LOW_BITS) & mask; ; s = (s + 1) & mask) {
      const r = slots[2 * s + 1]!;
      if (r === EMPTY) return -1;
      if (slots[2 * s] === fp && r >= 0 && ids[r] === id) return s;
    }
  }

  has(id: string, key = messageIdKey(id)): boolean {
    return this.find(id, key) >= 0;
  }

  /** adds `id`; false when it was there already */
  add(id: string, key = messageIdKey(id)): boolean {
    // slots taken (by entries or DELETED marks) past the load, or as many entries made as there are
    // slots (deleted ones reused theirs): rebuilt, dropping what deletion left behind
    if (this.used + 1 > MAX_LOAD * this.capacity || this.ids.length >= this.capacity) this.rebuild();
    const { slots, mask, ids } = this;
    const fp = fingerprint(key);
    // one probe: past every slot that could hold the id, remembering the first reusable one
    let free = -1;
    let s = (key / LOW_BITS) & mask;
    for (; ; s = (s + 1) & mask) {
      const r = slots[2 * s + 1]!;
      if (r === EMPTY) break;
      if (r === DELETED) {
        if (free < 0) free = s;
      } else if (slots[2 * s] === fp && ids[r] === id) return false;
    }
    if (free < 0) {
      free = s;
      this.used++;
    }
    const entry = ids.length;
    if (entry >= this.entryKeys.length) {
      const grown = new Float64Array(this.entryKeys.length * 2);
      grown.set(this.entryKeys);
      this.entryKeys = grown;
    }
    ids.push(id);
    this.entryKeys[entry] = key;
    slots[2 * free] = fp;
    slots[2 * free + 1] = entry;
    this.live++;
    return true;
  }

  /** removes `id`; false when it was not there */
  delete(id: string, key = messageIdKey(id)): boolean {
    const s = this.find(id, key);
    if (s < 0) return false;
    this.ids[this.slots[2 * s + 1]!] = undefined;
    this.slots[2 * s + 1] = DELETED;
    this.live--;
    return true;
  }

  /**
   * A table sized for the live entries at half the load that triggers a rebuild, without the DELETED
   * marks; the entries are compacted when deletion left holes among them.
   */
  private rebuild(): void {
    let capacity = MIN_CAPACITY;
    while ((this.live + 1) > (MAX_LOAD / 2) * capacity) capacity *= 2;
    const slots = MessageLedger.emptySlots(capacity);
    const mask = capacity - 1;
    let ids = this.ids;
    let entryKeys = this.entryKeys;
    if (this.live < ids.length) {
      // drop the deleted entries: renumber the live ones in order
      const kept: string[] = [];
      const keptKeys = new Float64Array(Math.max(MIN_CAPACITY / 2, 2 * this.live));
      for (let e = 0; e < ids.length; e++) {
        const id = ids[e];
        if (id === undefined) continue;
        keptKeys[kept.length] = entryKeys[e]!;
        kept.push(id);
      }
      ids = kept;
      entryKeys = keptKeys;
    }
    for (let e = 0; e < ids.length; e++) {
      const key = entryKeys[e]!;
      let s = (key / LOW_BITS) & mask;
      while (slots[2 * s + 1] !== EMPTY) s = (s + 1) & mask;
      slots[2 * s] = fingerprint(key);
      slots[2 * s + 1] = e;
    }
    this.slots = slots;
    this.mask = mask;
    this.ids = ids;
    this.entryKeys = entryKeys;
    this.used = ids.length;
  }
}
