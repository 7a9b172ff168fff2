/**
 * `kairos tune`: coordinate search over blend weights and generator hyper-parameters, scored on a
 * validation split carved from train. Each parameter in turn is set to each of its candidate values
 * with the others held at the best so far; a value is kept only if it beats the best score. Passes
 * repeat until one changes nothing or the trial budget is spent. The test split is never read.
 */
import type { SparseItemModel } from '../recommend/model/ease-train.ts';
import { seededRandom } from '../recommend/rules/seeded-random.ts';
import type { Interaction } from './dataset.ts';
import type { EngineSettings } from './in-process.ts';
import { InProcessEngine } from './in-process.ts';
import type { Metrics } from './metrics.ts';
import { runEvaluation, type EvalInput, type Mode } from './run.ts';
import { materialize } from './settings.ts';

export interface Parameter {
  /** dotted path into EngineSettings, e.g. "recommend.covisit.halfLifeDays" */
  path: string;
  values: readonly (number | boolean)[];
}

/**
 * What is searched. Exploration and the category cap are product choices (they trade accuracy for
 * discovery and variety), so they are left as configured.
 */
export const SEARCH_SPACE: readonly Parameter[] = [
  // time scales first: they depend most on the dataset (days of shopping or decades of ratings)
  { path: 'recommend.popularity.popularHalfLifeDays', values: [7, 30, 365, 3650, 36500] },
  { path: 'recommend.covisit.halfLifeDays', values: [3, 14, 90, 365, 3650, 36500] },
  { path: 'recommend.sessionKnn.recencyDecayDays', values: [5, 20, 90, 365, 3650, 36500] },
  { path: 'recommend.popularity.trendingHalfLifeDays', values: [0.25, 1, 7, 30, 365, 3650] },
  // then how much long history counts (collaborative model) against the session: long-history data
  // (ratings) and session data (anonymous clicks) pull it apart
  { path: 'recommend.placements.default.collaborative', values: [0, 0.5, 1, 2, 4, 8] },
  { path: 'recommend.matrix.fullWeightAt', values: [0, 5, 20, 50] },
  // how much of a long history the model scores from, and how dense it is (a denser model costs more
  // per request: up to historyItems × neighbours weights read)
  { path: 'recommend.matrix.historyItems', values: [200, 2000] },
  { path: 'recommend.matrix.neighbours', values: [200, 1000, 3000] },
  { path: 'recommend.placements.default.in-session', values: [0, 0.5, 1, 2, 4, 8, 16] },
  { path: 'recommend.inSession.recencyDecay', values: [0.5, 1, 2, 4] },
  { path: 'recommend.inSession.frequencyExponent', values: [0, 0.25, 0.5, 1] },
  { path: 'recommend.placements.default.session-knn', values: [0, 0.5, 1, 2] },
  { path: 'recommend.placements.default.covisit', values: [0, 0.5, 1, 2] },
  { path: 'recommend.placements.default.content', values: [0, 0.1, 0.4, 1] },
  { path: 'recommend.placements.default.trending', values: [0, 0.05, 0.15, 0.4] },
  { path: 'recommend.placements.default.popular', values: [0, 0.05, 0.1, 0.3] },
  { path: 'recommend.covisit.window', values: [1, 2, 3, 5, 10] },
  { path: 'recommend.covisit.maxAnchors', values: [1, 3, 10, 20] },
  { path: 'recommend.covisit.anchorDecay', values: [0.5, 0.75, 0.9, 1] },
  { path: 'recommend.sessionKnn.k', values: [50, 100, 200, 500] },
  { path: 'recommend.sessionKnn.sampleSize', values: [250, 500, 1000, 2000] },
  { path: 'recommend.sessionKnn.maxSessionItems', values: [3, 5, 10, 20] },
  { path: 'recommend.sessionKnn.positionDecay', values: [1, 2, 3.54, 8] },
  { path: 'recommend.sessionKnn.itemDistanceDecay', values: [1, 3.54, 8, 100] },
  { path: 'recommend.sessionKnn.scoreSessionItems', values: [false, true] },
  { path: 'tuning.sessionGapMinutes', values: [15, 30, 60, 240] },
];

