/**
 * Served recommendations (impressions): what was shown to whom, for attribution
 * (`properties.recommendation_id`) and for the rule that a person's last impressions of a placement
 * are not repeated. Held in memory per id and bounded three ways: the last `perPerson` per id and
 * placement, nothing older than `ttlMs`, and at most `maxItems` shown items in all (the oldest
 * impressions go first). What memory forgets, the store forgets too, so the log and the store hold
 * the same impressions and erasure finds all of a person's. Erasure forgets them with the person.
 */
import { servedTo } from '../../engine/workspace.ts';
import type { Mutation } from '../../store/types.ts';

export interface Impression {
  recommendationId: string;
  placement: string;
  /** the ids the request named (records of earlier versions: every id of the person) */
  ids: string[];
  /**
   * the id the recommendation was made for: the one of `ids` the person was resolved by when it was
   * served, else the first of them. The export shows the items and signals only to whoever holds it.
   * Absent in records of earlier versions (then `ids[0]`).
   */
  servedFor?: string;
  items: string[];
  at: number;
  /** per item, the blended generators' normalised scores (what feedback learning weighs) */
  signals?: Array<Readonly<Record<string, number>>>;
}

/** What the export shows of an impression served to another person whose request also named this one. */
export interface ImpressionStub {
  recommendationId: string;
  placement: string;
  /** only the exported person's own ids */
  ids: string[];
  at: number;
  forAnotherPerson: true;
}

export interface ImpressionLogLimits {
  /** impressions kept per id and placement */
  perPerson: number;
  /** impressions older than this are forgotten */
  ttlMs: number;
  /** shown items held in all impressions together: the oldest impressions are forgotten past it */
  maxItems: number;
}

export const DEFAULT_IMPRESSION_LIMITS: ImpressionLogLimits = { perPerson: 20, ttlMs: 7 * 86_400_000, maxItems: 1_000_000 };

export class ImpressionLog {
  readonly limits: ImpressionLogLimits;
  private readonly byId = new Map<string, Impression[]>();
  private readonly byRecommendation = new Map<string, Impression>();
  /** held impressions in the order they were taken (by time: `restoreAll` sorts), and some forgotten since */
  private order: Impression[] = [];
  private head = 0;
  private items = 0;

  constructor(limits: Partial<ImpressionLogLimits> = {}) {
    this.limits = { ...DEFAULT_IMPRESSION_LIMITS, ...limits };
  }

  /** impressions held, and the shown items they hold */
  get size(): { impressions: number; items: number } {
    return { impressions: this.byRecommendation.size, items: this.items };
  }

  /**
   * Records an impression. Returns the store writes: the impression itself, and deletions of older
   * impressions forgotten to make room (so what memory forgot, the store forgets too).
   */
  record(imp: Impression): Mutation[] {
    return [{ table: 'impressions', key: imp.recommendationId, value: imp }, ...this.remember(imp, imp.at)];
  }

  /**
   * Restores the impressions read back from the store at start, oldest first; returns deletions of
   * those past the limits now.
   */
  restoreAll(imps: Impression[], now: number): Mutation[] {
    const evicted: Mutation[] = [];
    for (const imp of [...imps].sort((a, b) => a.at - b.at)) evicted.push(...this.remember(imp, now));
    return evicted;
  }

