import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { evalCommand } from '../src/cli/eval.ts';
import { tuneCommand } from '../src/cli/tune.ts';
import { loadConfig } from '../src/config.ts';
import type { Interaction } from '../src/eval/dataset.ts';
import { HttpEngine } from '../src/eval/http.ts';
import { InProcessEngine } from '../src/eval/in-process.ts';
import { runEvaluation, type EvalInput, type EvalReport } from '../src/eval/run.ts';
import { defaultSettings, readSettings } from '../src/eval/settings.ts';
import { sampleValidation, tune, withPath, type Trial } from '../src/eval/tune.ts';
import { MatrixModelHolder } from '../src/recommend/model/holder.ts';
import { ADMIN_KEY, removeDir, startServer, tempDir, WRITE_KEY, type TestServer } from './helpers/server.ts';

const MIN = 60_000;
const T0 = Date.UTC(2024, 0, 1);

/**
 * A shop where every session walks a → b → c (or d → e → f); test sessions repeat the walk, so the
 * right next item is unambiguous and a working engine puts it first.
 */
function walks(): EvalInput {
  const train: Interaction[] = [];
  for (let s = 0; s < 30; s++) {
    const path = s % 3 === 0 ? ['d', 'e', 'f'] : ['a', 'b', 'c'];
    path.forEach((item, i) => train.push({ person: `t${s}`, session: `t${s}`, item, t: T0 + s * 60 * MIN + i * MIN, event: 'Product Viewed' }));
  }
  const test: Interaction[] = [];
  for (let s = 0; s < 4; s++) {
    const path = s === 3 ? ['d', 'e', 'f'] : ['a', 'b', 'c'];
    path.forEach((item, i) => test.push({ person: `v${s}`, session: `v${s}`, item, t: T0 + (40 + s) * 60 * MIN + i * MIN, event: 'Product Viewed' }));
  }
  const catalog = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((itemId) => ({ itemId, properties: { name: `Item ${itemId}` } }));
  return { dataset: 'walks', protocol: 'next-item', split: 'fixture', train, test, catalog };
}

const captureStdout = async (run: () => Promise<number>): Promise<{ code: number; out: string }> => {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')));
  try {
    return { code: await run(), out: lines.join('\n') };
  } finally {
    spy.mockRestore();
  }
};

describe('evaluation of the engine in process', () => {
  it('reports the engine beside the baselines, with the JSON shape of the issue', async () => {
    const r = await runEvaluation(walks(), {
      mode: 'frozen',
      count: 20,
      baselines: ['popularity', 'cooccurrence'],
      ease: {},
      engine: (identity, online) => InProcessEngine.open({ settings: defaultSettings(), identity, online }),
    });
    expect(Object.keys(r)).toEqual(expect.arrayContaining(['dataset', 'protocol', 'mode', 'k', 'metrics', 'baselines', 'predictions', 'predictionsPerSecond', 'p50Ms', 'p99Ms', 'trainSeconds']));
    expect(r.predictions).toBe(8);
    expect(r.metrics['MRR@20']).toBe(1);
    expect(Object.keys(r.baselines)).toEqual(['popularity', 'cooccurrence']);
    expect(r.baselines.cooccurrence!['HR@5']).toBe(1);
    // popularity always says b, c or a first: right only for some of the eight targets
    expect(r.baselines.popularity!['MRR@20']).toBeLessThan(1);
  });

  it('online mode learns from test sessions as they happen', async () => {
    const view = (person: string, item: string, t: number): Interaction => ({ person, session: person, item, t, event: 'Product Viewed' });
    // two months ago everyone went a → b; today, session after session goes a → h
    const train = Array.from({ length: 20 }, (_, s) => [view(`t${s}`, 'a', T0 - 60 * 1440 * MIN + s * 60 * MIN), view(`t${s}`, 'b', T0 - 60 * 1440 * MIN + s * 60 * MIN + MIN)]).flat();
    train.push(view('t99', 'g', T0 - 60 * 1440 * MIN), view('t99', 'h', T0 - 60 * 1440 * MIN + MIN));
    const test = Array.from({ length: 8 }, (_, s) => [view(`v${s}`, 'a', T0 + s * 60 * MIN), view(`v${s}`, 'h', T0 + s * 60 * MIN + MIN)]).flat();
    const input: EvalInput = { dataset: 'trend', protocol: 'next-item', split: 'fixture', train, test, catalog: [] };
    const options = { count: 20, baselines: [], ease: {}, engine: (identity: 'userId' | 'anonymousId', online: boolean) => InProcessEngine.open({ settings: defaultSettings(), identity, online }) };
    const frozen = await runEvaluation(input, { ...options, mode: 'frozen' });
    const online = await runEvaluation(input, { ...options, mode: 'online' });
    expect(online.predictions).toBe(8);
    expect(frozen.predictions).toBe(8);
    // frozen, b (the old habit) stays first; online, h is first from the second session on
    expect(online.metrics['MRR@20']).toBeGreaterThan(frozen.metrics['MRR@20']! + 0.3);
  });
});

