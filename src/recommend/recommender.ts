/**
 * The recommendation facade the engine and server call: it owns the models, asks the generators the
 * placement weighs, blends them, applies the rules, falls back to trending, popular, newest and
 * finally any eligible item so the list is always full, and explains every item.
 */
import { categoryKey, type Item } from '../catalog/item.ts';
import { ContentModel, type ContentOptions } from './candidates/content.ts';
import { CovisitModel, type CovisitOptions } from './candidates/covisit.ts';
import { InSessionGenerator, type InSessionOptions } from './candidates/in-session.ts';
import { NewestItems, type NewestOptions } from './candidates/newest.ts';
import { PopularityModel, type PopularityOptions, type RankingKind } from './candidates/popularity.ts';
import { SessionKnnModel, type SessionKnnOptions } from './candidates/session-knn.ts';
import { explainReasons, type Audience } from './explain/reasons.ts';
import { MatrixModelHolder, type MatrixOptions } from './model/holder.ts';
import { ItemIds } from './item-ids.ts';
import { purchasedItems, showsInterest } from './query-items.ts';
import { blend, DEFAULT_PLACEMENT_WEIGHTS, weightsFor, type BlendedCandidate, type BlendedRanking, type GeneratorWeights } from './rank/blend.ts';
import type { ExplainableReason } from './explain/reasons.ts';
import { capFor, CategoryCap } from './rules/category-cap.ts';
import { admissibility } from './rules/exclusions.ts';
import { DEFAULT_EXPLORATION_OPTIONS, explore, type ExplorationOptions } from './rules/exploration.ts';
import { filterTopCategory, type RecommendFilter } from './rules/filter.ts';
import { seededRandom } from './rules/seeded-random.ts';
import { selectItems, type Pick, type SourceItem } from './rules/select.ts';
import type { Candidate, CandidateGenerator, CatalogListener, CatalogView, Reason, RecommendQuery, SessionChange, SessionModel, SessionRecord } from './types.ts';

export type { RecommendFilter } from './rules/filter.ts';

export interface RecommendOptions {
  count: number;
  filter?: RecommendFilter;
  excludeItems?: ReadonlySet<string>;
  /** items recently shown to this person: demoted unless nothing else qualifies */
  recentImpressions?: ReadonlySet<string>;
  placement?: string;
  /** drives exploration: the same seed gives the same list */
  seed: string;
  /** purchased items are excluded unless this is false */
  excludePurchased?: boolean;
  /** generator weights to blend with instead of the placement's configured ones (learned, or an experiment's) */
  weights?: GeneratorWeights;
}

export interface RecommendedItem {
  itemId: string;
  score: number;
  reasons: Reason[];
}

export interface Recommendations {
  items: RecommendedItem[];
  /** generators that contributed, joined by '+' ("none" for an empty list) */
  strategy: string;
}

/** What serving keeps of an answer beyond its JSON: per item, the blended generators' normalised scores. */
export interface ScoredRecommendations extends Recommendations {
  signals: Array<Readonly<Record<string, number>>>;
}

export interface RecommenderSettings {
  covisit: Partial<CovisitOptions>;
  sessionKnn: Partial<SessionKnnOptions>;
  content: Partial<ContentOptions>;
  popularity: Partial<PopularityOptions>;
  newest: Partial<NewestOptions>;
  /** reminders of the session's own items (a placement weighing them also stops demoting those items) */
  inSession: Partial<InSessionOptions>;
  /** the collaborative (EASE) model: training, schedule and serving (src/recommend/model/) */
  matrix: Partial<MatrixOptions>;
  exploration: Partial<ExplorationOptions>;
  /** generator weights per placement; `default` serves unknown placements */
  placements: Record<string, GeneratorWeights>;
  /** share of a list one top-level category may fill; 1 disables the cap */
  categoryCapShare: number;
  /** candidates asked of each generator: max(minCandidates, count × candidatesPerSlot) */
  candidatesPerSlot: number;
  minCandidates: number;
  /** items examined before capped or recently shown items are let in */
  softScanLimit: number;
  /** reasons kept per item */
  maxReasons: number;
}

