/**
 * Experiments inside the running engine: definitions, sticky first exposures, conversion events and
 * results, per workspace.
 *
 * Store layout (table `experiments`): `e\0<experimentId>` → the definition; `c\0<experimentId>\0<messageId>`
 * → a metric event sent while the experiment ran. Table `assignments`: `<experimentId>\0<id>` → the
 * person's first exposure, written under the ids the exposing request named.
 *
 * Results are computed when asked, from these records and the identity graph as it is then: a person
 * is counted once (their earliest exposure across all their ids wins), and a conversion counts when
 * one of the person's ids sent a metric event at or after that exposure. Computing at read time is
 * what makes merges, late events, duplicates (keyed by messageId), erasure and consent changes come
 * out right without counters to repair.
 *
 * Consent: a person whose Personalization preference is now false is not in the results at all
 * (neither exposure nor conversion) while it stays false, and a conversion counts only if its event
 * is usable under the consent rule (src/features/consent.ts): one sent while its sender had opted out
 * never counts, even after they opt back in. So opted-out people's events shape no result, and no
 * person is counted as exposed with their conversions withheld.
 */
import { isUsable, requestPersonIds, type Workspace, type PersonView } from '../engine/workspace.ts';
import { KairosError } from '../errors.ts';
import type { StoredEvent } from '../ingest/event.ts';
import type { Mutation, Store } from '../store/types.ts';
import type { WorkspaceExtension } from '../engine/engine.ts';
import { expectedShares, stickyAssignment, stillNamed, type Assignment } from './assign.ts';
import { HOLDOUT_VARIANT, metricEvent, type Experiment, type Metric } from './experiment.ts';
import { experimentResults, floorKey, type ExperimentResults, type MetricTotals, type PValues, type VariantTotals } from './results.ts';
import { alwaysValidLiftAt, comparableCounts, lookEvidence, sampleMean } from './stats.ts';
import { entryOf } from '../multimap.ts';

/** a time an experiment ran, in ms since epoch (`to` absent while it runs) */
export type RunningPeriod = { from: number; to?: number };

export interface ExperimentRecord extends Experiment {
  id: string;
  createdAt: string;
  updatedAt: string;
  /**
   * when it ran (ms since epoch; `to` absent while it runs): a metric event counts when its event
   * time falls in one, whenever it arrives (absent in records of earlier versions)
   */
  runningPeriods?: RunningPeriod[];
  /**
   * the expected share of each variant (and the holdout) from the time it took effect: sticky
   * assignments keep people where the shares of their first exposure put them, so the sample-ratio
   * check compares with the shares in force at each person's exposure
   */
  allocations?: Array<{ from: number; shares: Record<string, number> }>;
}

/** whether a metric event at `t` was sent while the experiment ran (in one of its periodsOf) */
function ranAt(periods: readonly RunningPeriod[], t: number): boolean {
  return periods.some((p) => t >= p.from && (p.to === undefined || t < p.to));
}

/**
 * When an experiment ran. A record of an earlier version kept no periods: one that runs ran since it
 * was created, one that stopped ran until its last change (when it was stopped, or later)
 */
function periodsOf(exp: ExperimentRecord): RunningPeriod[] {
  if (exp.runningPeriods !== undefined) return exp.runningPeriods;
  const from = Date.parse(exp.createdAt);
  if (!Number.isFinite(from)) return exp.status === 'running' ? [{ from: -Infinity }] : [];
  if (exp.status === 'running') return [{ from }];
  return exp.status === 'stopped' ? [{ from, to: Math.max(from, Date.parse(exp.updatedAt) || from) }] : [];
}

