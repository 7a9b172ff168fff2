/**
 * Exploration: a share of slots goes to an item the person would otherwise hardly see (a new item
 * with little interaction), so new items gather the feedback models need. Which slots and which
 * item follow from the request's seed, so the same request gives the same list.
 */
import type { Item } from '../../catalog/item.ts';
import { topCategoryOf } from './category-cap.ts';
import type { Admissibility } from './exclusions.ts';
import { rankScore } from '../top-k.ts';
import type { Random } from './seeded-random.ts';
import type { Pick } from './select.ts';

export interface ExplorationOptions {
  /** expected share of slots given to exploration, 0 disables it */
  rate: number;
  /** candidates examined from the pool (the newest items) */
  poolSize: number;
  /** the least interacted-with candidates among which one is drawn */
  drawFrom: number;
}

export const DEFAULT_EXPLORATION_OPTIONS: ExplorationOptions = { rate: 0.05, poolSize: 60, drawFrom: 8 };

export interface ExplorationInput {
  random: Random;
  /** newest first */
  pool: Iterable<Item>;
  admissible: Admissibility;
  demoted?: ReadonlySet<string>;
  /** at most this many items of one top-level category in the list */
  capMax?: number;
  /** how much an item has been interacted with (smaller is rarer) */
  exposure: (itemId: string) => number;
}

/** how many slots of a `count`-item list explore: count·rate, the fraction rounded up by chance; never the first slot */
export function explorationSlots(count: number, rate: number, random: Random): number {
  if (!(rate > 0) || count < 2) return 0;
  const expected = count * rate;
  const slots = Math.floor(expected) + (random() < expected - Math.floor(expected) ? 1 : 0);
  return Math.min(slots, count - 1);
}

const EXPLORATION_SOURCE = { generators: ['exploration'] } as const;

/** The list with exploration items inserted at drawn positions (after the first), keeping its length. */
export function explore(list: readonly Pick[], o: ExplorationOptions, input: ExplorationInput): Pick[] {
  const { random } = input;
  const slots = explorationSlots(list.length, o.rate, random);
  if (slots === 0) return [...list];
  const inList = new Set(list.map((p) => p.itemId));
  const pool: Array<{ item: Item; exposure: number }> = [];
  let examined = 0;
  for (const item of input.pool) {
    if (examined++ >= o.poolSize) break;
    if (inList.has(item.itemId) || input.demoted?.has(item.itemId) || !input.admissible(item.itemId)) continue;
    // at ranking precision: exposures summed in another order (sessions added then removed) tie alike
    pool.push({ item, exposure: rankScore(input.exposure(item.itemId)) });
  }
  pool.sort((a, b) => a.exposure - b.exposure || (a.item.itemId < b.item.itemId ? -1 : 1));
  const draw = pool.slice(0, o.drawFrom).map((p) => p.item);

  const out = [...list];
  for (let s = 0; s < slots && draw.length > 0; s++) {
    const item = draw.splice(Math.floor(random() * draw.length), 1)[0]!;
    const at = 1 + Math.floor(random() * (out.length - 1));
    const kept = out.slice(0, -1);
    if (input.capMax !== undefined && exceedsCap(kept, item, input.capMax)) continue;
    out.splice(at, 0, { itemId: item.itemId, item, score: out[at]!.score, reasons: [{ type: 'exploration' }], source: EXPLORATION_SOURCE });
    out.pop();
  }
  return out;
}

function exceedsCap(list: readonly Pick[], item: Item, max: number): boolean {
  const c = topCategoryOf(item);
  if (c === undefined) return false;
  let n = 0;
  for (const p of list) if (topCategoryOf(p.item) === c) n++;
  return n >= max;
}
