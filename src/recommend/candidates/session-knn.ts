/**
 * Session neighbourhood recommendations after V-SKNN (Ludewig & Jannach 2018) and STAN (Garg et al.
 * 2019): find past sessions that share items with the current one, weigh them by how much they
 * share (recent positions of the current session and rare items count more) and how recent they
 * are, then score their items, favouring those close to the shared item.
 *
 * The index maps each item to the sessions containing it. As in V-SKNN, a query considers only the
 * `sampleSize` most recent sessions sharing an item with the current one: it merges the per-item
 * lists from their recent ends, so it touches about `sampleSize` sessions whatever the history size.
 * "Most recent" is by session start, which stays put while a session grows (V-SKNN's reference code
 * sorts past sessions by their last event; for closed sessions the two orders differ only among
 * sessions that overlapped in time). How recent a neighbour is when it votes is still its last event.
 */
import type { ItemIds } from '../item-ids.ts';
import { recentInterest, showsInterest } from '../query-items.ts';
import { TopK } from '../top-k.ts';
import { grownLength, widened } from '../typed-arrays.ts';
import { byRecency, removeAt, SessionPostings, type IndexedSession } from './session-postings.ts';
import type { Candidate, CandidateGenerator, RecommendQuery, SessionChange, SessionModel, SessionRecord } from '../types.ts';
import { ScoreBoard } from './score-board.ts';

const DAY_MS = 86_400_000;
/** marks are reset before generations outgrow an Int32Array (reorder takes two per call) */
const MARK_GENERATIONS = 2 ** 30;

export interface SessionKnnOptions {
  /** neighbour sessions that vote */
  k: number;
  /** most recent sessions sharing an item with the current session that are considered */
  sampleSize: number;
  /** most recent items of the current session used */
  maxSessionItems: number;
  /** how earlier positions of the current session fade: linearly (V-SKNN) or exponentially (STAN) */
  positionWeighting: 'linear' | 'exponential';
  /** STAN λ1: positions over which an earlier item's weight falls by a factor e */
  positionDecay: number;
  /** STAN λ2: days over which a neighbour session's weight falls by a factor e */
  recencyDecayDays: number;
  /** STAN λ3: positions from the shared item over which a neighbour's item weight falls by a factor e */
  itemDistanceDecay: number;
  /** weigh shared items by inverse session frequency, so sharing a rare item counts more */
  idfWeighting: boolean;
  /**
   * neighbours also vote for the current session's own items (as V-STAN with reminders does); off,
   * those items are left to the in-session generator
   */
  scoreSessionItems: boolean;
}

/**
 * k and the sample sit in the range reported as good for V-SKNN on e-commerce data (k 100–500
 * neighbours out of the 500–1000 most recent sessions); the λ values are the STAN defaults of its
 * public implementations (λ1 = λ3 = 3.54 positions, λ2 = 20 days).
 */
export const DEFAULT_SESSION_KNN_OPTIONS: SessionKnnOptions = {
  k: 100,
  sampleSize: 500,
  maxSessionItems: 10,
  positionWeighting: 'exponential',
  positionDecay: 3.54,
  recencyDecayDays: 20,
  itemDistanceDecay: 3.54,
  idfWeighting: true,
  scoreSessionItems: false,
};

export class SessionKnnModel implements SessionModel, CandidateGenerator {
  readonly name = 'session-knn';
  private readonly o: SessionKnnOptions;
  private readonly sessions = new Map<string, IndexedSession>();
  /** item handle → sessions containing it */
  private readonly postings = new Map<number, SessionPostings>();
  private readonly board: ScoreBoard;
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  /**
   * per slot, interleaved: [2·slot] the session's end time (it moves as the session grows; the
   * postings hold starts), [2·slot + 1] its number of distinct items. Read together when a session
   * joins a query's sample, so scoring it touches neither the session object nor another cache line.
   */
  private slotInfo = new Float64Array(2048);
  /** scratch of spliceSession: the appended items */
  private readonly appended: number[] = [];
  // the current query's sample, reused across queries: only [0, sampled) is meaningful
  private readonly sampleSessions: IndexedSession[] = [];
  private readonly sampleMatch: Float64Array;
  /** end time and distinct items of each sampled session, copied from the slot arrays as it joins */
  private readonly sampleEnd: Float64Array;
  private readonly sampleLength: Float64Array;
  private readonly sampleAnchorPos: Int32Array;
  private readonly sampleAnchorItem: Int32Array;

