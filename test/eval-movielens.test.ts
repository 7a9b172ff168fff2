/**
 * CI run of `kairos eval --preset movielens` on ml-latest-small (../shared/datasets, GroupLens
 * licence in its README.txt): the engine must beat the popularity baseline on NDCG@10 by a clear
 * margin, so a recommender that degrades to popularity (or worse) fails here.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { evalCommand } from '../src/cli/eval.ts';
import type { EvalReport } from '../src/eval/run.ts';

const DATA = resolve(import.meta.dirname, '..', '..', 'shared', 'datasets', 'ml-latest-small');
const present = existsSync(join(DATA, 'ratings.csv'));
if (!present) console.warn(`eval-movielens: skipped, ${DATA} is absent (the shared datasets are not checked out beside the repo)`);

/**
 * MovieLens spans 22 years of ratings while the engine's defaults are set for shop sessions
 * (half-lives of days), and each user is asked at their own point in those years: these are time
 * scales for decades, the direction `kairos tune` takes on this dataset's validation split.
 */
const MOVIELENS_SETTINGS = {
  recommend: {
    covisit: { halfLifeDays: 36500 },
    sessionKnn: { recencyDecayDays: 36500 },
    popularity: { popularHalfLifeDays: 36500, trendingHalfLifeDays: 3650 },
  },
};

describe.skipIf(!present)('kairos eval --preset movielens on ml-latest-small', () => {
  it('the engine beats popularity on NDCG@10 (temporal split, last 20% of each user\'s positives)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kairos-ml-'));
    const config = join(dir, 'kairos.config.json');
    writeFileSync(config, JSON.stringify(MOVIELENS_SETTINGS));
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')));
    let code: number;
    try {
      code = await evalCommand(['--preset', 'movielens', '--data', DATA, '--config', config, '--baselines', 'popularity', '--json']);
    } finally {
      log.mockRestore();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(code).toBe(0);
    const r = JSON.parse(lines.join('\n')) as EvalReport;
    expect(r.protocol).toBe('top-n');
    expect(r.counts.people).toBe(608);
    expect(r.predictions).toBe(608);
    const engine = r.metrics['NDCG@10']!;
    const popularity = r.baselines.popularity!['NDCG@10']!;
    console.info(`ml-latest-small NDCG@10: engine ${engine}, popularity ${popularity}`);
    expect(popularity).toBeGreaterThan(0.03);
    expect(engine).toBeGreaterThan(1.2 * popularity);
  }, 180_000);
});
