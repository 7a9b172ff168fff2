/**
 * `kairos eval`: replays a dataset through the engine (in process, or a running server with
 * --via-http) and prints its accuracy beside baselines computed in the same run.
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { EaseOptions } from '../recommend/candidates/ease.ts';
import type { DataSpec } from '../eval/input.ts';
import { evalInput } from '../eval/input.ts';
import { HttpEngine } from '../eval/http.ts';
import { InProcessEngine, type EngineSettings } from '../eval/in-process.ts';
import { PRESETS, type Preset } from '../eval/presets.ts';
import { formatReport } from '../eval/report.ts';
import { BASELINES, PROTOCOLS, runEvaluation, type EvalOptions, type Mode, type Protocol } from '../eval/run.ts';
import { defaultSettings, readSettings } from '../eval/settings.ts';
import { Progress } from './progress.ts';

export const DATA_USAGE = `data (one of):
  --preset movielens --data DIR     MovieLens directory (ratings.csv, movies.csv); top-n protocol
  --preset session-rec --train FILE [--test FILE]
                                    session-rec prepared files (tab-separated SessionId ItemId Time)
  FILE                              CSV/TSV to split here (see --split, --test-days)
  --train FILE [--test FILE]        CSV/TSV split beforehand
  column mapping of CSV/TSV files:  --user COL  --session COL  --item COL  --time COL
                                    [--event COL] [--rating COL --min-rating X] [--format csv|tsv]
                                    time: epoch seconds or ms, or ISO-8601
  --min-rating X                    ratings below X are dropped (movielens default 4.0)

protocol:
  --protocol next-item|top-n        default: next-item for session data, else top-n
  --split temporal|random           top-n: each person's last (or a random) share goes to test (default temporal)
  --ratio R                         top-n: train share of each person's interactions (default 0.8)
  --seed N                          random split seed (default 1)
  --test-days D                     next-item from one file: sessions ending in the last D days are test (default 1)`;

const USAGE = `usage: kairos eval [FILE] [options]

${DATA_USAGE}
  --mode frozen|online              next-item: frozen asks with the session prefix only (as session-rec);
                                    online ingests every test event as it happens (default frozen)

systems:
  --config FILE                     engine settings {"tuning", "recommend"} as written by kairos tune
                                    (default: built-in defaults)
  --baselines LIST                  comma-separated, or "none" (next-item: popularity,cooccurrence;
                                    top-n: popularity,ease; default all)
  --ease-lambda L                   EASE regularisation (default 250)
  --ease-min-support N              EASE models items with at least N train interactions (default 2)
  --ease-max-items N                and at most the N most frequent (default 4000)
  --via-http URL                    evaluate a running server through the public API
  --write-key KEY / --api-key KEY   its keys (default $KAIROS_WRITE_KEY / $KAIROS_ADMIN_KEY)

output:
  --count N                         top-n list length (default 20)
  --json                            one JSON object on stdout instead of the table`;

export const DATA_OPTIONS = {
  preset: { type: 'string' },
  data: { type: 'string' },
  train: { type: 'string' },
  test: { type: 'string' },
  format: { type: 'string' },
  user: { type: 'string' },
  session: { type: 'string' },
  item: { type: 'string' },
  time: { type: 'string' },
  event: { type: 'string' },
  rating: { type: 'string' },
  'min-rating': { type: 'string' },
  protocol: { type: 'string' },
  split: { type: 'string' },
  ratio: { type: 'string' },
  seed: { type: 'string' },
  'test-days': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export class UsageError extends Error {
  override name = 'UsageError';
}

const USER_ERRORS = new Set(['UsageError', 'RangeError', 'TableError', 'ConfigError']);

/** parses a command's arguments; bad arguments and --help end the command (the exit code is returned) */
export function parsedArgs<T extends { values: { help?: boolean | undefined } }>(parse: () => T, usage: string): T | number {
  let parsed: T;
  try {
    parsed = parse();
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(usage);
    return 0;
  }
  return parsed;
}

/** exit code 2 with the message for mistakes in the command or its data; anything else is rethrown */
export function userError(command: string, e: unknown): number {
  if (!(e instanceof Error) || !USER_ERRORS.has(e.name)) throw e;
  console.error(`kairos ${command}: ${e.message}`);
  return 2;
}

