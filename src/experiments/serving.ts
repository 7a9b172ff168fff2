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
 * what makes merges, late events, duplicates (keyed by messageId) and erasure come out right without
 * counters to repair.
 */
import type { Workspace, PersonView } from '../engine/workspace.ts';
import { KairosError } from '../errors.ts';
import type { StoredEvent } from '../ingest/event.ts';
import type { Mutation, Store } from '../store/types.ts';
import type { WorkspaceExtension } from '../engine/engine.ts';
import { expectedShares, stickyAssignment, type Assignment } from './assign.ts';
import { HOLDOUT_VARIANT, metricEvent, type Experiment, type Metric } from './experiment.ts';
import { experimentResults, floorKey, pValuesAt, type ExperimentResults, type MetricTotals, type PValues, type VariantTotals } from './results.ts';

export interface ExperimentRecord extends Experiment {
  id: string;
  createdAt: string;
  updatedAt: string;
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
    let m = this.assignments.get(id);
    if (!m) this.assignments.set(id, (m = new Map()));
    m.set(a.experimentId, a);
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
    const ids = [...new Set([...(view ? view.ids : []), ...requestIds])];
    let persisted: FirstExposure | undefined;
    for (const id of ids) {
      const a = this.assignments.get(id)?.get(exp.id);
      if (a && (persisted === undefined || a.at < persisted.at)) persisted = a;
    }
    const canonical = [...ids].sort()[0]!;
    const { assignment, fresh } = stickyAssignment(exp, canonical, persisted);
    const first: FirstExposure = fresh ? { ...assignment, at: now, group: canonical } : persisted!;
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

