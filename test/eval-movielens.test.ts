/**
 * CI run of `kairos eval --preset movielens` on ml-latest-small (../shared/datasets, GroupLens
 * licence in its README.txt): the engine must beat the popularity baseline on NDCG@10 by a clear
 * margin, so a recommender that degrades to popularity (or worse) fails here; and with its built-in
 * defaults it must stay above EASE, the strongest baseline, on NDCG@10 of the temporal split.
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

async function evalJson(args: string[]): Promise<EvalReport> {
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.map(String).join(' ')));
  try {
    expect(await evalCommand(args)).toBe(0);
  } finally {
    log.mockRestore();
  }
  return JSON.parse(lines.join('\n')) as EvalReport;
}

describe.skipIf(!present)('kairos eval --preset movielens on ml-latest-small', () => {
  it('with the built-in defaults the engine is above EASE on NDCG@10 (temporal split)', async () => {
    const r = await evalJson(['--preset', 'movielens', '--data', DATA, '--baselines', 'ease', '--json']);
    const engine = r.metrics['NDCG@10']!;
    const ease = r.baselines.ease!['NDCG@10']!;
    console.info(`ml-latest-small NDCG@10 with defaults: engine ${engine}, EASE ${ease}`);
    expect(ease).toBeGreaterThan(0.09);
    expect(engine).toBeGreaterThan(ease);
  }, 300_000);

  it('the engine beats popularity on NDCG@10 (temporal split, last 20% of each user\'s positives)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kairos-ml-'));
    const config = join(dir, 'kairos.config.json');
    writeFileSync(config, JSON.stringify(MOVIELENS_SETTINGS));
    let r: EvalReport;
    try {
      r = await evalJson(['--preset', 'movielens', '--data', DATA, '--config', config, '--baselines', 'popularity', '--json']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