export const DEFAULT_RECOMMENDER_SETTINGS: RecommenderSettings = {
  covisit: {},
  sessionKnn: {},
  content: {},
  popularity: {},
  newest: {},
  inSession: {},
  matrix: {},
  exploration: {},
  placements: { ...DEFAULT_PLACEMENT_WEIGHTS },
  categoryCapShare: 0.5,
  candidatesPerSlot: 4,
  minCandidates: 40,
  softScanLimit: 2000,
  maxReasons: 3,
};

/** order in which contributing generators are named in `strategy` */
const STRATEGY_ORDER = ['in-session', 'session-knn', 'covisit', 'collaborative', 'content', 'trending', 'popular', 'new', 'catalog', 'exploration'];
/** score scale of fallback items, kept below what any blended item scores in practice */
const FALLBACK_SCALE = 0.01;
const MAX_COUNT = 1000;
/** catalog items the category rescue looks at, newest first (a few ms at most, and only when a cap needs it) */
const RESCUE_SCAN = 50_000;

export class Recommender implements SessionModel, CatalogListener {
  readonly ids = new ItemIds();
  readonly covisit: CovisitModel;
  readonly sessionKnn: SessionKnnModel;
  readonly content: ContentModel;
  readonly popularity: PopularityModel;
  readonly newest: NewestItems;
  readonly inSession: InSessionGenerator;
  /** the collaborative model, trained off the main thread and swapped in (start/retrain/status/stop) */
  readonly matrix: MatrixModelHolder;
  private readonly settings: RecommenderSettings;
  private readonly generators: CandidateGenerator[];
  private readonly exploration: ExplorationOptions;

  constructor(
    private readonly catalog: CatalogView,
    options: Partial<RecommenderSettings> = {},
  ) {
    this.settings = { ...DEFAULT_RECOMMENDER_SETTINGS, ...options, placements: { ...DEFAULT_RECOMMENDER_SETTINGS.placements, ...options.placements } };
    const s = this.settings;
    this.covisit = new CovisitModel(this.ids, s.covisit);
    this.sessionKnn = new SessionKnnModel(this.ids, s.sessionKnn);
    this.content = new ContentModel(this.ids, s.content);
    this.popularity = new PopularityModel(this.ids, catalog, s.popularity);
    this.newest = new NewestItems(catalog, s.newest);
    this.inSession = new InSessionGenerator(s.inSession);
    this.matrix = new MatrixModelHolder(s.matrix);
    this.exploration = { ...DEFAULT_EXPLORATION_OPTIONS, ...s.exploration };
    this.generators = [this.inSession, this.sessionKnn, this.covisit, this.content, this.popularity.trending, this.popularity.popular, this.newest, this.matrix];
  }

  addSession(s: SessionRecord): void {
    this.sessionKnn.addSession(s);
    this.covisit.addSession(s);
    this.popularity.addSession(s);
    this.matrix.addSession(s);
  }

  removeSession(s: SessionRecord): void {
    this.sessionKnn.removeSession(s);
    this.covisit.removeSession(s);
    this.popularity.removeSession(s);
    this.matrix.removeSession(s);
  }

  withdrawn(s: SessionRecord): void {
    this.matrix.withdrawn(s);
  }

  /** the engine's path for a session that changed in one place: each model updates what changed */
  spliceSession(prev: SessionRecord, next: SessionRecord, change: SessionChange): void {
    this.sessionKnn.spliceSession(prev, next, change);
    this.covisit.spliceSession(prev, next, change);
    this.popularity.spliceSession(prev, next, change);
    this.matrix.spliceSession(prev, next);
  }

  upsertItem(item: Item): void {
    this.content.upsertItem(item);
    this.popularity.itemChanged(item, item.itemId);
  }

  removeItem(itemId: string): void {
    this.content.removeItem(itemId);
    this.popularity.itemChanged(undefined, itemId);
  }

