/** Newest catalog items, for cold starts: the last step before "anything eligible". */
import type { Candidate, CandidateGenerator, CatalogView, RecommendQuery } from '../types.ts';

const DAY_MS = 86_400_000;

export interface NewestOptions {
  /** items created longer ago than this are not called new */
  maxAgeDays: number;
}

export const DEFAULT_NEWEST_OPTIONS: NewestOptions = { maxAgeDays: 30 };

export class NewestItems implements CandidateGenerator {
  readonly name = 'new';
  private readonly o: NewestOptions;

  constructor(
    private readonly catalog: CatalogView,
    options: Partial<NewestOptions> = {},
  ) {
    this.o = { ...DEFAULT_NEWEST_OPTIONS, ...options };
  }

  /** eligible items created within the age limit, newest first, scored by freshness in (0, 1] */
  *candidates(now: number): Generator<Candidate> {
    const maxAgeMs = this.o.maxAgeDays * DAY_MS;
    for (const item of this.catalog.newest()) {
      const age = Math.max(0, now - item.createdAt);
      if (age > maxAgeMs) return;
      if (!this.catalog.isEligible(item.itemId)) continue;
      yield { itemId: item.itemId, score: 1 - age / (maxAgeMs + 1), reason: { type: 'new' } };
    }
  }

  generate(q: RecommendQuery, limit: number): Candidate[] {
    const out: Candidate[] = [];
    if (limit <= 0) return out;
    for (const c of this.candidates(q.now)) {
      if (c.itemId === q.contextItemId) continue;
      out.push(c);
      if (out.length >= limit) break;
    }
    return out;
  }
}