export interface TuneOptions {
  metric: string;
  mode: Mode;
  maxTrials: number;
  /** validation predictions (sessions) or people (top-N) used per trial, sampled once */
  sampleSize: number;
  seed: string;
  space?: readonly Parameter[];
  onTrial?: (t: Trial, best: Trial) => void;
}

export interface Trial {
  index: number;
  /** what this trial changed from the best so far ("start" for the first) */
  change: string;
  score: number;
  metrics: Metrics;
  settings: EngineSettings;
}

export interface TuneResult {
  start: Trial;
  best: Trial;
  trials: number;
}

export function getPath(root: unknown, path: string): unknown {
  let at: unknown = root;
  for (const key of path.split('.')) at = typeof at === 'object' && at !== null ? (at as Record<string, unknown>)[key] : undefined;
  return at;
}

/** a copy of `s` with `path` set (missing objects on the way are created) */
export function withPath<T>(s: T, path: string, value: unknown): T {
  const copy = structuredClone(s);
  const keys = path.split('.');
  let at = copy as Record<string, unknown>;
  for (const key of keys.slice(0, -1)) {
    if (typeof at[key] !== 'object' || at[key] === null) at[key] = {};
    at = at[key] as Record<string, unknown>;
  }
  at[keys[keys.length - 1]!] = value;
  return copy;
}

/**
 * A subset of the validation part, fixed for the whole search: whole sessions (next-item) or whole
 * people (top-N), drawn with a seed until about `size` predictions are covered.
 */
export function sampleValidation(input: EvalInput, size: number, seed: string): EvalInput {
  const key = (x: Interaction): string => (input.protocol === 'next-item' ? (x.session ?? x.person) : x.person);
  const groups = new Map<string, number>();
  for (const x of input.test) groups.set(key(x), (groups.get(key(x)) ?? 0) + 1);
  const ids = [...groups.keys()].sort();
  const random = seededRandom(seed);
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  const keep = new Set<string>();
  let covered = 0;
  for (const id of ids) {
    if (covered >= size) break;
    keep.add(id);
    covered += input.protocol === 'next-item' ? groups.get(id)! - 1 : 1;
  }
  return { ...input, test: input.test.filter((x) => keep.has(key(x))) };
}

export async function tune(input: EvalInput, start: EngineSettings, o: TuneOptions): Promise<TuneResult> {
  const validation = sampleValidation(input, o.sampleSize, o.seed);
  const space = o.space ?? SEARCH_SPACE;
  const seen = new Set<string>();
  // the collaborative model depends on the (fixed) train part and its own options only: trials that
  // change anything else reuse it instead of training it again
  const models = new Map<string, SparseItemModel>();
  let trials = 0;
  /** undefined when these settings were evaluated before (they did not beat the best then either) */
  const evaluate = async (settings: EngineSettings, change: string): Promise<Trial | undefined> => {
    const key = JSON.stringify(settings);
    if (seen.has(key)) return undefined;
    const report = await runEvaluation(validation, {
      mode: o.mode,
      count: 20,
      baselines: [],
      ease: {},
      engine: (identity, online) => InProcessEngine.open({ settings, identity, online, models }),
    });
    const score = report.metrics[o.metric];
    if (score === undefined) throw new RangeError(`no metric "${o.metric}" (metrics: ${Object.keys(report.metrics).join(', ')})`);
    seen.add(key);
    return { index: ++trials, change, score, metrics: report.metrics, settings };
  };
  const first = (await evaluate(materialize(start), 'start'))!;
  let best = first;
  o.onTrial?.(first, best);
  for (let changed = true; changed && trials < o.maxTrials; ) {
    changed = false;
    for (const p of space) {
      for (const value of p.values) {
        if (trials >= o.maxTrials) break;
        if (getPath(best.settings, p.path) === value) continue;
        const t = await evaluate(withPath(best.settings, p.path, value), `${p.path}=${value}`);
        if (!t) continue;
        if (t.score > best.score) {
          best = t;
          changed = true;
        }
        o.onTrial?.(t, best);
      }
    }
  }
  return { start: first, best, trials };
}