  recommend(q: RecommendQuery, o: RecommendOptions): ScoredRecommendations {
    const count = Math.min(MAX_COUNT, Math.max(0, Math.floor(o.count)));
    if (count === 0 || this.catalog.size() === 0) return { items: [], strategy: 'none', signals: [] };
    // a non-personalized query: no generator may see the person's history or session; the rules
    // still leave out what the query says they bought (callers pass nothing of a person who withheld
    // consent)
    const query: RecommendQuery = q.personalized ? q : { ...q, session: [], history: [] };
    const admissible = admissibility({
      catalog: this.catalog,
      ...(q.contextItemId !== undefined ? { contextItemId: q.contextItemId } : {}),
      ...(o.filter ? { filter: o.filter } : {}),
      ...(o.excludeItems ? { excludeItems: o.excludeItems } : {}),
      ...(o.excludePurchased === false ? {} : { purchased: purchasedItems(q) }),
    });
    // a category filter already asks for one category: capping it would only be relaxed again (a
    // filter whose path is empty, "" or " > ", asks for none and matches every item: the cap holds)
    const capMax = filterTopCategory(o.filter) === undefined && this.settings.categoryCapShare < 1 ? capFor(count, this.settings.categoryCapShare) : undefined;
    // a placement that reminds of the session's items ranks them itself: they are not demoted there
    const weights = o.weights ?? weightsFor(o.placement, this.settings.placements);
    const reminds = (weights[this.inSession.name] ?? 0) > 0;
    const demoted = demotedItems(reminds ? { ...query, session: [] } : query, o.recentImpressions);
    const chosen = selectItems([fromBlend(this.blended(query, weights, count)), ...this.fallbacks(q, o.filter)], {
      count,
      admissible,
      ...(demoted ? { demoted } : {}),
      ...(capMax !== undefined ? { cap: new CategoryCap(capMax), rescue: (open: (key: string) => boolean) => this.categoryRescue(q.now, open) } : {}),
      softScanLimit: this.settings.softScanLimit,
    });
    const explored = explore(chosen, this.exploration, {
      random: seededRandom(o.seed),
      pool: this.catalog.newest(),
      admissible,
      ...(demoted ? { demoted } : {}),
      ...(capMax !== undefined ? { capMax } : {}),
      exposure: exposureAt(this.popularity, q.now),
    });
    return this.present(explored, q.personalized === false || (q.session.length === 0 && q.history.length === 0) ? 'item' : 'person');
  }

  /** candidates of every generator the placement weighs, blended */
  private blended(query: RecommendQuery, weights: GeneratorWeights, count: number): BlendedRanking {
    const perGenerator = Math.max(this.settings.minCandidates, count * this.settings.candidatesPerSlot);
    return blend(
      this.generators.map((g) => {
        const configured = weights[g.name] ?? 0;
        const weight = configured > 0 && g.weightShare ? configured * g.weightShare(query) : configured;
        return { generator: g.name, weight, candidates: weight > 0 ? g.generate(query, perGenerator) : [] };
      }),
    );
  }

  /**
   * Items of the categories still open under the cap, for a list whose scan ended at its limit with
   * one category over its share: trending then popular within each category, then the newest items
   * of the catalog (at most RESCUE_SCAN of them looked at), skipping categories as they fill.
   */
  private *categoryRescue(now: number, open: (key: string) => boolean): Generator<SourceItem> {
    for (const kind of ['trending', 'popular'] as const) {
      for (const key of this.popularity.categoryKeys(kind, now)) {
        if (!open(key)) continue;
        for (const c of fromFallback(this.popularity.ranked(kind, now, key), kind)) {
          if (!open(key)) break;
          yield c;
        }
      }
    }
    let examined = 0;
    for (const item of this.catalog.newest()) {
      if (++examined > RESCUE_SCAN) return;
      const top = item.categoryPath[0];
      if (top !== undefined && open(categoryKey(top))) yield { itemId: item.itemId, score: 0, reasons: [{ type: 'context', category: top }], generators: ['catalog'] };
    }
  }

  /** items like one item, for "similar items" widgets: the same pipeline without any personal data */
  similar(itemId: string, count: number, seed: string, now = Date.now()): Recommendations {
    const { items, strategy } = this.recommend({ now, session: [], history: [], contextItemId: itemId, personalized: false }, { count, seed, placement: 'similar' });
    return { items, strategy };
  }

