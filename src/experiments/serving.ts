/**
 * Experiments inside the running engine: definitions, sticky first exposures, conversion events and
 * results, per workspace.
 *
 * Store layout (table `experiments`): `e\0<experimentId>` → the definition; `c\0<experimentId>\0<messageId>`
 * → a metric event sent while the experiment ran. Table `assignments`: `<experimentId>\0<id>` → the
 * person's first exposure, written under every id the person had when exposed.
 *
 * Results are computed when asked, from these records and the identity graph as it is then: a person
 * is counted once (their earliest exposure across all their ids wins), and a conversion counts when
 * one of the person's ids sent a metric event at or after that exposure. Computing at read time is
 * what makes merges, late events, duplicates (keyed by messageId) and erasure come out right without
 * counters to repair.
 */
import type { Workspace, PersonView } from '../engine/workspace.ts';
import type { StoredEvent } from '../ingest/event.ts';
import type { Mutation, Store } from '../store/types.ts';
import type { WorkspaceExtension } from '../engine/engine.ts';
import { expectedShares, stickyAssignment, type Assignment } from './assign.ts';
import { HOLDOUT_VARIANT, metricEvent, type Experiment, type Metric } from './experiment.ts';
import { experimentResults, type ExperimentResults, type MetricTotals, type VariantTotals } from './results.ts';

export interface ExperimentRecord extends Experiment {
  id: string;
  createdAt: string;
  updatedAt: string;
}

interface FirstExposure extends Assignment {
  /** ms since epoch */
  at: number;
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
  /** the last results per experiment, whose p-values the next look may not exceed (always-valid) */
  private readonly previous = new Map<string, ExperimentResults>();

  constructor(readonly ws: Workspace) {}

  /** the running experiment covering a placement (PUT refuses a second one) */
  runningFor(placement: string): ExperimentRecord | undefined {
    for (const e of this.experiments.values()) if (e.status === 'running' && e.placement === placement) return e;
    return undefined;
  }

  define(rec: ExperimentRecord): void {
    this.experiments.set(rec.id, rec);
    this.previous.delete(rec.id);
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
   * persisted (returned in `writes`) under each of the person's ids, so it survives later merges:
   * when ids that were exposed separately merge, the earliest exposure wins.
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
    const first: FirstExposure = fresh ? { ...assignment, at: now } : persisted!;
    const writes: Mutation[] = [];
    for (const id of ids) {
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

  results(expId: string): ExperimentResults & { experimentId: string; status: string } {
    const exp = this.experiments.get(expId)!;
    const people = new Map<string, FirstExposure>();
    for (const [id, byExp] of this.assignments) {
      const a = byExp.get(expId);
      if (!a) continue;
      const root = this.ws.rootOf(id) ?? id;
      const held = people.get(root);
      if (held === undefined || a.at < held.at) people.set(root, a);
    }
    // per person and metric: converted?, revenue total
    const perPerson = new Map<string, Map<string, number>>();
    for (const c of this.conversions.get(expId)?.values() ?? []) {
      const root = this.ws.rootOf(c.id) ?? c.id;
      const first = people.get(root);
      if (!first || c.t < first.at) continue;
      let m = perPerson.get(root);
      if (!m) perPerson.set(root, (m = new Map()));
      m.set(c.event, (m.get(c.event) ?? 0) + (c.revenue ?? 0));
    }
    const variants = [...exp.variants.map((v) => v.id), HOLDOUT_VARIANT];
    const totals: VariantTotals[] = variants.map((variant) => {
      let exposures = 0;
      const metrics: Record<string, MetricTotals> = Object.create(null) as Record<string, MetricTotals>;
      for (const m of exp.metrics) metrics[metricEvent(m)] = typeof m === 'string' || m.revenueProperty === undefined ? { conversions: 0 } : { conversions: 0, revenue: { sum: 0, sumSquares: 0 } };
      for (const [root, first] of people) {
        if (first.variant !== variant) continue;
        exposures++;
        const converted = perPerson.get(root);
        if (!converted) continue;
        for (const [event, revenue] of converted) {
          const t = metrics[event];
          if (!t) continue;
          t.conversions++;
          if (t.revenue) {
            t.revenue.sum += revenue;
            t.revenue.sumSquares += revenue * revenue;
          }
        }
      }
      return { variant, exposures, metrics };
    });
    const previous = this.previous.get(expId);
    const results = experimentResults({ totals, expectedShares: expectedShares(exp), ...(previous ? { previous } : {}) });
    this.previous.set(expId, results);
    return { experimentId: expId, status: exp.status, ...results };
  }

  /** store deletions of what the experiments hold about these ids */
  deletions(ids: readonly string[]): Mutation[] {
    const gone = new Set(ids);
    const out: Mutation[] = [];
    for (const id of ids) for (const expId of this.assignments.get(id)?.keys() ?? []) out.push({ table: 'assignments', key: assignmentKey(expId, id) });
    for (const [expId, m] of this.conversions) for (const c of m.values()) if (gone.has(c.id)) out.push({ table: 'experiments', key: convKey(expId, c.messageId) });
    return out;
  }

  forget(ids: readonly string[]): void {
    const gone = new Set(ids);
    for (const id of ids) this.assignments.delete(id);
    for (const m of this.conversions.values()) for (const [k, c] of m) if (gone.has(c.id)) m.delete(k);
    // a person's removal changes the numbers; the sequential test restarts from the new counts
    this.previous.clear();
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
  return Number.isFinite(n) ? n : 0;
}

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

  /** Stores or replaces an experiment definition (validated by the caller). */
  async put(ws: Workspace, id: string, experiment: Experiment, now: number): Promise<ExperimentRecord> {
    const state = this.stateOf(ws);
    const held = state.experiments.get(id);
    const rec: ExperimentRecord = { ...experiment, id, createdAt: held?.createdAt ?? new Date(now).toISOString(), updatedAt: new Date(now).toISOString() };
    await this.store!.commit(ws.id, [{ table: 'experiments', key: defKey(id), value: rec }]);
    state.define(rec);
    return rec;
  }
}
