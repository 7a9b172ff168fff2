/**
 * Fills a list of exactly `count` items from ranked sources, in order, under two tiers of rules:
 *
 * - hard rules (admissibility): never broken;
 * - soft rules (per-category cap, recently shown items): an item breaking one is set aside, and
 *   set-aside items are let in only when nothing else qualifies, or once `softScanLimit` items have
 *   been examined (so a catalog dominated by one category cannot make every request scan it all).
 *
 * Sources are iterated lazily, so long fallback lists cost only what is read.
 */
import type { Item } from '../../catalog/item.ts';
import type { ExplainableReason } from '../explain/reasons.ts';
import type { CategoryCap } from './category-cap.ts';
import type { Admissibility } from './exclusions.ts';

export interface SourceItem {
  itemId: string;
  score: number;
  /** strongest first */
  reasons: readonly ExplainableReason[];
  /** generators that contributed, strongest first */
  generators: readonly string[];
  /** each blended generator's normalised score for the item (absent for fallbacks) */
  signals?: Readonly<Record<string, number>>;
}

export interface Pick {
  itemId: string;
  score: number;
  reasons: readonly ExplainableReason[];
  item: Item;
  /** where the item came from: its generators and signals are read from it for picked items only */
  source: Readonly<{ generators: readonly string[]; signals?: Readonly<Record<string, number>> }>;
}

export interface SelectionRules {
  count: number;
  admissible: Admissibility;
  /** recently shown to this person: shown again only when nothing else qualifies */
  demoted?: ReadonlySet<string>;
  cap?: CategoryCap;
  softScanLimit: number;
}

export function selectItems(sources: ReadonlyArray<Iterable<SourceItem>>, rules: SelectionRules): Pick[] {
  const { count, admissible, demoted, cap } = rules;
  const chosen: Pick[] = [];
  const seen = new Set<string>();
  const iterators = sources.map((s) => s[Symbol.iterator]());
  let current = 0;
  const next = (): Pick | undefined => {
    while (current < iterators.length) {
      const r = iterators[current]!.next();
      if (r.done) {
        current++;
        continue;
      }
      const c = r.value;
      if (seen.has(c.itemId)) continue;
      seen.add(c.itemId);
      const item = admissible(c.itemId);
      // spelt out: an object spread costs several times more on this path
      if (item) return { itemId: c.itemId, score: c.score, reasons: c.reasons, item, source: c };
    }
    return undefined;
  };
  const take = (p: Pick): void => {
    chosen.push(p);
    cap?.take(p.item);
  };
  const isDemoted = (p: Pick): boolean => demoted?.has(p.itemId) === true;
  const capAllows = (p: Pick): boolean => cap === undefined || cap.allows(p.item);

  const setAside: Pick[] = [];
  let examined = 0;
  while (chosen.length < count && (examined < rules.softScanLimit || setAside.length === 0)) {
    const p = next();
    if (!p) break;
    examined++;
    if (!isDemoted(p) && capAllows(p)) take(p);
    else setAside.push(p);
  }

  // relax one soft rule at a time: first the cap, then the demotion, then both
  const passes: Array<(p: Pick) => boolean> = [(p) => !isDemoted(p) && capAllows(p), (p) => !isDemoted(p), capAllows, () => true];
  const used = new Set<Pick>();
  for (const pass of passes) {
    for (const p of setAside) {
      if (chosen.length >= count) break;
      if (!used.has(p) && pass(p)) {
        used.add(p);
        take(p);
      }
    }
  }

  while (chosen.length < count) {
    const p = next();
    if (!p) break;
    take(p);
  }
  return chosen;
}
