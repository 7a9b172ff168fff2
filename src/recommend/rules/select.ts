/**
 * Fills a list of exactly `count` items from ranked sources, in order, under two tiers of rules:
 *
 * - hard rules (admissibility): never broken;
 * - soft rules (per-category cap, recently shown items): an item breaking one is set aside, and
 *   set-aside items are let in only when nothing else qualifies, or once `softScanLimit` items have
 *   been examined (so a catalog dominated by one category cannot make every request scan it all);
 *   before a category is let beyond its cap, `rescue` is asked for items of the other categories.
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
  /**
   * Where to look once the scan limit is reached with items set aside for the cap: items of the
   * categories still open (`open` takes a category key, as the cap counts them), read lazily
   */
  rescue?: (open: (categoryKey: string) => boolean) => Iterable<SourceItem>;
}

/** one selection's state: the sources' iterators, what was seen, what was chosen */
class Selection {
  readonly chosen: Pick[] = [];
  private readonly seen = new Set<string>();
  private readonly iterators: Iterator<SourceItem>[];
  private current = 0;

  constructor(
    sources: ReadonlyArray<Iterable<SourceItem>>,
    private readonly rules: SelectionRules,
  ) {
    this.iterators = sources.map((s) => s[Symbol.iterator]());
  }

  /** the next admissible item not yet seen, from the first source that has one */
  next(): Pick | undefined {
    const iterators = this.iterators;
    while (this.current < iterators.length) {
      const r = iterators[this.current]!.next();
      if (r.done) {
        this.current++;
        continue;
      }
      const p = this.admit(r.value);
      if (p) return p;
    }
    return undefined;
  }

  /** the candidate as a pick, when it was not seen before and is admissible */
  admit(c: SourceItem): Pick | undefined {
    if (this.seen.has(c.itemId)) return undefined;
    this.seen.add(c.itemId);
    const item = this.rules.admissible(c.itemId);
    // spelt out: an object spread costs several times more on this path
    return item ? { itemId: c.itemId, score: c.score, reasons: c.reasons, item, source: c } : undefined;
  }

  take(p: Pick): void {
    this.chosen.push(p);
    this.rules.cap?.take(p.item);
  }

  isDemoted(p: Pick): boolean {
    return this.rules.demoted?.has(p.itemId) === true;
  }

  capAllows(p: Pick): boolean {
    return this.rules.cap === undefined || this.rules.cap.allows(p.item);
  }

  get full(): boolean {
    return this.chosen.length >= this.rules.count;
  }
}

// A class rather than closures over locals: the dev loader (tsx) keeps function names, which costs a
// property definition for every named closure created per call, and this runs for every request.
export function selectItems(sources: ReadonlyArray<Iterable<SourceItem>>, rules: SelectionRules): Pick[] {
  const s = new Selection(sources, rules);
  const setAside: Pick[] = [];
  let examined = 0;
  while (!s.full && (examined < rules.softScanLimit || setAside.length === 0)) {
    const p = s.next();
    if (!p) break;
    examined++;
    if (!s.isDemoted(p) && s.capAllows(p)) s.take(p);
    else setAside.push(p);
  }

  // the scan stopped at its limit with items set aside for the cap: other categories' items may lie
  // beyond it, so ask where they are before letting a category fill more than its share
  const cap = rules.cap;
  if (!s.full && cap && rules.rescue && setAside.some((p) => !s.isDemoted(p) && !s.capAllows(p))) {
    for (const c of rules.rescue((key) => cap.isOpen(key))) {
      const p = s.admit(c);
      if (p && !s.isDemoted(p) && s.capAllows(p)) s.take(p);
      if (s.full) break;
    }
  }

  // relax one soft rule at a time: first the cap, then the demotion, then both
  if (!s.full && setAside.length > 0) {
    const passes: Array<(p: Pick) => boolean> = [(p) => !s.isDemoted(p) && s.capAllows(p), (p) => !s.isDemoted(p), (p) => s.capAllows(p), () => true];
    const used = new Set<Pick>();
    for (const pass of passes) {
      for (const p of setAside) {
        if (s.full) break;
        if (!used.has(p) && pass(p)) {
          used.add(p);
          s.take(p);
        }
      }
    }
  }

  while (!s.full) {
    const p = s.next();
    if (!p) break;
    s.take(p);
  }
  return s.chosen;
}