interface FirstExposure extends Assignment {
  /** ms since epoch */
  at: number;
  /**
   * the smallest of the ids the exposing request named or the person had: every id the exposure is
   * written under shares it, so ids named together count as one person even if no event ever linked
   * them (absent in records of earlier versions)
   */
  group?: string;
  /**
   * the id whose hash decided the assignment: the unit of the person's earliest exposure in any
   * experiment, else `group`. Reusing it keeps the global holdout the same people in every experiment
   * after identity merges change which of a person's ids sorts first (absent in earlier records,
   * which used `group`)
   */
  unit?: string;
}

interface Conversion {
  messageId: string;
  /** the id that sent the event */
  id: string;
  event: string;
  t: number;
  revenue?: number;
}

/** What a serving route needs to know about a person's experiment for a placement. */
export interface Exposed {
  experiment: { id: string; variant: string };
  holdout: boolean;
  /** the variant's config (empty for the holdout) */
  config: Record<string, unknown>;
}

const SEP = '\u0000';
const defKey = (id: string): string => `e${SEP}${id}`;
const convKey = (expId: string, messageId: string): string => `c${SEP}${expId}${SEP}${messageId}`;
const assignmentKey = (expId: string, id: string): string => `${expId}${SEP}${id}`;

export class ExperimentState {
  readonly experiments = new Map<string, ExperimentRecord>();
  /** id → experimentId → first exposure */
  private readonly assignments = new Map<string, Map<string, FirstExposure>>();
  /** experimentId → id → first exposure: the same records, by experiment (what results read) */
  private readonly byExperiment = new Map<string, Map<string, FirstExposure>>();
  /** experimentId → messageId → conversion */
  private readonly conversions = new Map<string, Map<string, Conversion>>();

  constructor(readonly ws: Workspace) {}

  /** the running experiment covering a placement (PUT refuses a second one) */
  runningFor(placement: string): ExperimentRecord | undefined {
    for (const e of this.experiments.values()) if (e.status === 'running' && e.placement === placement) return e;
    return undefined;
  }

  define(rec: ExperimentRecord): void {
    this.experiments.set(rec.id, rec);
  }

  restoreAssignment(key: string, a: FirstExposure): void {
    const at = key.indexOf(SEP);
    this.remember(key.slice(at + 1), a);
  }

  restoreConversion(expId: string, c: Conversion): void {
    let m = this.conversions.get(expId);
    if (!m) this.conversions.set(expId, (m = new Map()));
    m.set(c.messageId, c);
  }

  private remember(id: string, a: FirstExposure): void {
    entryOf(this.assignments, id, () => new Map()).set(a.experimentId, a);
    entryOf(this.byExperiment, a.experimentId, () => new Map()).set(id, a);
  }

  private drop(id: string): void {
    for (const expId of this.assignments.get(id)?.keys() ?? []) this.byExperiment.get(expId)?.delete(id);
    this.assignments.delete(id);
  }

  /**
   * The person's variant of the experiment running on `placement`, if any. The first exposure is
   * persisted (returned in `writes`) under the ids the request named, and found again through any id
   * of the person, so it survives later merges: when ids that were exposed separately merge, the
   * earliest exposure wins. (A person with thousands of ids costs one or two writes, not thousands.)
   */
  expose(view: PersonView | undefined, requestIds: readonly string[], placement: string, now: number): { exposed?: Exposed; writes: Mutation[] } {
    const exp = this.runningFor(placement);
    if (!exp) return { writes: [] };
    if (view?.personalization === false) return { writes: [] };
    const ids = requestPersonIds(view, requestIds);
    let persisted: FirstExposure | undefined;
    /** the person's earliest exposure in any experiment that says which id it hashed */
    let earliest: FirstExposure | undefined;
    for (const id of ids) {
      const byExp = this.assignments.get(id);
      if (!byExp) continue;
      const a = byExp.get(exp.id);
      // an exposure to a variant removed since does not hold: the person is assigned afresh, once
      if (a && stillNamed(exp, a) && (persisted === undefined || a.at < persisted.at)) persisted = a;
      for (const other of byExp.values()) if ((other.unit ?? other.group) !== undefined && (earliest === undefined || other.at < earliest.at)) earliest = other;
    }
    const canonical = [...ids].sort()[0]!;
    // the id hashed: the one of the person's first exposure anywhere, so that the global holdout (a
    // hash of the id alone) holds the same people in every experiment even after a merge made another
    // id sort first
    const unit = earliest?.unit ?? earliest?.group ?? canonical;
    const { assignment, fresh } = stickyAssignment(exp, unit, persisted);
    const first: FirstExposure = fresh ? { ...assignment, at: now, group: canonical, unit } : persisted!;
    const writes: Mutation[] = [];
    for (const id of requestIds.length > 0 ? requestIds : ids) {
      const held = this.assignments.get(id)?.get(exp.id);
      if (held && held.variant === first.variant && held.at === first.at) continue;
      this.remember(id, first);
      writes.push({ table: 'assignments', key: assignmentKey(exp.id, id), value: first });
    }
    const config = first.holdout ? {} : (exp.variants.find((v) => v.id === first.variant)?.config ?? {});
    return { exposed: { experiment: { id: exp.id, variant: first.variant }, holdout: first.holdout, config }, writes };
  }