  constructor(
    private readonly ids: ItemIds,
    options: Partial<SessionKnnOptions> = {},
  ) {
    this.o = { ...DEFAULT_SESSION_KNN_OPTIONS, ...options };
    this.board = new ScoreBoard(ids);
    this.sampleMatch = new Float64Array(this.o.sampleSize);
    this.sampleEnd = new Float64Array(this.o.sampleSize);
    this.sampleLength = new Float64Array(this.o.sampleSize);
    this.sampleAnchorPos = new Int32Array(this.o.sampleSize);
    this.sampleAnchorItem = new Int32Array(this.o.sampleSize);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** keys of the indexed sessions containing an item, most recent first (for inspection and tests) */
  sessionsWith(itemId: string): string[] {
    const h = this.ids.find(itemId);
    const postings = h === undefined ? undefined : this.postings.get(h);
    return postings ? postings.all().map((s) => s.key) : [];
  }

  addSession(s: SessionRecord): void {
    const existing = this.sessions.get(s.key);
    if (existing) {
      existing.copies++;
      return;
    }
    const items = this.distinctByLastOccurrence(s);
    if (items.length === 0) return;
    const entry: IndexedSession = { key: s.key, start: s.start, end: s.end, items, copies: 1, slot: this.allocateSlot() };
    this.slotInfo[2 * entry.slot] = s.end;
    this.slotInfo[2 * entry.slot + 1] = items.length;
    this.sessions.set(s.key, entry);
    for (const item of items) this.postOne(entry, item);
  }

  private postOne(entry: IndexedSession, item: number): void {
    let postings = this.postings.get(item);
    if (!postings) {
      postings = new SessionPostings(2 * this.o.sampleSize);
      this.postings.set(item, postings);
    }
    postings.add(entry);
  }

  private unpostOne(entry: IndexedSession, item: number): void {
    const postings = this.postings.get(item);
    if (postings && postings.remove(entry) === 0) this.postings.delete(item);
  }

  /**
   * A session that changed in one place keeps its slot and its place in the postings of the items it
   * still has (they are ordered by start, which stayed); its end and item order change, it leaves
   * the postings of items it lost and joins those of items it gained. Events appended to it cost
   * what they append: only the appended items are looked up. A change inside it reorders its items
   * in one pass over the session, with no per-pair work. A new start (an event before its first one)
   * moves it in every posting list: it is removed and added. Leaves the index exactly as
   * removeSession(prev) + addSession(next).
   */
  spliceSession(prev: SessionRecord, next: SessionRecord, change: SessionChange): void {
    const entry = this.sessions.get(prev.key);
    if (!entry || entry.copies !== 1 || prev.key !== next.key || next.start !== entry.start) {
      this.removeSession(prev);
      this.addSession(next);
      return;
    }
    if (change.removed === 0 && change.at === prev.size) this.append(entry, next, change.at);
    else if (!this.reorder(entry, next)) return;
    entry.end = next.end;
    this.slotInfo[2 * entry.slot] = next.end;
    this.slotInfo[2 * entry.slot + 1] = entry.items.length;
  }

  /** the items of next.items[from, size) move to the end of the entry's order, joining postings they were not in */
  private append(entry: IndexedSession, next: SessionRecord, from: number): void {
    // the appended items of interest, distinct by last occurrence, most recent first (scratch reused)
    const appended = this.appended;
    appended.length = 0;
    for (let i = next.size - 1; i >= from; i--) {
      const it = next.items[i]!;
      if (!showsInterest(it)) continue;
      const h = this.ids.internItem(it);
      if (!appended.includes(h)) appended.push(h);
    }
    // in place (the entry owns its item array): each appended item moves to the end, oldest first;
    // one the session did not have yet joins that item's postings
    const items = entry.items;
    for (let k = appended.length - 1; k >= 0; k--) {
      const h = appended[k]!;
      const at = items.indexOf(h);
      if (at >= 0) removeAt(items, at);
      else this.postOne(entry, h);
      items.push(h);
    }
  }

  /** the entry takes next's items in their new order; false when none is left and the entry went */
  private reorder(entry: IndexedSession, next: SessionRecord): boolean {
    const items = this.distinctByLastOccurrence(next);
    if (items.length === 0) {
      this.removeSession(next);
      return false;
    }
    // marked by distinctByLastOccurrence: in the new order; re-marked below: held before as well
    const inNext = this.markGeneration;
    const inBoth = ++this.markGeneration;
    const mark = this.marks;
    for (const h of entry.items) {
      if (mark[h] === inNext) mark[h] = inBoth;
      else this.unpostOne(entry, h);
    }
    for (const h of items) if (mark[h] !== inBoth) this.postOne(entry, h);
    entry.items = items;
    return true;
  }

  removeSession(s: SessionRecord): void {
    const entry = this.sessions.get(s.key);
    if (!entry || --entry.copies > 0) return;
    this.sessions.delete(s.key);
    for (const item of entry.items) this.unpostOne(entry, item);
    this.freeSlots.push(entry.slot);
  }

  /** per item handle, the generation that last marked it (distinct items without a set) */
  private marks = new Int32Array(1024);
  private markGeneration = 0;

  /**
   * The session's distinct items of interest ordered by their last occurrence, oldest first; each is
   * left marked with the current markGeneration.
   */
  private distinctByLastOccurrence(s: SessionRecord): number[] {
    if (this.markGeneration >= MARK_GENERATIONS) {
      this.marks.fill(0);
      this.markGeneration = 0;
    }
    const generation = ++this.markGeneration;
    const reversed: number[] = [];
    for (let i = s.size - 1; i >= 0; i--) {
      const it = s.items[i]!;
      if (!showsInterest(it)) continue;
      const h = this.ids.internItem(it);
      if (h >= this.marks.length) this.marks = widened(this.marks, grownLength(this.marks.length, h + 1));
      if (this.marks[h] === generation) continue;
      this.marks[h] = generation;
      reversed.push(h);
    }
    // slice: an exact-length copy, since arrays grown by push keep spare capacity for as long as they live
    return reversed.reverse().slice();
  }

  private allocateSlot(): number {
    const reused = this.freeSlots.pop();
    if (reused !== undefined) return reused;
    if (2 * this.nextSlot === this.slotInfo.length) this.slotInfo = widened(this.slotInfo, grownLength(this.slotInfo.length, 2 * this.nextSlot + 2));
    return this.nextSlot++;
  }

  private positionWeight(pos: number, length: number): number {
    return this.o.positionWeighting === 'linear' ? (pos + 1) / length : Math.exp((pos + 1 - length) / this.o.positionDecay);
  }

  generate(q: RecommendQuery, limit: number): Candidate[] {
    const current = this.currentSession(q);
    if (current.length === 0 || limit <= 0) return [];
    const sampled = this.sample(current);
    if (sampled === 0) return [];
    const sessions = this.sampleSessions;
    const match = this.sampleMatch;
    const anchorItem = this.sampleAnchorItem;
    const ends = this.sampleEnd;
    const lengths = this.sampleLength;
    const neighbours = new TopK(this.o.k, (a, b) => byRecency(sessions[a]!, sessions[b]!));
    const recencyMs = this.o.recencyDecayDays * DAY_MS;
    // from dense arrays only: a session object is read for ties and for the k neighbours that vote
    for (let i = 0; i < sampled; i++) {
      const age = Math.max(0, q.now - ends[i]!);
      neighbours.push(i, (match[i]! / Math.sqrt(lengths[i]!)) * Math.exp(-age / recencyMs));
    }
    const { handles, scores } = neighbours.drain();
    this.board.begin();
    if (!this.o.scoreSessionItems) for (const item of current) this.board.exclude(item);
    const distanceWeight = this.distanceWeights();
    for (let n = 0; n < handles.length; n++) {
      const i = handles[n]!;
      const s = sessions[i]!;
      const sim = scores[n]!;
      const anchor = anchorItem[i]!;
      const anchorAt = s.items.indexOf(anchor);
      for (let p = 0; p < s.items.length; p++) {
        const d = Math.abs(p - anchorAt);
        this.board.add(s.items[p]!, sim * (d < distanceWeight.length ? distanceWeight[d]! : Math.exp(-d / this.o.itemDistanceDecay)), anchor);
      }
    }
    return this.board.top(limit, () => 'similar_session', false);
  }

  /**
   * Fills the sample scratch with the `sampleSize` most recent sessions sharing an item with the
   * current session, each with its match weight (sum over shared items of position weight × idf)
   * and its most recent shared item; returns how many. Walks every current item's postings from
   * the recent end, always advancing the list whose next session is the most recent, so sessions
   * arrive in global recency order.
   */
  private sample(current: readonly number[]): number {
    const total = this.sessions.size;
    const lists: Array<{ pos: number; weight: number; item: number; postings: SessionPostings; cursor: number }> = [];
    // start times of the lists' heads: choosing the next session reads one small array, and walking a
    // list reads its dense start and slot arrays; a session object is touched once, when it joins
    const headStart = new Float64Array(current.length).fill(-Infinity);
    for (let pos = 0; pos < current.length; pos++) {
      const item = current[pos]!;
      const postings = this.postings.get(item);
      if (!postings) continue;
      const idf = this.o.idfWeighting ? Math.log(1 + total / postings.size) : 1;
      headStart[lists.length] = postings.recentStartAt(0);
      lists.push({ pos, weight: this.positionWeight(pos, current.length) * idf, item, postings, cursor: 0 });
    }
    const sessions = this.sampleSessions;
    const match = this.sampleMatch;
    const anchorPos = this.sampleAnchorPos;
    const anchorItem = this.sampleAnchorItem;
    const sampleEnd = this.sampleEnd;
    let sampled = 0;
    let lastSlot = -1;
    let at = -1;
    for (;;) {
      let best = -1;
      let bestStart = -Infinity;
      for (let i = 0; i < lists.length; i++) {
        const start = headStart[i]!;
        if (start > bestStart) {
          best = i;
          bestStart = start;
        } else if (start === bestStart && start !== -Infinity) {
          // equal start times: the tie order of byRecency (larger key first) decides, as for one list
          const a = lists[i]!;
          const b = lists[best]!;
          if (byRecency(a.postings.recentAt(a.cursor)!, b.postings.recentAt(b.cursor)!) < 0) best = i;
        }
      }
      if (best < 0) break;
      const list = lists[best]!;
      const slot = list.postings.recentSlotAt(list.cursor);
      // Sessions arrive in recency order, and every list holding a session has it at its head when it
      // is the most recent: a session's occurrences in several lists come one after another. So a slot
      // other than the last one is a session new to the sample, with no per-slot mark to look up.
      if (slot !== lastSlot) {
        // once the sample is full, only the remaining occurrences of its last session are read
        if (sampled >= this.o.sampleSize) break;
        at = sampled++;
        sessions[at] = list.postings.recentAt(list.cursor)!;
        sampleEnd[at] = this.slotInfo[2 * slot]!;
        this.sampleLength[at] = this.slotInfo[2 * slot + 1]!;
        match[at] = 0;
        anchorPos[at] = -1;
        anchorItem[at] = -1;
        lastSlot = slot;
      }
      headStart[best] = list.postings.recentStartAt(++list.cursor);
      match[at]! += list.weight;
      if (list.pos > anchorPos[at]!) {
        anchorPos[at] = list.pos;
        anchorItem[at] = list.item;
      }
    }
    return sampled;
  }

  /** exp(−d/λ3) for the distances most sessions have */
  private distanceTable: Float64Array | undefined;
  private distanceWeights(): Float64Array {
    this.distanceTable ??= Float64Array.from({ length: 64 }, (_, d) => Math.exp(-d / this.o.itemDistanceDecay));
    return this.distanceTable;
  }

  /** the current session as item handles, oldest first */
  private currentSession(q: RecommendQuery): number[] {
    const recent = recentInterest(q, this.o.maxSessionItems);
    const out: number[] = [];
    for (let i = recent.length - 1; i >= 0; i--) {
      const h = this.ids.find(recent[i]!);
      if (h !== undefined) out.push(h);
    }
    return out;
  }
}
