/**
 * `kairos tune`: searches the engine's settings on a validation split carved from train (the test
 * split is never read) and writes the best as a config file the server loads.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { validationInput } from '../eval/input.ts';
import { defaultSettings, readSettings, writeSettings } from '../eval/settings.ts';
import type { Mode } from '../eval/run.ts';
import { tune, type Trial } from '../eval/tune.ts';
import { DATA_OPTIONS, DATA_USAGE, dataSpecOf, numberOption, oneOf, parsedArgs, UsageError, userError } from './eval.ts';

const USAGE = `usage: kairos tune [FILE] [options]

Searches blend weights and generator settings on a validation split made from the train part only
(the same split rule applied again), then writes the best settings as a config file for the server.

${DATA_USAGE}
  --valid FILE                      a validation file split beforehand (e.g. session-rec's
                                    *_train_valid.txt, with --train *_train_tr.txt)
  (--test is not accepted: tuning never reads test data)

search:
  --metric NAME                     metric to maximise (default MRR@20 for next-item, NDCG@10 for top-n)
  --mode frozen|online              next-item evaluation mode (default frozen)
  --trials N                        evaluations at most (default 60)
  --sample N                        validation predictions (next-item) or people (top-n) per trial (default 3000)
  --config FILE                     start from these settings (default: built-in defaults)
  --out FILE                        where to write the result (default ./kairos.config.json; other keys of
                                    an existing file are kept); the server reads $KAIROS_CONFIG or
                                    $KAIROS_DATA_DIR/kairos.config.json
  --json                            print the result as JSON`;

const fmt = (x: number): string => x.toFixed(4);

export async function tuneCommand(argv: string[]): Promise<number> {
  const parsed = parsedArgs(
    () =>
      parseArgs({
        args: argv,
        allowPositionals: true,
        options: {
          ...DATA_OPTIONS,
          valid: { type: 'string' },
          metric: { type: 'string' },
          mode: { type: 'string' },
          trials: { type: 'string' },
          sample: { type: 'string' },
          config: { type: 'string' },
          out: { type: 'string' },
          json: { type: 'boolean' },
        },
      }),
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const { values: v, positionals } = parsed;
  try {
    if (v.test) throw new UsageError('kairos tune never reads test data: give --train (and --valid), or one FILE');
    if (positionals.length > 1) throw new UsageError('one data FILE at most');
    const spec = dataSpecOf(v, positionals[0]);
    const mode = oneOf<Mode>('mode', v.mode, ['frozen', 'online']) ?? 'frozen';
    const input = await validationInput(spec, v.valid);
    const metric = v.metric ?? (input.protocol === 'next-item' ? 'MRR@20' : 'NDCG@10');
    const maxTrials = numberOption('trials', v.trials, 60, 1, 100_000);
    const sampleSize = numberOption('sample', v.sample, 3000, 1, 1e9);
    const start = v.config ? readSettings(v.config) : defaultSettings();
    const out = resolve(v.out ?? 'kairos.config.json');
    console.error(`tuning ${metric} on ${input.dataset} (${input.split}), at most ${maxTrials} trials`);
    const onTrial = (t: Trial, best: Trial) =>
      console.error(`trial ${String(t.index).padStart(3)}  ${metric} ${fmt(t.score)}  best ${fmt(best.score)}  ${t.change}`);
    const result = await tune(input, start, { metric, mode, maxTrials, sampleSize, seed: spec.userSplit.seed, onTrial });
    const tunedOn = {
      dataset: input.dataset,
      protocol: input.protocol,
      mode,
      split: input.split,
      metric,
      validation: result.best.metrics,
      startValidation: result.start.metrics,
      trials: result.trials,
      at: new Date().toISOString(),
    };
    writeSettings(out, result.best.settings, tunedOn);
    if (v.json) console.log(JSON.stringify({ out, ...tunedOn }));
    else {
      console.log(`validation ${metric}: ${fmt(result.start.score)} at the start → ${fmt(result.best.score)} after ${result.trials} trials`);
      for (const [name, value] of Object.entries(result.best.metrics)) console.log(`  ${name.padEnd(14)} ${fmt(result.start.metrics[name] ?? NaN)} → ${fmt(value)}`);
      console.log(`wrote ${out}`);
    }
    return 0;
  } catch (e) {
    return userError('tune', e);
  }
}