  /** Metric events sent while an experiment ran, as they are applied; returns the records to store. */
  observe(events: readonly StoredEvent[]): Mutation[] {
    const writes: Mutation[] = [];
    let earliest = Infinity;
    for (const e of events) earliest = Math.min(earliest, e.timestamp);
    for (const exp of this.experiments.values()) {
      // an experiment that stopped before every event of the batch was sent has nothing to take
      const periods = periodsOf(exp);
      const last = periods.at(-1);
      if (last === undefined || (last.to !== undefined && last.to <= earliest)) continue;
      for (const e of events) {
        if (e.type !== 'track' || e.event === undefined) continue;
        // sent while it ran, whenever it arrives (a late event of a stopped experiment counts)
        if (!ranAt(periods, e.timestamp)) continue;
        const metric = exp.metrics.find((m) => metricEvent(m) === e.event);
        if (!metric) continue;
        const id = e.userId ?? e.anonymousId;
        if (id === undefined) continue;
        // kept whatever the sender's consent: whether it counts is decided when results are read,
        // by the consent rule as it then applies (an event sent while opted out never counts)
        const c: Conversion = { messageId: e.messageId, id, event: e.event, t: e.timestamp };
        const revenue = revenueOf(metric, e);
        if (revenue !== undefined) c.revenue = revenue;
        this.restoreConversion(exp.id, c);
        writes.push({ table: 'experiments', key: convKey(exp.id, e.messageId), value: c });
      }
    }
    return writes;
  }

