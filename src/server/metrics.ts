/** Prometheus metrics (CONTRACT §9), on a registry of their own so tests can run servers side by side. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DEFAULT_WORKSPACE } from '../engine/engine.ts';

export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  eventsIngested: Counter<'workspace'>;
  eventsRejected: Counter<'reason'>;
  eventsDuplicate: Counter<'workspace'>;
  recommendDuration: Histogram<'placement'>;
  decideDuration: Histogram<'placement'>;
  /**
   * a placement as a label value: the first MAX_PLACEMENT_LABELS names seen in the default workspace,
   * then "other"; every placement of another workspace is "other" (`/metrics` needs no key, and a
   * tenant's placement names are theirs)
   */
  placementLabel(placement: string, workspace: string): string;
  /** a workspace as a label value: `default`, or `other` for every other tenant (their ids are theirs too) */
  workspaceLabel(workspace: string): string;
}

/** Placements come from clients: bounding their label values bounds the metrics' memory. */
export const MAX_PLACEMENT_LABELS = 64;

export function createMetrics(gauges: { storeBytes: () => number; modelAgeSeconds: () => number }): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'kairos_' });
  const latencyBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
  new Gauge({
    name: 'kairos_store_bytes', help: 'bytes used by the embedded store on disk', registers: [registry],
    collect() { this.set(gauges.storeBytes()); },
  });
  new Gauge({
    name: 'kairos_model_freshness_seconds', help: 'seconds since the models last absorbed an update', registers: [registry],
    collect() { this.set(gauges.modelAgeSeconds()); },
  });
  const placements = new Set<string>();
  return {
    registry,
    placementLabel(placement: string, workspace: string): string {
      if (workspace !== DEFAULT_WORKSPACE) return 'other';
      if (placements.has(placement)) return placement;
      if (placements.size >= MAX_PLACEMENT_LABELS) return 'other';
      placements.add(placement);
      return placement;
    },
    workspaceLabel: (workspace: string): string => (workspace === DEFAULT_WORKSPACE ? workspace : 'other'),
    httpDuration: new Histogram({ name: 'kairos_http_request_duration_seconds', help: 'HTTP request latency per route', labelNames: ['method', 'route', 'status'], buckets: latencyBuckets, registers: [registry] }),
    eventsIngested: new Counter({ name: 'kairos_events_ingested_total', help: 'events stored', labelNames: ['workspace'], registers: [registry] }),
    eventsRejected: new Counter({ name: 'kairos_events_rejected_total', help: 'ingestion requests rejected, by error code', labelNames: ['reason'], registers: [registry] }),
    eventsDuplicate: new Counter({ name: 'kairos_events_duplicate_total', help: 'events acknowledged and ignored as repeats', labelNames: ['workspace'], registers: [registry] }),
    recommendDuration: new Histogram({ name: 'kairos_recommendation_duration_seconds', help: 'time to compute a recommendation, excluding HTTP', labelNames: ['placement'], buckets: latencyBuckets, registers: [registry] }),
    decideDuration: new Histogram({ name: 'kairos_decision_duration_seconds', help: 'time to decide and durably log a decision, excluding HTTP', labelNames: ['placement'], buckets: latencyBuckets, registers: [registry] }),
  };
}
