/**
 * `npm run bench:bandit`: the decision policy on a simulated audience with known click rates per
 * (segment, action) (src/decide/simulate.ts EXAMPLE_SIMULATION), through the real engine, printed as
 * one JSON object.
 *
 * The engine is opened as the server opens it (config file in the data dir, the real capabilities,
 * LMDB unless --store=memory). Each simulated person is ingested once as an `identify` with
 * `traits.segment`; the bandit sees the profile through a `traits.segment` feature added to the
 * default feature specs. Each of N steps picks a person, asks `DecisionsExtension.decide` (the code
 * behind POST /v1/decide), draws the click from the true rate of the chosen action and, on a click,
 * ingests a `Promotion Clicked` event carrying `properties.decision_id` through the engine's ingest —
 * the production reward path (the reward is learned when the event is applied, within the request).
 * Many steps run concurrently so LMDB's group commit shares fsyncs, as concurrent requests would.
 *
 * Regret is pseudo-regret as issue 6 defines it: Σ (best rate of the step's segment − rate of the
 * action chosen). The bandit's comes from the decisions it made; uniform's and the best fixed
 * action's are computed exactly on the same sequence of segments (their expected rate per step).
 * OPE: the decision log is read back from the store and evaluated with the code of `kairos ope`;
 * `truth` is the target policy's expected reward on the evaluated contexts, from the known rates.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { capabilities } from '../src/capabilities.ts';
import { loadConfig } from '../src/config.ts';
import { DEFAULT_FEATURE_SPECS, type FeatureSpec } from '../src/decide/features.ts';
import { evaluateLog, parsePolicy, type OpeDecision } from '../src/decide/ope-log.ts';
import { randomInt, seededRandom } from '../src/decide/random.ts';
import { DecisionsExtension } from '../src/decide/serving/extension.ts';
import { EXAMPLE_SIMULATION, SimulatedEnvironment } from '../src/decide/simulate.ts';
import { readDecisionLog } from '../src/cli/ope.ts';
import { Engine } from '../src/engine/engine.ts';
import { openEngine, type OpenedEngine } from '../src/engine/open.ts';
import { MemoryStore } from '../src/store/memory/memory-store.ts';
import { Progress } from '../src/cli/progress.ts';
import { removeDir, tempDir } from '../test/helpers/server.ts';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const decisions = Number(args.get('decisions') ?? 100_000);
const people = Number(args.get('people') ?? 20_000);
const concurrency = Number(args.get('concurrency') ?? 64);
const storeKind = (args.get('store') ?? 'lmdb') as 'lmdb' | 'memory';
const seed = args.get('seed') ?? 'bench-bandit';
/** traits.segment alone, or with the default specs (what a deployment adding a trait would run) */
const featureSet = (args.get('features') ?? 'default+segment') as 'segment' | 'default+segment';
const bandit: Record<string, number> = {};
for (const k of ['alpha', 'epsilon', 'ridge', 'dims'] as const) if (args.has(k)) bandit[k] = Number(args.get(k));
if (!['lmdb', 'memory'].includes(storeKind)) throw new Error('--store must be lmdb or memory');

const env = new SimulatedEnvironment(EXAMPLE_SIMULATION);
const PLACEMENT = 'home';
const SEGMENT_SPEC: FeatureSpec = { path: 'traits.segment', kind: 'categorical' };
const features = featureSet === 'segment' ? [SEGMENT_SPEC] : [SEGMENT_SPEC, ...DEFAULT_FEATURE_SPECS];

const dataDir = tempDir('kairos-bench-bandit-');
writeFileSync(
  join(dataDir, 'kairos.config.json'),
  JSON.stringify({ decide: { consistencySeconds: 0, seed, features, ...(Object.keys(bandit).length ? { bandit } : {}) } }),
);
const config = loadConfig({ KAIROS_DATA_DIR: dataDir, LOG_LEVEL: 'silent', KAIROS_RATE_LIMIT: '0' });
const logger = pino({ level: 'silent' });
const caps = capabilities(config);
const decisionsExt = caps.extensions.find((e): e is DecisionsExtension => e instanceof DecisionsExtension)!;
let opened: OpenedEngine;
if (storeKind === 'lmdb') opened = await openEngine(config, logger, caps.extensions);
else {
  const engine = await Engine.open({ config, store: new MemoryStore(), logger, extensions: caps.extensions });
  opened = { engine, close: () => engine.close() };
}
const { engine } = opened;
const ws = engine.workspaces.get('default')!;

