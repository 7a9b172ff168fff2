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

export class MessageLedger {
  /**
   * two numbers per slot, so that a probe reads one cache line: [2s] the key of the entry there,
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

  private static emptySlots(capacity: number): Float64Array {
    const slots = new Float64Array(2 * capacity);
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
    for (let s = (key / LOW_BITS) & mask; ; s = (s + 1) & mask) {
      const r = slots[2 * s + 1]!;
      if (r === EMPTY) return -1;
      if (slots[2 * s] === key && r >= 0 && ids[r] === id) return s;
    }
  }

  has(id: string, key = messageIdKey(id)): boolean {
    return this.find(id, key) >= 0;
  }

  /** adds `id`; false when it was there already */
  add(id: string, key = messageIdKey(id)): boolean {
    // half the slots taken (by entries or DELETED marks), or as many entries made as there are slots
    // (deleted ones reused their slots): rebuilt, dropping what deletion left behind
    if ((this.used + 1) * 2 > this.capacity || this.ids.length >= this.capacity) this.rebuild();
    const { slots, mask, ids } = this;
    // one probe: past every slot that could hold the id, remembering the first reusable one
    let free = -1;
    let s = (key / LOW_BITS) & mask;
    for (; ; s = (s + 1) & mask) {
      const r = slots[2 * s + 1]!;
      if (r === EMPTY) break;
      if (r === DELETED) {
        if (free < 0) free = s;
      } else if (slots[2 * s] === key && ids[r] === id) return false;
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
    slots[2 * free] = key;
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
   * A table sized for the live entries with room to grow (load at most a quarter after it), without
   * the DELETED marks, and the entries compacted.
   */
  private rebuild(): void {
    let capacity = MIN_CAPACITY;
    while (capacity < 4 * (this.live + 1)) capacity *= 2;
    const slots = MessageLedger.emptySlots(capacity);
    const mask = capacity - 1;
    const ids: string[] = [];
    const entryKeys = new Float64Array(Math.max(MIN_CAPACITY / 2, capacity / 2));
    for (let e = 0; e < this.ids.length; e++) {
      const id = this.ids[e];
      if (id === undefined) continue;
      const key = this.entryKeys[e]!;
      let s = (key / LOW_BITS) & mask;
      while (slots[2 * s + 1] !== EMPTY) s = (s + 1) & mask;
      slots[2 * s] = key;
      slots[2 * s + 1] = ids.length;
      entryKeys[ids.length] = key;
      ids.push(id);
    }
    this.slots = slots;
    this.mask = mask;
    this.ids = ids;
    this.entryKeys = entryKeys;
    this.used = ids.length;
  }
}
