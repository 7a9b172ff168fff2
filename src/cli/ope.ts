/**
 * `kairos ope`: offline policy evaluation. Reads the decision log of a data dir (read-only, beside a
 * running server or not) and estimates what candidate policies would have earned per decision with IPS, SNIPS and
 * doubly robust estimators (src/decide/ope.ts), cross-fitted where a policy or reward model is learned
 * from the log (src/decide/ope-log.ts). docs/ope.md explains the estimators and assumptions.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import type { Action } from '../decide/action.ts';
import type { LinUcbOptions } from '../decide/bandit.ts';
import { evaluateLog, parsePolicy, selectLog, type EstimateJson, type LogFilter, type LogRecord, type LogSelection, type OpeReport, type PolicySpec } from '../decide/ope-log.ts';
import { DEFAULT_WORKSPACE } from '../engine/engine.ts';
import { LmdbStore } from '../store/lmdb/lmdb-store.ts';
import { INSTANCE, type Store } from '../store/types.ts';
import { numberOption, parsedArgs, UsageError, userError } from './eval.ts';

const USAGE = `usage: kairos ope [options]

Estimates, from the logged decisions of a data dir, the reward per decision candidate policies would
have earned: IPS, self-normalised IPS and doubly robust, each with a 95% interval. It reads the
store as an LMDB reader, so a server may keep running on the data dir (what it commits meanwhile may
or may not be included). Only the first slot of each decision is a clean draw
of the logging policy; decisions of opted-out people (also of those who opted out since) and slots
repeating an earlier draw are skipped.

data:
  --data-dir DIR        the data dir (default $KAIROS_DATA_DIR, else ./.kairos); its config file
                        (or $KAIROS_CONFIG) gives the serving bandit's settings
  --workspace ID        default "${DEFAULT_WORKSPACE}"
  --placement NAME      only this placement's decisions (default all; models are per placement)
  --since TIME          only decisions made at or after TIME (ISO-8601, or ms since epoch)
  --until TIME          only decisions made before TIME

policies (--policy LIST, comma-separated; default uniform,greedy,bandit,fixed:*):
  uniform               every candidate equally likely
  fixed:ACTION          always ACTION when it is a candidate (else uniform); fixed:* = each logged action
  greedy                the highest estimated reward × value, no exploration (learned from the log)
  bandit                LinUCB as served, with --alpha A and --epsilon E (default: the serving config)
  Learned policies and the doubly robust reward model are cross-fitted: trained on one half of the
  log (split by a hash of the decision id) and evaluated on the other.

output:
  --json                one JSON object on stdout instead of the table`;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A stored decision record as evaluation reads it; anything else is not a decision. */
function isLogRecord(v: unknown): v is LogRecord {
  return (
    isRecord(v) &&
    typeof v.decisionId === 'string' &&
    typeof v.placement === 'string' &&
    typeof v.at === 'number' &&
    Array.isArray(v.actions) &&
    Array.isArray(v.candidates) &&
    (v.x === undefined || Array.isArray(v.x))
  );
}

export interface DecisionLog {
  selection: LogSelection;
  /** business value of each action (1 when unset), for the greedy and bandit targets */
  values: Map<string, number>;
}

/** Reads a workspace's decision log and actions from a store. */
export async function readDecisionLog(store: Store, workspace: string, filter: LogFilter): Promise<DecisionLog> {
  const records: LogRecord[] = [];
  for await (const [, rec] of store.scan<unknown>(workspace, 'decisions')) if (isLogRecord(rec)) records.push(rec);
  const values = new Map<string, number>();
  for await (const [actionId, a] of store.scan<Action>(workspace, 'actions')) values.set(actionId, typeof a.value === 'number' ? a.value : 1);
  return { selection: selectLog(records, filter), values };
}

function timeOption(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const t = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(t)) throw new UsageError(`--${name} must be an ISO-8601 time or ms since epoch, got "${raw}"`);
  return t;
}