  /** trending then popular within the requested or context category, then overall, then newest, then anything */
  private fallbacks(q: RecommendQuery, filter: RecommendFilter | undefined): Array<Iterable<SourceItem>> {
    const contextCategory = q.contextItemId === undefined ? undefined : this.catalog.get(q.contextItemId)?.categoryPath[0];
    const scope = filterTopCategory(filter) ?? contextCategory;
    const sources: Array<Iterable<SourceItem>> = [];
    if (scope !== undefined) sources.push(this.ranked('trending', q.now, scope), this.ranked('popular', q.now, scope));
    sources.push(this.ranked('trending', q.now), this.ranked('popular', q.now), fromFallback(lazy(() => this.newest.candidates(q.now)), 'new'), this.anyItem(scope));
    return sources;
  }

  private ranked(kind: RankingKind, now: number, category?: string): Iterable<SourceItem> {
    return fromFallback(this.popularity.ranked(kind, now, category), kind);
  }

  private *anyItem(scope: string | undefined): Generator<SourceItem> {
    const reasons = [scope === undefined ? { type: 'context' as const } : { type: 'context' as const, category: scope }];
    for (const item of this.catalog.newest()) yield { itemId: item.itemId, score: 0, reasons, generators: ['catalog'] };
  }

  /** the configured weights of a placement (unknown placements use `default`) */
  weightsOf(placement: string | undefined): GeneratorWeights {
    return weightsFor(placement, this.settings.placements);
  }

  private present(picks: readonly Pick[], audience: Audience): ScoredRecommendations {
    const used = new Set<string>();
    let previous = Infinity;
    const items = picks.map((p) => {
      for (const g of p.source.generators) used.add(g);
      previous = Math.min(previous, p.score);
      return { itemId: p.itemId, score: Math.round(previous * 1e6) / 1e6, reasons: explainReasons(p.reasons, this.catalog, this.settings.maxReasons, audience) };
    });
    const strategy = STRATEGY_ORDER.filter((g) => used.has(g)).join('+');
    return { items, strategy: strategy === '' ? 'none' : strategy, signals: picks.map((p) => p.source.signals ?? {}) };
  }
}

/** recently shown items and the items of the current session: shown (again) only when nothing else qualifies (the caller passes no session where reminders are on) */
function demotedItems(q: RecommendQuery, recentImpressions: ReadonlySet<string> | undefined): ReadonlySet<string> | undefined {
  if (q.session.length === 0) return recentImpressions;
  const out = new Set(recentImpressions);
  for (const it of q.session) if (showsInterest(it)) out.add(it.itemId);
  return out;
}

function* fromBlend(blended: BlendedRanking): Generator<SourceItem> {
  for (const b of blended) yield new BlendedSource(b);
}

/**
 * A blended candidate as a selection source. Most candidates read are passed over by the rules, so
 * the per-generator signals and the generator list are only put together when asked for (for the
 * items picked).
 */
class BlendedSource implements SourceItem {
  readonly itemId: string;
  readonly score: number;
  readonly reasons: readonly ExplainableReason[];
  constructor(private readonly b: BlendedCandidate) {
    this.itemId = b.itemId;
    this.score = b.score;
    this.reasons = b.contributions.map((c) => c.reason);
  }

  get generators(): readonly string[] {
    const out: string[] = [];
    for (const c of this.b.contributions) if (!out.includes(c.generator)) out.push(c.generator);
    return out;
  }

  get signals(): Readonly<Record<string, number>> {
    const signals: Record<string, number> = {};
    for (const c of this.b.contributions) signals[c.generator] = (signals[c.generator] ?? 0) + c.signal;
    return signals;
  }
}

/** a fallback list, scored below blended items and tagged with its source */
function* fromFallback(candidates: Iterable<Candidate>, source: string): Generator<SourceItem> {
  let max = 0;
  for (const c of candidates) {
    if (max === 0) max = c.score > 0 ? c.score : 1;
    yield { itemId: c.itemId, score: (FALLBACK_SCALE * c.score) / max, reasons: [c.reason], generators: [source] };
  }
}

/** defers creating an iterable until it is iterated */
const lazy = <T>(make: () => Iterable<T>): Iterable<T> => ({ [Symbol.iterator]: () => make()[Symbol.iterator]() });

/** how much an item was seen lately, at `now`, for the exploration slot (an unnamed closure: see selectItems) */
function exposureAt(popularity: PopularityModel, now: number): (itemId: string) => number {
  return (itemId) => popularity.popularity(itemId, now);
}