  /**
   * The people exposed to an experiment, each with their earliest exposure, and the conversions that
   * count (a metric event from one of their ids at or after it). A person is a component of ids
   * joined by the identity graph as it is now and by exposures written together (`group`). Only this
   * experiment's assignments are read. People opted out of personalization now are left out whole, and
   * conversions whose event is not usable under the consent rule do not count (see the file comment).
   * People are numbered (their component's representative): the union-find runs on integers.
   */
  private exposedPeople(exp: ExperimentRecord): { people: Map<number, FirstExposure>; conversions: Array<{ person: number; c: Conversion }> } {
    const expId = exp.id;
    // one node per id: an identity root and a group are ids of the person they stand for
    const nodes = new Map<string, number>();
    const parent: number[] = [];
    const node = (id: string): number => {
      let n = nodes.get(id);
      if (n === undefined) {
        n = parent.length;
        parent.push(n);
        nodes.set(id, n);
      }
      return n;
    };
    const find = (x: number): number => {
      let r = x;
      while (parent[r] !== r) r = parent[r]!;
      while (parent[x] !== r) {
        const next = parent[x]!;
        parent[x] = r;
        x = next;
      }
      return r;
    };
    const join = (a: number, b: number): void => {
      const ra = find(a);
      const rb = find(b);
      if (ra !== rb) parent[ra] = rb;
    };
    const assigned: Array<[number, FirstExposure]> = [];
    /** nodes of ids whose person has opted out of personalization */
    const optedOut: number[] = [];
    for (const [id, a] of this.byExperiment.get(expId) ?? []) {
      const n = node(id);
      const root = this.ws.rootOf(id);
      if (root !== undefined) {
        if (root !== id) join(n, node(root));
        if (this.ws.viewOf(root)?.personalization === false) optedOut.push(n);
      }
      if (a.group !== undefined && a.group !== id) join(n, node(a.group));
      assigned.push([n, a]);
    }
    const excluded = new Set(optedOut.map(find));
    const people = new Map<number, FirstExposure>();
    for (const [n, a] of assigned) {
      const person = find(n);
      if (excluded.has(person)) continue;
      // the earliest exposure to a variant the experiment still has: one to a removed variant was
      // followed by a fresh assignment at the person's next request
      if (!stillNamed(exp, a)) continue;
      const held = people.get(person);
      if (held === undefined || a.at < held.at) people.set(person, a);
    }
    const conversions: Array<{ person: number; c: Conversion }> = [];
    const periods = periodsOf(exp);
    for (const c of this.conversions.get(expId)?.values() ?? []) {
      const root = this.ws.rootOf(c.id);
      const via = nodes.get(c.id) ?? (root !== undefined ? nodes.get(root) : undefined);
      if (via === undefined) continue;
      const person = find(via);
      const first = people.get(person);
      if (!first || c.t < first.at || !ranAt(periods, c.t)) continue;
      const view = root === undefined ? undefined : this.ws.viewOf(root);
      if (view !== undefined && !isUsable(view, c.messageId, c.t)) continue;
      conversions.push({ person, c });
    }
    return { people, conversions };
  }

  /**
   * Results from the records as they are now. The always-valid p-values are minima over every look,
   * and every exposure and every conversion, replayed in time order, is a look: so a p-value depends
   * on the data alone, not on when anyone asked, and survives restarts and edits of the experiment.
   * A step changes one variant's counts, so a look recomputes only the comparisons it changed (every
   * variant's, when the control changed), in plain numbers (`Replay`).
   */
  results(expId: string): ExperimentResults & { experimentId: string; status: string } {
    const exp = this.experiments.get(expId)!;
    const { people, conversions } = this.exposedPeople(exp);
    const replay = new Replay(exp);
    // ties in time: exposures first, then by the person's first exposure (its group, else its time)
    // or the conversion's messageId, so that the order, and the p-values, depend on the data alone
    type Step = { t: number; order: 0 | 1; tie: string; variant: number; person: number; metric: number; revenue: number };
    const steps: Step[] = [];
    for (const [person, first] of people) {
      const variant = replay.variantIndex.get(first.variant);
      if (variant !== undefined) steps.push({ t: first.at, order: 0, tie: first.group ?? '', variant, person, metric: -1, revenue: 0 });
    }
    for (const { person, c } of conversions) {
      const metric = replay.metricIndex.get(c.event);
      const variant = replay.variantIndex.get(people.get(person)!.variant);
      if (metric !== undefined && variant !== undefined) steps.push({ t: c.t, order: 1, tie: c.messageId, variant, person, metric, revenue: c.revenue ?? 0 });
    }
    steps.sort((a, b) => a.t - b.t || a.order - b.order || (a.tie < b.tie ? -1 : a.tie > b.tie ? 1 : 0));
    for (const step of steps) {
      if (step.metric < 0) replay.expose(step.variant);
      else replay.convert(step.variant, step.person, step.metric, step.revenue);
    }
    const results = experimentResults({ totals: replay.totals(), expectedShares: sharesOver(exp, people.values()), floors: replay.floors(), floorsFinal: true, liftIntervals: replay.liftIntervals() });
    return { experimentId: expId, status: exp.status, ...results };
  }