try {
  const started = Date.now();
  // the offers, as PUT /v1/actions would store them
  for (const actionId of env.actions) {
    await decisionsExt.putAction(ws, actionId, { placements: [PLACEMENT], channel: 'web', content: { title: actionId } }, Date.now());
  }
  // the audience: one identify per person, carrying their segment as a trait
  const peopleRandom = seededRandom(`${seed}:segments`);
  const segmentOf: string[] = [];
  for (let i = 0; i < people; i++) segmentOf.push(env.sampleSegment(peopleRandom));
  for (let i = 0; i < people; i += 500) {
    const batch = segmentOf.slice(i, i + 500).map((segment, j) => ({ type: 'identify', userId: `p${i + j}`, traits: { segment }, messageId: `id-${i + j}` }));
    const r = await engine.ingest(ws, { events: batch });
    if (r.stored !== batch.length) throw new Error(`identify batch stored ${r.stored} of ${batch.length}`);
  }
  const setupSeconds = (Date.now() - started) / 1000;

  // steps draw their person and click uniform in step order, so runs differ only by the engine's own randomness
  const who = seededRandom(`${seed}:people`);
  const clicks = seededRandom(`${seed}:clicks`);
  const segmentOfDecision = new Map<string, string>();
  const segmentCounts = new Map(env.segments.map((s) => [s, 0]));
  const meanRate = (s: string): number => env.actions.reduce((sum, a) => sum + env.clickRate(s, a), 0) / env.actions.length;
  const best = env.bestFixedAction();
  let banditRegret = 0;
  let clickCount = 0;
  let rewardEventsStored = 0;
  let explored = 0;
  let next = 0;
  const progress = new Progress('decisions', decisions);
  const loopStarted = Date.now();
  const worker = async (): Promise<void> => {
    while (next < decisions) {
      const t = next++;
      const person = randomInt(who, people);
      const u = clicks();
      const segment = segmentOf[person]!;
      segmentCounts.set(segment, segmentCounts.get(segment)! + 1);
      const answer = await decisionsExt.decide(ws, { userId: `p${person}`, placement: PLACEMENT }, { now: Date.now() });
      const chosen = answer.actions[0];
      if (!chosen) throw new Error(`decision ${t} served nothing`);
      segmentOfDecision.set(answer.decisionId, segment);
      if (chosen.explored) explored++;
      const rate = env.clickRate(segment, chosen.actionId);
      banditRegret += env.optimalRate(segment) - rate;
      if (u < rate) {
        clickCount++;
        const r = await engine.ingest(ws, {
          events: [{ type: 'track', userId: `p${person}`, event: 'Promotion Clicked', properties: { decision_id: answer.decisionId, action_id: chosen.actionId }, messageId: `click-${t}` }],
        });
        rewardEventsStored += r.stored;
      }
      progress.update(t + 1, `regret ${banditRegret.toFixed(0)}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const loopSeconds = (Date.now() - loopStarted) / 1000;
  progress.finish(decisions, `regret ${banditRegret.toFixed(0)}`);

  let uniformRegret = 0;
  let fixedRegret = 0;
  for (const [s, n] of segmentCounts) {
    uniformRegret += n * (env.optimalRate(s) - meanRate(s));
    fixedRegret += n * (env.optimalRate(s) - env.clickRate(s, best));
  }

  // OPE on the durable log, with the code of `kairos ope`
  process.stderr.write('offline policy evaluation…\n');
  const opeStarted = Date.now();
  const { selection, values } = await readDecisionLog(engine.store, ws.id, {});
  const targets = [`fixed:${best}`, 'uniform', 'greedy', 'bandit'].map((p) => parsePolicy(p));
  const report = evaluateLog(selection, {
    policies: targets,
    bandit: config.decide.bandit,
    values,
    expectedReward: (d: OpeDecision, actionId: string) => env.clickRate(segmentOfDecision.get(d.decisionId)!, actionId),
  });
  const opeSeconds = (Date.now() - opeStarted) / 1000;
  const inside = (ci: [number, number], v: number): boolean => ci[0] <= v && v <= ci[1];
  // the headline target is the candidate policy one would evaluate before deploying it: LinUCB trained
  // on the other half of the log (cross-fitted); the deterministic best-offer policy, which the log
  // supports only through the ε floor (weights up to K/ε), is reported with the others in `policies`
  const headlinePolicy = 'bandit';
  const headline = report.policies[headlinePolicy]!;
  const policies = Object.fromEntries(
    Object.entries(report.policies).map(([name, p]) => [
      name,
      {
        truth: p.truth,
        ips: { estimate: p.ips.estimate, ci95: p.ips.ci95, covers: inside(p.ips.ci95, p.truth!) },
        snips: p.snips && { estimate: p.snips.estimate, ci95: p.snips.ci95, covers: inside(p.snips.ci95, p.truth!) },
        dr: { estimate: p.dr.estimate, ci95: p.dr.ci95, covers: inside(p.dr.ci95, p.truth!) },
        effectiveSampleSize: Math.round(p.effectiveSampleSize),
      },
    ]),
  );
  const result = {
    bench: 'bandit',
    node: process.version,
    cpus: execFileSync('nproc').toString().trim(),
    store: storeKind,
    path: 'DecisionsExtension.decide; rewards as ingested "Promotion Clicked" events with properties.decision_id',
    features: features.map((f) => f.path),
    bandit: decisionsExt.stateOf(ws).banditOf(PLACEMENT).options,
    people,
    concurrency,
    decisions,
    clicks: clickCount,
    rewardEventsStored,
    explored,
    regret: { bandit: banditRegret, uniform: uniformRegret, bestFixedAction: fixedRegret },
    regretRatio: { banditToUniform: banditRegret / uniformRegret, banditToBestFixedAction: banditRegret / fixedRegret },
    ope: {
      policy: headlinePolicy,
      estimator: 'dr',
      estimate: headline.dr.estimate,
      ci95: headline.dr.ci95,
      truth: headline.truth,
      covered: inside(headline.dr.ci95, headline.truth!),
      decisions: report.decisions,
      skipped: report.skipped,
      policies,
    },
    seconds: { setup: setupSeconds, decisions: loopSeconds, decisionsPerSecond: Math.round(decisions / loopSeconds), ope: opeSeconds },
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  await caps.stop?.();
  await opened.close();
  removeDir(dataDir);
}