  private remember(imp: Impression, now: number): Mutation[] {
    const evicted: Mutation[] = [];
    this.byRecommendation.set(imp.recommendationId, imp);
    this.order.push(imp);
    this.items += imp.items.length;
    for (const id of imp.ids) {
      let list = this.byId.get(id);
      if (!list) this.byId.set(id, (list = []));
      list.push(imp);
      let samePlacement = 0;
      let oldest = -1;
      for (let i = 0; i < list.length; i++) {
        if (list[i]!.placement !== imp.placement) continue;
        if (oldest < 0) oldest = i;
        samePlacement++;
      }
      if (samePlacement <= this.limits.perPerson) continue;
      const drop = list[oldest]!;
      list.splice(oldest, 1);
      if (drop.ids.some((other) => this.byId.get(other)?.includes(drop))) continue;
      this.drop(drop);
      evicted.push({ table: 'impressions', key: drop.recommendationId });
    }
    // the oldest first, past their time or past the memory budget
    const expired = now - this.limits.ttlMs;
    while (this.head < this.order.length) {
      const first = this.order[this.head]!;
      if (this.byRecommendation.get(first.recommendationId) !== first) {
        this.head++;
        continue;
      }
      if (first.at >= expired && this.items <= this.limits.maxItems) break;
      this.head++;
      this.unlist(first);
      this.drop(first);
      evicted.push({ table: 'impressions', key: first.recommendationId });
    }
    // the order list also holds impressions forgotten since (passed by `head`, or out of turn):
    // rebuilt from the held ones once the forgotten outnumber them
    if (this.order.length > 2 * this.byRecommendation.size + 1024) {
      this.order = this.order.slice(this.head).filter((h) => this.byRecommendation.get(h.recommendationId) === h);
      this.head = 0;
    }
    return evicted;
  }

  /** removes a held impression from the lists of the ids it names */
  private unlist(imp: Impression): void {
    for (const id of imp.ids) {
      const list = this.byId.get(id);
      if (!list) continue;
      const at = list.indexOf(imp);
      if (at >= 0) list.splice(at, 1);
      if (list.length === 0) this.byId.delete(id);
    }
  }

  private drop(imp: Impression): void {
    if (this.byRecommendation.get(imp.recommendationId) !== imp) return;
    this.byRecommendation.delete(imp.recommendationId);
    this.items -= imp.items.length;
  }

  get(recommendationId: string): Impression | undefined {
    return this.byRecommendation.get(recommendationId);
  }

  /** items of the person's last `n` impressions of a placement */
  recentItems(ids: Iterable<string>, placement: string, n: number): Set<string> {
    const all: Impression[] = [];
    for (const id of ids) for (const imp of this.byId.get(id) ?? []) if (imp.placement === placement) all.push(imp);
    all.sort((a, b) => b.at - a.at);
    const out = new Set<string>();
    const seen = new Set<string>();
    for (const imp of all) {
      if (seen.has(imp.recommendationId)) continue;
      seen.add(imp.recommendationId);
      if (seen.size > n) break;
      for (const item of imp.items) out.add(item);
    }
    return out;
  }

  /** every impression held under any of the ids, oldest first */
  private held(ids: Iterable<string>): Impression[] {
    const out = new Map<string, Impression>();
    for (const id of ids) for (const imp of this.byId.get(id) ?? []) out.set(imp.recommendationId, imp);
    return [...out.values()].sort((a, b) => a.at - b.at);
  }

  /**
   * export: the impressions whose requests named one of the person's `ids` (all of them), showing
   * only their own ids; one served to another person (the request also named someone the identity
   * graph does not link to this one) shows only that it happened, not the other person's items.
   */
  of(ids: Iterable<string>): Array<Impression | ImpressionStub> {
    const own = new Set(ids);
    return this.held(own).map((imp) => {
      const mine = imp.ids.filter((id) => own.has(id));
      if (own.has(servedTo(imp))) return { ...imp, ids: mine };
      return { recommendationId: imp.recommendationId, placement: imp.placement, ids: mine, at: imp.at, forAnotherPerson: true as const };
    });
  }

  /** store deletions of a person's impressions */
  deletions(ids: readonly string[]): Mutation[] {
    return this.held(ids).map((imp) => ({ table: 'impressions' as const, key: imp.recommendationId }));
  }

  /** forgets a person's impressions, also from the lists of the other ids their requests named */
  forget(ids: readonly string[]): void {
    const gone = this.held(ids);
    for (const id of ids) this.byId.delete(id);
    for (const imp of gone) {
      this.drop(imp);
      this.unlist(imp);
    }
  }
}