  /** the ids whose exposures were written together with those of `ids` (one person by the requests' word) */
  private exposedWith(ids: readonly string[]): string[] {
    const groups = new Set<string>();
    for (const id of ids) for (const a of this.assignments.get(id)?.values() ?? []) if (a.group !== undefined) groups.add(a.group);
    const out = new Set(ids);
    if (groups.size > 0) for (const [id, byExp] of this.assignments) for (const a of byExp.values()) if (a.group !== undefined && groups.has(a.group)) out.add(id);
    return [...out];
  }

  /**
   * store deletions of what the experiments hold about these ids. Ids whose exposures were written
   * together with theirs are one person by the requests' word, and go too: erasure errs on the side
   * of erasing (so a second person on a shared device named in those requests is assigned afresh).
   */
  deletions(ids: readonly string[]): Mutation[] {
    const gone = new Set(ids);
    const out: Mutation[] = [];
    for (const id of this.exposedWith(ids)) for (const expId of this.assignments.get(id)?.keys() ?? []) out.push({ table: 'assignments', key: assignmentKey(expId, id) });
    for (const [expId, m] of this.conversions) for (const c of m.values()) if (gone.has(c.id)) out.push({ table: 'experiments', key: convKey(expId, c.messageId) });
    return out;
  }

  forget(ids: readonly string[]): void {
    const gone = new Set(ids);
    for (const id of this.exposedWith(ids)) this.drop(id);
    for (const m of this.conversions.values()) for (const [k, c] of m) if (gone.has(c.id)) m.delete(k);
  }

  /** export: a person's assignments (their conversions are their own events, exported with them) */
  of(ids: readonly string[]): Array<FirstExposure & { id: string }> {
    const out: Array<FirstExposure & { id: string }> = [];
    for (const id of ids) for (const a of this.assignments.get(id)?.values() ?? []) out.push({ id, ...a });
    return out;
  }
}

/** the running periods of a stored experiment (one from its creation for a record of an earlier version that runs) */
function keptPeriods(held: ExperimentRecord | undefined): RunningPeriod[] {
  return held === undefined ? [] : periodsOf(held).map((p) => ({ ...p }));
}