  /** Metric events of running experiments, as they are applied; returns the records to store. */
  observe(events: readonly StoredEvent[]): Mutation[] {
    const writes: Mutation[] = [];
    for (const exp of this.experiments.values()) {
      if (exp.status !== 'running') continue;
      for (const e of events) {
        if (e.type !== 'track' || e.event === undefined) continue;
        const metric = exp.metrics.find((m) => metricEvent(m) === e.event);
        if (!metric) continue;
        const id = e.userId ?? e.anonymousId;
        if (id === undefined) continue;
        const root = this.ws.rootOf(id);
        if (root !== undefined && this.ws.viewOf(root)?.personalization === false) continue;
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
   * joined by the identity graph as it is now and by exposures written together (`group`).
   */
  private exposedPeople(expId: string): { people: Map<string, FirstExposure>; conversions: Array<{ person: string; c: Conversion }> } {
    const parent = new Map<string, string>();
    const find = (x: string): string => {
      let r = x;
      for (let p = parent.get(r); p !== undefined && p !== r; p = parent.get(r)) r = p;
      for (let y = x, p = parent.get(y); p !== undefined && p !== r; y = p, p = parent.get(y)) parent.set(y, r);
      return r;
    };
    const join = (a: string, b: string): void => {
      if (!parent.has(b)) parent.set(b, b);
      const [ra, rb] = [find(a), find(b)];
      if (ra !== rb) parent.set(ra, rb);
    };
    const assigned: Array<[string, FirstExposure]> = [];
    for (const [id, byExp] of this.assignments) {
      const a = byExp.get(expId);
      if (!a) continue;
      const node = `i${SEP}${id}`;
      parent.set(node, parent.get(node) ?? node);
      const root = this.ws.rootOf(id);
      if (root !== undefined) join(node, `r${SEP}${root}`);
      if (a.group !== undefined) join(node, `g${SEP}${a.group}`);
      assigned.push([node, a]);
    }
    const people = new Map<string, FirstExposure>();
    for (const [node, a] of assigned) {
      const person = find(node);
      const held = people.get(person);
      if (held === undefined || a.at < held.at) people.set(person, a);
    }
    const conversions: Array<{ person: string; c: Conversion }> = [];
    for (const c of this.conversions.get(expId)?.values() ?? []) {
      const node = `i${SEP}${c.id}`;
      const root = this.ws.rootOf(c.id);
      const via = parent.has(node) ? node : root !== undefined && parent.has(`r${SEP}${root}`) ? `r${SEP}${root}` : undefined;
      if (via === undefined) continue;
      const person = find(via);
      const first = people.get(person);
      if (first && c.t >= first.at) conversions.push({ person, c });
    }
    return { people, conversions };
  }

  /**
   * Results from the records as they are now. The always-valid p-values are minima over every look,
   * and every exposure and every conversion, replayed in time order, is a look: so a p-value depends
   * on the data alone, not on when anyone asked, and survives restarts and edits of the experiment.
   */
  results(expId: string): ExperimentResults & { experimentId: string; status: string } {
    const exp = this.experiments.get(expId)!;
    const { people, conversions } = this.exposedPeople(expId);
    const variants = [...exp.variants.map((v) => v.id), HOLDOUT_VARIANT];
    const control = exp.variants[0]!.id;
    const totals = new Map<string, { variant: string; exposures: number; metrics: Record<string, MetricTotals> }>();
    for (const variant of variants) {
      const metrics: Record<string, MetricTotals> = Object.create(null) as Record<string, MetricTotals>;
      for (const m of exp.metrics) metrics[metricEvent(m)] = typeof m === 'string' || m.revenueProperty === undefined ? { conversions: 0 } : { conversions: 0, revenue: { sum: 0, sumSquares: 0 } };
      totals.set(variant, { variant, exposures: 0, metrics });
    }
    type Step = { t: number; order: 0 | 1; tie: string; person: string; c?: Conversion };
    const steps: Step[] = [];
    for (const [person, first] of people) steps.push({ t: first.at, order: 0, tie: person, person });
    for (const { person, c } of conversions) steps.push({ t: c.t, order: 1, tie: c.messageId, person, c });
    steps.sort((a, b) => a.t - b.t || a.order - b.order || (a.tie < b.tie ? -1 : a.tie > b.tie ? 1 : 0));
    /** per person and metric, the revenue so far (present once they converted) */
    const converted = new Map<string, Map<string, number>>();
    const floors = new Map<string, PValues>();
    const metricNames = exp.metrics.map(metricEvent);
    const look = (variant: string): void => {
      const base = totals.get(control)!;
      for (const v of variant === control ? totals.values() : [totals.get(variant)!]) {
        if (v.variant === control) continue;
        for (const metric of metricNames) floors.set(floorKey(v.variant, metric), pValuesAt(v, base, metric, undefined, floors.get(floorKey(v.variant, metric))));
      }
    };
    for (const step of steps) {
      const variant = people.get(step.person)!.variant;
      const t = totals.get(variant);
      if (!t) continue;
      if (!step.c) t.exposures++;
      else {
        const m = t.metrics[step.c.event];
        if (!m) continue;
        let mine = converted.get(step.person);
        if (!mine) converted.set(step.person, (mine = new Map()));
        const before = mine.get(step.c.event);
        if (before === undefined) m.conversions++;
        const after = (before ?? 0) + (step.c.revenue ?? 0);
        mine.set(step.c.event, after);
        if (m.revenue) {
          m.revenue.sum += after - (before ?? 0);
          m.revenue.sumSquares += after * after - (before ?? 0) * (before ?? 0);
        }
      }
      look(variant);
    }
    const results = experimentResults({ totals: [...totals.values()] as VariantTotals[], expectedShares: expectedShares(exp), floors });
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

  /** store deletions of what the experiments hold about these ids */
  deletions(ids: readonly string[]): Mutation[] {
    const gone = new Set(ids);
    const out: Mutation[] = [];
    for (const id of this.exposedWith(ids)) for (const expId of this.assignments.get(id)?.keys() ?? []) out.push({ table: 'assignments', key: assignmentKey(expId, id) });
    for (const [expId, m] of this.conversions) for (const c of m.values()) if (gone.has(c.id)) out.push({ table: 'experiments', key: convKey(expId, c.messageId) });
    return out;
  }

  forget(ids: readonly string[]): void {
    const gone = new Set(ids);
    for (const id of this.exposedWith(ids)) this.assignments.delete(id);
    for (const m of this.conversions.values()) for (const [k, c] of m) if (gone.has(c.id)) m.delete(k);
  }

  /** export: a person's assignments (their conversions are their own events, exported with them) */
  of(ids: readonly string[]): Array<FirstExposure & { id: string }> {
    const out: Array<FirstExposure & { id: string }> = [];
    for (const id of ids) for (const a of this.assignments.get(id)?.values() ?? []) out.push({ id, ...a });
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