describe('kairos tune reuses the collaborative model', () => {
  it('trains once per training setting, and a reused model scores as a fresh one', async () => {
    const retrain = vi.spyOn(MatrixModelHolder.prototype, 'retrain');
    try {
      const space = [
        { path: 'recommend.placements.default.popular', values: [0.01, 0.02] },
        { path: 'recommend.matrix.lambda', values: [10] },
      ];
      const trials: Trial[] = [];
      // the model alone ranks (popular only breaks its ties), so a trial's score is the model's
      const start = withPath(withPath(defaultSettings(), 'recommend.matrix', { minSupport: 1, inWorker: false, fullWeightAt: 0 }), 'recommend.placements.default', { collaborative: 1 });
      await tune(walks(), start, { metric: 'MRR@20', mode: 'frozen', maxTrials: 4, sampleSize: 100, seed: '1', space, onTrial: (t) => trials.push(t) });
      expect(trials.map((t) => t.change)).toEqual(['start', 'recommend.placements.default.popular=0.01', 'recommend.placements.default.popular=0.02', 'recommend.matrix.lambda=10']);
      expect(trials[0]!.metrics['HR@20']).toBe(1);
      // the start and the new lambda trained; the two popular trials reused the start's model
      expect(retrain).toHaveBeenCalledTimes(2);
      retrain.mockClear();
      for (const t of trials) {
        const fresh = await runEvaluation(sampleValidation(walks(), 100, '1'), {
          mode: 'frozen',
          count: 20,
          baselines: [],
          ease: {},
          engine: (identity, online) => InProcessEngine.open({ settings: t.settings, identity, online }),
        });
        expect(fresh.metrics).toEqual(t.metrics);
      }
      expect(retrain).toHaveBeenCalledTimes(trials.length);
    } finally {
      retrain.mockRestore();
    }
  });
});

describe('evaluation through the public API', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.close();
    removeDir(server.dataDir);
  });

  it('gives the same answers over HTTP as in process', async () => {
    const viaHttp = await runEvaluation(walks(), {
      mode: 'frozen',
      count: 20,
      baselines: [],
      ease: {},
      engine: async (identity, online) => new HttpEngine({ url: server.url, writeKey: WRITE_KEY, apiKey: ADMIN_KEY, identity, online, runId: 'walks' }),
    });
    expect(viaHttp.predictions).toBe(8);
    expect(viaHttp.metrics['MRR@20']).toBe(1);
    expect(server.opened.engine.workspaces.get('default')!.stats().events).toBe(90);
  });
});

describe('kairos eval and kairos tune commands', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kairos-eval-cli-'));
  const file = join(dir, 'clicks.tsv');
  beforeAll(() => {
    const { train, test } = walks();
    const rows = [...train, ...test.map((x) => ({ ...x, t: x.t + 2 * 86_400_000 }))].map((x) => `${x.session}\t${x.item}\t${x.t / 1000}`);
    writeFileSync(file, `SessionId\tItemId\tTime\n${rows.join('\n')}\n`);
  });
  afterAll(() => removeDir(dir));

  it('eval splits one file by time and prints one JSON object', async () => {
    const { code, out } = await captureStdout(() => evalCommand([file, '--session', 'SessionId', '--item', 'ItemId', '--time', 'Time', '--json']));
    expect(code).toBe(0);
    const report = JSON.parse(out) as EvalReport;
    expect(report).toMatchObject({ protocol: 'next-item', mode: 'frozen', k: 20, predictions: 8 });
    expect(report.counts.sessions).toBe(4);
  });

  it('a missing data file is a mistake in the command (exit 2 with a message), not a crash', async () => {
    const messages: string[] = [];
    const stderr = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void messages.push(args.map(String).join(' ')));
    try {
      const missing = join(dir, 'no-such-file.csv');
      expect((await captureStdout(() => evalCommand([missing, '--session', 'SessionId', '--item', 'ItemId', '--time', 'Time']))).code).toBe(2);
      expect((await captureStdout(() => tuneCommand([missing, '--session', 'SessionId', '--item', 'ItemId', '--time', 'Time']))).code).toBe(2);
      expect(messages.filter((m) => m.includes('cannot read') && m.includes('no-such-file.csv'))).toHaveLength(2);
    } finally {
      stderr.mockRestore();
    }
  });

  it('tune refuses test data, and writes settings the server\'s config loader accepts, keeping the file\'s other keys', async () => {
    const out = join(dir, 'kairos.config.json');
    writeFileSync(out, JSON.stringify({ note: 'other keys of the file are kept' }));
    const messages: string[] = [];
    const stderr = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void messages.push(args.map(String).join(' ')));
    try {
      expect((await captureStdout(() => tuneCommand(['--train', file, '--test', file]))).code).toBe(2);
      expect(messages[0]).toMatch(/never reads test data/);
      const { code } = await captureStdout(() => tuneCommand([file, '--session', 'SessionId', '--item', 'ItemId', '--time', 'Time', '--trials', '3', '--out', out]));
      expect(code).toBe(0);
    } finally {
      stderr.mockRestore();
    }
    expect(existsSync(out)).toBe(true);
    const written = JSON.parse(readFileSync(out, 'utf8'));
    expect(written.tunedOn).toMatchObject({ protocol: 'next-item', metric: 'MRR@20', trials: 3 });
    expect(written.note).toBe('other keys of the file are kept');
    expect(written.tunedOn.split).toMatch(/validation/);
    const dataDir = tempDir();
    expect(() => loadConfig({ KAIROS_CONFIG: out, KAIROS_DATA_DIR: dataDir })).not.toThrow();
    removeDir(dataDir);
    expect(readSettings(out).recommend).toEqual(written.recommend);
  });
});