function sameShares(a: Record<string, number>, b: Record<string, number>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/**
 * The share of exposures each variant should have, given when the people counted were first
 * exposed: the mean, over them, of the shares in force at their exposure (the current shares when
 * the allocation never changed, or for records of earlier versions).
 */
function sharesOver(exp: ExperimentRecord, exposures: Iterable<FirstExposure>): Record<string, number> {
  const current = expectedShares(exp);
  const allocations = exp.allocations ?? [];
  if (allocations.length < 2) return current;
  const sum = Object.create(null) as Record<string, number>;
  for (const k of Object.keys(current)) sum[k] = 0;
  let n = 0;
  for (const a of exposures) {
    let at = allocations.length - 1;
    while (at > 0 && allocations[at]!.from > a.at) at--;
    const shares = allocations[at]!.shares;
    // shares of variants the experiment still has, made to sum to one again
    let total = 0;
    for (const k of Object.keys(current)) total += Object.hasOwn(shares, k) ? shares[k]! : 0;
    if (total <= 0) continue;
    for (const k of Object.keys(current)) sum[k]! += (Object.hasOwn(shares, k) ? shares[k]! : 0) / total;
    n++;
  }
  if (n === 0) return current;
  for (const k of Object.keys(sum)) sum[k]! /= n;
  return sum;
}

/**
 * The replay of an experiment's steps in time order, as counters in typed arrays: per variant the
 * exposed people, per variant and metric the converted people and Σ, Σ² of revenue per person, and
 * the lowest p-value every comparison with the control has reached. Each step takes a look at the
 * comparisons it changed, once they are big enough to compare (stats.ts `comparableCounts`).
 */
class Replay {
  readonly variants: string[];
  readonly variantIndex = new Map<string, number>();
  readonly metricNames: string[];
  readonly metricIndex = new Map<string, number>();
  private readonly revenue: boolean[];
  private readonly control = 0;
  private readonly exposures: Float64Array;
  /** by variant · metrics + metric */
  private readonly converted: Float64Array;
  private readonly sum: Float64Array;
  private readonly sumSquares: Float64Array;
  /** people whose revenue total is not 0 */
  private readonly payers: Float64Array;
  /** the largest evidence ln Λ of any look so far (p = e^−evidence), for the rate and for revenue */
  private readonly evidenceRate: Float64Array;
  private readonly evidenceRevenue: Float64Array;
  /** the running intersection of the always-valid lift intervals of every look (NaN: no look yet) */
  private readonly liftRate: Float64Array;
  private readonly liftRevenue: Float64Array;
  /** per person · metrics + metric, their revenue so far (present once they converted) */
  private readonly personRevenue = new Map<number, number>();

  constructor(exp: Experiment) {
    this.variants = [...exp.variants.map((v) => v.id), HOLDOUT_VARIANT];
    this.variants.forEach((v, i) => this.variantIndex.set(v, i));
    this.metricNames = exp.metrics.map(metricEvent);
    this.metricNames.forEach((m, i) => this.metricIndex.set(m, i));
    this.revenue = exp.metrics.map((m) => typeof m !== 'string' && m.revenueProperty !== undefined);
    const cells = this.variants.length * this.metricNames.length;
    this.exposures = new Float64Array(this.variants.length);
    this.converted = new Float64Array(cells);
    this.sum = new Float64Array(cells);
    this.sumSquares = new Float64Array(cells);
    this.payers = new Float64Array(cells);
    this.evidenceRate = new Float64Array(cells);
    this.evidenceRevenue = new Float64Array(cells);
    // [lo, hi] per cell
    this.liftRate = new Float64Array(2 * cells).fill(NaN);
    this.liftRevenue = new Float64Array(2 * cells).fill(NaN);
  }

  /** narrows a cell's running interval by one look's */
  private static narrow(intervals: Float64Array, cell: number, look: [number, number] | undefined): void {
    if (look === undefined) return;
    const lo = intervals[2 * cell]!;
    intervals[2 * cell] = Number.isNaN(lo) ? look[0] : Math.max(lo, look[0]);
    const hi = intervals[2 * cell + 1]!;
    intervals[2 * cell + 1] = Number.isNaN(hi) ? look[1] : Math.min(hi, look[1]);
  }

  private static intervalOf(intervals: Float64Array, cell: number): [number, number] | undefined {
    const lo = intervals[2 * cell]!;
    const hi = intervals[2 * cell + 1]!;
    // none yet, or an empty intersection (the normal approximation failed somewhere): say nothing
    return Number.isNaN(lo) || !(lo <= hi) ? undefined : [lo, hi];
  }

  expose(variant: number): void {
    this.exposures[variant]!++;
    for (let m = 0; m < this.metricNames.length; m++) this.lookAfter(variant, m);
  }

  convert(variant: number, person: number, metric: number, revenue: number): void {
    const cell = variant * this.metricNames.length + metric;
    const key = person * this.metricNames.length + metric;
    const before = this.personRevenue.get(key);
    if (before === undefined) this.converted[cell]!++;
    const after = (before ?? 0) + revenue;
    this.personRevenue.set(key, after);
    this.sum[cell]! += after - (before ?? 0);
    this.sumSquares[cell]! += after * after - (before ?? 0) * (before ?? 0);
    this.payers[cell]! += Number(after !== 0) - Number((before ?? 0) !== 0);
    this.lookAfter(variant, metric);
  }

  /** the looks a change of `variant`'s counts of `metric` calls for */
  private lookAfter(variant: number, metric: number): void {
    if (variant !== this.control) this.look(variant, metric);
    else for (let v = 0; v < this.variants.length; v++) if (v !== this.control) this.look(v, metric);
  }

  private look(variant: number, metric: number): void {
    const metrics = this.metricNames.length;
    const t = variant * metrics + metric;
    const c = this.control * metrics + metric;
    const nt = this.exposures[variant]!;
    const nc = this.exposures[this.control]!;
    const xt = this.converted[t]!;
    const xc = this.converted[c]!;
    if (comparableCounts(nt, xt, nc, xc, 'rate')) {
      const pt = xt / nt;
      const pc = xc / nc;
      this.evidenceRate[t] = lookEvidence(nt, pt, pt * (1 - pt), nc, pc, pc * (1 - pc), undefined, this.evidenceRate[t]);
      Replay.narrow(this.liftRate, t, alwaysValidLiftAt(nt, pt, pt * (1 - pt), nc, pc, pc * (1 - pc)));
    }
    if (this.revenue[metric] && comparableCounts(nt, this.payers[t]!, nc, this.payers[c]!, 'mean')) {
      const mt = sampleMean(nt, this.sum[t]!, this.sumSquares[t]!);
      const mc = sampleMean(nc, this.sum[c]!, this.sumSquares[c]!);
      this.evidenceRevenue[t] = lookEvidence(nt, mt.mean, mt.observationVariance, nc, mc.mean, mc.observationVariance, undefined, this.evidenceRevenue[t]);
      Replay.narrow(this.liftRevenue, t, alwaysValidLiftAt(nt, mt.mean, mt.observationVariance, nc, mc.mean, mc.observationVariance));
    }
  }

  totals(): VariantTotals[] {
    const metrics = this.metricNames.length;
    return this.variants.map((variant, v) => {
      const byMetric = Object.create(null) as Record<string, MetricTotals>;
      this.metricNames.forEach((name, m) => {
        const cell = v * metrics + m;
        byMetric[name] = this.revenue[m] ? { conversions: this.converted[cell]!, revenue: { sum: this.sum[cell]!, sumSquares: this.sumSquares[cell]!, payers: this.payers[cell]! } } : { conversions: this.converted[cell]! };
      });
      return { variant, exposures: this.exposures[v]!, metrics: byMetric };
    });
  }

  /** the always-valid lift intervals, by floorKey(variant, metric) */
  liftIntervals(): Map<string, { conversionRate?: [number, number]; revenuePerPerson?: [number, number] }> {
    const metrics = this.metricNames.length;
    const out = new Map<string, { conversionRate?: [number, number]; revenuePerPerson?: [number, number] }>();
    this.variants.forEach((variant, v) => {
      if (v === this.control) return;
      this.metricNames.forEach((name, m) => {
        const cell = v * metrics + m;
        const rate = Replay.intervalOf(this.liftRate, cell);
        const revenue = Replay.intervalOf(this.liftRevenue, cell);
        if (rate || revenue) out.set(floorKey(variant, name), { ...(rate ? { conversionRate: rate } : {}), ...(revenue ? { revenuePerPerson: revenue } : {}) });
      });
    });
    return out;
  }

  floors(): Map<string, PValues> {
    const metrics = this.metricNames.length;
    const out = new Map<string, PValues>();
    this.variants.forEach((variant, v) => {
      if (v === this.control) return;
      this.metricNames.forEach((name, m) => {
        const cell = v * metrics + m;
        out.set(floorKey(variant, name), { conversionRate: Math.exp(-this.evidenceRate[cell]!), ...(this.revenue[m] ? { revenuePerPerson: Math.exp(-this.evidenceRevenue[cell]!) } : {}) });
      });
    });
    return out;
  }
}

function revenueOf(metric: Metric, e: StoredEvent): number | undefined {
  if (typeof metric === 'string' || metric.revenueProperty === undefined) return undefined;
  const v = (e.properties as Record<string, unknown> | undefined)?.[metric.revenueProperty];
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  // beyond ±MAX_REVENUE a value is a broken client, not a sale, and its square would overflow the
  // variance to Infinity (results served as null): it counts as no revenue, like a non-number
  return Number.isFinite(n) && Math.abs(n) <= MAX_REVENUE ? n : 0;
}

/** the largest revenue one event may carry (a trillion), so that Σx² stays finite */
export const MAX_REVENUE = 1e12;

export class ExperimentsExtension implements WorkspaceExtension {
  private readonly states = new WeakMap<Workspace, ExperimentState>();
  private store?: Store;

  async attach(ws: Workspace, store: Store): Promise<void> {
    this.store = store;
    const state = new ExperimentState(ws);
    for await (const [key, value] of store.scan<ExperimentRecord | Conversion>(ws.id, 'experiments')) {
      if (key.startsWith(`e${SEP}`)) state.define(value as ExperimentRecord);
      else if (key.startsWith(`c${SEP}`)) state.restoreConversion(key.split(SEP)[1]!, value as Conversion);
    }
    for await (const [key, a] of store.scan<FirstExposure>(ws.id, 'assignments')) state.restoreAssignment(key, a);
    // conversions are stored before the event's request is acknowledged (Workspace.onApplied)
    ws.onApplied((events) => {
      const writes = state.observe(events);
      return writes.length ? store.commit(ws.id, writes) : undefined;
    });
    ws.onForget(
      (ids) => state.forget(ids),
      (ids) => state.deletions(ids),
    );
    this.states.set(ws, state);
  }

  stateOf(ws: Workspace): ExperimentState {
    const s = this.states.get(ws);
    if (!s) throw new Error(`workspace ${ws.id} has no experiments`);
    return s;
  }

  /** per workspace, the definition being stored: one at a time */
  private readonly putting = new WeakMap<Workspace, Promise<unknown>>();

  /**
   * Stores or replaces an experiment definition (validated by the caller). Definitions are stored
   * one at a time per workspace, and the one-running-experiment-per-placement rule is checked
   * inside that turn: concurrent PUTs cannot both start an experiment on one placement.
   */
  async put(ws: Workspace, id: string, experiment: Experiment, now: number): Promise<ExperimentRecord> {
    const state = this.stateOf(ws);
    const store = (): Promise<ExperimentRecord> => {
      const rival = experiment.status === 'running' ? state.runningFor(experiment.placement) : undefined;
      if (rival && rival.id !== id) {
        throw new KairosError('KAIROS_ERR_CONFLICT', `experiment "${rival.id}" is already running on placement "${experiment.placement}"; stop it first`);
      }
      const held = state.experiments.get(id);
      const rec: ExperimentRecord = { ...experiment, id, createdAt: held?.createdAt ?? new Date(now).toISOString(), updatedAt: new Date(now).toISOString() };
      const periods = keptPeriods(held);
      const open = periods.at(-1)?.to === undefined && periods.length > 0;
      if (experiment.status === 'running' && !open) periods.push({ from: now });
      else if (experiment.status !== 'running' && open) periods[periods.length - 1] = { ...periods.at(-1)!, to: now };
      if (periods.length > 0) rec.runningPeriods = periods;
      // a record of an earlier version kept no allocations: its shares held from its creation
      const allocations = held === undefined ? [] : held.allocations ? [...held.allocations] : [{ from: Date.parse(held.createdAt) || 0, shares: expectedShares(held) }];
      const shares = expectedShares(rec);
      if (allocations.length === 0 || !sameShares(allocations.at(-1)!.shares, shares)) allocations.push({ from: now, shares });
      rec.allocations = allocations;
      return this.store!.commit(ws.id, [{ table: 'experiments', key: defKey(id), value: rec }]).then(() => {
        state.define(rec);
        return rec;
      });
    };
    const turn = (this.putting.get(ws) ?? Promise.resolve()).then(store);
    this.putting.set(ws, turn.catch(() => undefined));
    return turn;
  }
}
