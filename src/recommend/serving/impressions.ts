/**
 * Served recommendations (impressions): what was shown to whom, for attribution
 * (`properties.recommendation_id`) and for the rule that a person's last impressions of a placement
 * are not repeated. Held in memory per id, bounded; erasure forgets them with the person.
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

export class ImpressionLog {
  private readonly byId = new Map<string, Impression[]>();
  private readonly byRecommendation = new Map<string, Impression>();

  /** `perPerson`: impressions kept per id and placement */
  constructor(private readonly perPerson = 20) {}

  /**
   * Records an impression. Returns the store writes: the impression itself, and deletions of older
   * impressions no id holds any more (so what memory forgot, the store forgets too).
   */
  record(imp: Impression): Mutation[] {
    return [{ table: 'impressions', key: imp.recommendationId, value: imp }, ...this.remember(imp)];
  }

  /** restores an impression read back from the store at start; returns deletions of evicted ones */
  restore(imp: Impression): Mutation[] {
    return this.remember(imp);
  }

  private remember(imp: Impression): Mutation[] {
    this.byRecommendation.set(imp.recommendationId, imp);
    const evicted: Mutation[] = [];
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
      if (samePlacement <= this.perPerson) continue;
      const drop = list[oldest]!;
      list.splice(oldest, 1);
      if (drop.ids.some((other) => this.byId.get(other)?.includes(drop))) continue;
      this.byRecommendation.delete(drop.recommendationId);
      evicted.push({ table: 'impressions', key: drop.recommendationId });
    }
    return evicted;
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
      this.byRecommendation.delete(imp.recommendationId);
      for (const other of imp.ids) {
        const list = this.byId.get(other);
        if (!list) continue;
        const at = list.indexOf(imp);
        if (at >= 0) list.splice(at, 1);
        if (list.length === 0) this.byId.delete(other);
      }
    }
  }
}