/** The policies a --policy list names; fixed:* becomes one fixed policy per action seen in the log. */
export function policiesOf(list: string, selection: LogSelection, bandit: { alpha?: number; epsilon?: number }): PolicySpec[] {
  const out: PolicySpec[] = [];
  const logged = new Set(selection.decisions.flatMap((d) => d.candidates));
  for (const item of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (item === 'fixed:*') {
      for (const a of [...logged].sort()) out.push({ name: `fixed:${a}`, kind: 'fixed', actionId: a });
      continue;
    }
    let spec: PolicySpec;
    try {
      spec = parsePolicy(item, bandit);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (spec.kind === 'fixed' && !logged.has(spec.actionId)) throw new UsageError(`action "${spec.actionId}" is not a candidate of any logged decision`);
    out.push(spec);
  }
  if (out.length === 0) throw new UsageError('--policy names no policy');
  return out.filter((p, i) => out.findIndex((q) => q.name === p.name) === i);
}

const f4 = (x: number): string => x.toFixed(4);
const cell = (e: EstimateJson | null): string => (e === null ? 'undefined' : `${f4(e.estimate)} [${f4(e.ci95[0])}, ${f4(e.ci95[1])}]`);
const pad = (s: string, n: number): string => s + ' '.repeat(Math.max(0, n - s.length));

export function formatOpeReport(r: OpeReport, where: string): string {
  const skipped = [
    r.skipped.optedOut ? `${r.skipped.optedOut} of opted-out people` : '',
    r.skipped.repeated ? `${r.skipped.repeated} repeating an earlier draw` : '',
    r.skipped.otherDims ? `${r.skipped.otherDims} with another feature length` : '',
    r.skipped.outsideFilter ? `${r.skipped.outsideFilter} outside the filter` : '',
  ].filter(Boolean);
  const lines = [
    `${r.decisions.toLocaleString('en')} decisions evaluated of ${r.records.toLocaleString('en')} logged (${where}; placements: ${r.placements.join(', ')})`,
    ...(skipped.length ? [`skipped: ${skipped.join(', ')}`] : []),
    `logged policy: mean reward ${f4(r.logged.meanReward)} [${f4(r.logged.ci95[0])}, ${f4(r.logged.ci95[1])}]`,
    '',
    'estimated reward per decision, with 95% intervals',
  ];
  const width = Math.max(8, ...Object.keys(r.policies).map((k) => k.length)) + 2;
  const col = 28;
  lines.push(`${pad('policy', width)}${pad('IPS', col)}${pad('SNIPS', col)}${pad('doubly robust', col)}ESS`);
  for (const [name, p] of Object.entries(r.policies)) {
    lines.push(`${pad(name, width)}${pad(cell(p.ips), col)}${pad(cell(p.snips), col)}${pad(cell(p.dr), col)}${Math.round(p.effectiveSampleSize).toLocaleString('en')}`);
  }
  lines.push('', 'ESS: effective sample size of the importance weights; a small one means the log says little about that policy.');
  return lines.join('\n');
}

export async function opeCommand(argv: string[]): Promise<number> {
  const parsed = parsedArgs(
    () =>
      parseArgs({
        args: argv,
        options: {
          'data-dir': { type: 'string' },
          workspace: { type: 'string' },
          placement: { type: 'string' },
          since: { type: 'string' },
          until: { type: 'string' },
          policy: { type: 'string' },
          alpha: { type: 'string' },
          epsilon: { type: 'string' },
          json: { type: 'boolean' },
          help: { type: 'boolean', short: 'h' },
        },
      }),
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const v = parsed.values;
  try {
    const config = loadConfig({ ...process.env, ...(v['data-dir'] !== undefined ? { KAIROS_DATA_DIR: v['data-dir'] } : {}) });
    const serving: Partial<LinUcbOptions> = config.decide.bandit;
    const bandit = {
      ...(v.alpha !== undefined ? { alpha: numberOption('alpha', v.alpha, 0, 0, 1e6) } : {}),
      ...(v.epsilon !== undefined ? { epsilon: numberOption('epsilon', v.epsilon, 0, 0, 1) } : {}),
    };
    const filter: LogFilter = {
      ...(v.placement !== undefined ? { placement: v.placement } : {}),
      ...(v.since !== undefined ? { since: timeOption('since', v.since)! } : {}),
      ...(v.until !== undefined ? { until: timeOption('until', v.until)! } : {}),
    };
    const policyList = v.policy ?? 'uniform,greedy,bandit,fixed:*';
    for (const item of policyList.split(',').map((x) => x.trim()).filter((x) => x && x !== 'fixed:*')) {
      try {
        parsePolicy(item);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    const workspace = v.workspace ?? DEFAULT_WORKSPACE;
    const dataDir = config.dataDir;
    if (!existsSync(join(dataDir, 'store'))) throw new UsageError(`no data dir at ${dataDir} (no store in it); give --data-dir or KAIROS_DATA_DIR`);
    let log: DecisionLog;
    // an LMDB reader: no data-dir lock, so it runs beside a server writing the same store
    const store = new LmdbStore(join(dataDir, 'store'), { readOnly: true });
    try {
      if (!(await store.get(INSTANCE, 'workspaces', workspace))) throw new UsageError(`no workspace "${workspace}" in ${dataDir}`);
      log = await readDecisionLog(store, workspace, filter);
    } finally {
      await store.close();
    }
    const where = [
      `workspace ${workspace}`,
      ...(filter.placement !== undefined ? [`placement ${filter.placement}`] : []),
      ...(v.since !== undefined ? [`since ${v.since}`] : []),
      ...(v.until !== undefined ? [`until ${v.until}`] : []),
    ].join(', ');
    const { selection, values } = log;
    if (selection.records === 0) throw new UsageError(`no logged decisions in ${dataDir} (${where}): serve some with POST /v1/decide first`);
    if (selection.decisions.length === 0) {
      const s = selection.skipped;
      throw new UsageError(
        `none of the ${selection.records} logged decisions can be evaluated (${where}): ${s.outsideFilter} outside the filter, ${s.optedOut} of opted-out people, ${s.repeated} repeating an earlier draw`,
      );
    }
    const policies = policiesOf(policyList, selection, bandit);
    const report = evaluateLog(selection, { policies, bandit: serving, values });
    console.log(v.json ? JSON.stringify(report) : formatOpeReport(report, where));
    return 0;
  } catch (e) {
    return userError('ope', e);
  }
}