export function numberOption(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number from ${min} to ${max}, got "${raw}"`);
  return n;
}

export function oneOf<T extends string>(name: string, raw: string | undefined, allowed: readonly T[]): T | undefined {
  if (raw === undefined) return undefined;
  if (!allowed.includes(raw as T)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  return raw as T;
}

type DataValues = { [K in keyof typeof DATA_OPTIONS]?: (typeof DATA_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

export function dataSpecOf(v: DataValues, file: string | undefined): DataSpec {
  const preset = oneOf<Preset>('preset', v.preset, PRESETS);
  const protocol = oneOf<Protocol>('protocol', v.protocol, PROTOCOLS);
  const kind = oneOf('split', v.split, ['temporal', 'random'] as const) ?? 'temporal';
  const columns: DataSpec['columns'] = {};
  for (const c of ['user', 'session', 'item', 'time', 'event', 'rating'] as const) if (v[c] !== undefined) columns[c] = v[c];
  const minRating = v['min-rating'] !== undefined ? numberOption('min-rating', v['min-rating'], 0, -1e9, 1e9) : undefined;
  return {
    ...(preset ? { preset } : {}),
    ...(v.data ? { dir: v.data } : {}),
    ...(file ? { file } : {}),
    ...(v.train ? { train: v.train } : {}),
    ...(v.test ? { test: v.test } : {}),
    ...(v.format ? { format: v.format } : {}),
    columns,
    ...(minRating !== undefined ? { minRating } : {}),
    ...(protocol ? { protocol } : {}),
    userSplit: { kind, testShare: 1 - numberOption('ratio', v.ratio, 0.8, 0.01, 0.99), seed: v.seed ?? '1' },
    testDays: numberOption('test-days', v['test-days'], 1, 0.001, 1e6),
  };
}

/** progress on stderr: a bar per stage with a known size, one line for the others */
export function progressReporter(): (stage: string, done: number, total?: number) => void {
  const bars = new Map<string, Progress>();
  return (stage, done, total) => {
    if (total === undefined) {
      process.stderr.write(`${stage}…\n`);
      return;
    }
    let bar = bars.get(stage);
    if (!bar) bars.set(stage, (bar = new Progress(stage, total, stage === 'ingest' ? ' events' : ' predictions')));
    if (done >= total) bar.finish(done);
    else bar.update(done);
  };
}

export function easeOptionsOf(v: { 'ease-lambda'?: string; 'ease-min-support'?: string; 'ease-max-items'?: string }): Partial<EaseOptions> {
  return {
    lambda: numberOption('ease-lambda', v['ease-lambda'], 250, 1e-9, 1e12),
    minSupport: numberOption('ease-min-support', v['ease-min-support'], 2, 1, 1e9),
    maxItems: numberOption('ease-max-items', v['ease-max-items'], 4000, 1, 20_000),
  };
}

export function inProcessEngine(settings: EngineSettings): EvalOptions['engine'] {
  return (identity, online) => InProcessEngine.open({ settings, identity, online });
}

export async function evalCommand(argv: string[]): Promise<number> {
  const parsed = parsedArgs(
    () =>
      parseArgs({
        args: argv,
        allowPositionals: true,
        options: {
          ...DATA_OPTIONS,
          mode: { type: 'string' },
          config: { type: 'string' },
          baselines: { type: 'string' },
          'ease-lambda': { type: 'string' },
          'ease-min-support': { type: 'string' },
          'ease-max-items': { type: 'string' },
          'via-http': { type: 'string' },
          'write-key': { type: 'string' },
          'api-key': { type: 'string' },
          count: { type: 'string' },
          json: { type: 'boolean' },
        },
      }),
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const { values: v, positionals } = parsed;
  if (positionals.length > 1) {
    console.error(`one data FILE at most\n\n${USAGE}`);
    return 2;
  }
  try {
    const spec = dataSpecOf(v, positionals[0]);
    const mode = oneOf<Mode>('mode', v.mode, ['frozen', 'online']) ?? 'frozen';
    const count = numberOption('count', v.count, 20, 1, 100);
    const ease = easeOptionsOf(v);
    const settings = v.config ? readSettings(v.config) : defaultSettings();
    const writeKey = v['write-key'] ?? process.env.KAIROS_WRITE_KEY;
    const apiKey = v['api-key'] ?? process.env.KAIROS_ADMIN_KEY;
    const url = v['via-http'];
    if (url !== undefined && (!writeKey || !apiKey)) throw new UsageError('--via-http needs --write-key and --api-key (or KAIROS_WRITE_KEY and KAIROS_ADMIN_KEY)');
    if (url !== undefined && v.config) throw new UsageError('--config applies in process only: the server reads its own config file');
    const input = await evalInput(spec);
    // the same data gets the same messageIds, so running again against the same server stores nothing twice
    const runId = `eval-${createHash('sha256').update(`${input.dataset}\u0000${input.split}\u0000${input.train.length}\u0000${input.test.length}`).digest('hex').slice(0, 12)}`;
    const engine: EvalOptions['engine'] =
      url === undefined ? inProcessEngine(settings) : async (identity, online) => new HttpEngine({ url, writeKey: writeKey!, apiKey: apiKey!, identity, online, runId });
    const baselines = v.baselines === 'none' ? [] : v.baselines ? v.baselines.split(',').map((s) => s.trim()).filter(Boolean) : BASELINES[input.protocol];
    const report = await runEvaluation(input, { mode, count, baselines, ease, engine, onProgress: progressReporter() });
    console.log(v.json ? JSON.stringify(report) : formatReport(report));
    return 0;
  } catch (e) {
    return userError('eval', e);
  }
}
