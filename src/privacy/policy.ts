/**
 * Data minimisation at ingestion: what of an event is kept. Applied to every event before it is
 * stored (HTTP and import alike), so what the policy drops never reaches the disk.
 */
import { createHash } from 'node:crypto';
import { EVENT_TYPES, type EventType, type StoredEvent } from '../ingest/event.ts';

export interface PrivacyPolicy {
  /** when set, only these event properties are kept (besides those the engine needs) */
  propertyAllowlist?: string[];
  propertyDenylist: string[];
  /** when set, only these traits are kept */
  traitAllowlist?: string[];
  traitDenylist: string[];
  /** traits whose name matches are stored as `sha256:<hex>` of the trimmed, lower-cased value */
  hashTraits: boolean;
  hashTraitPattern: string;
  /** `context` fields dropped (the client IP by default) */
  dropContext: string[];
  /** days an event of each type is kept; absent = forever */
  retentionDays: Partial<Record<EventType, number>>;
  /** differentially private aggregates (src/privacy/aggregates.ts) */
  aggregates: {
    /** the ε all releases of a workspace may spend together in any 24 hours */
    epsilonPerDay: number;
  };
}

export const DEFAULT_PRIVACY_POLICY: PrivacyPolicy = {
  propertyDenylist: [],
  traitDenylist: [],
  hashTraits: true,
  hashTraitPattern: '(^|[_.-])(e-?mail|email_?address|phone|phone_?number|mobile|tel)$',
  dropContext: ['ip'],
  retentionDays: {},
  aggregates: { epsilonPerDay: 1 },
};

/** properties the engine reads; an allowlist never removes them */
export const ENGINE_PROPERTIES = [
  'product_id', 'sku', 'products', 'price', 'quantity', 'revenue', 'total', 'order_id',
  'name', 'category', 'brand', 'url', 'image_url', 'recommendation_id', 'decision_id', 'query',
] as const;

export class PolicyError extends Error {
  override name = 'PolicyError';
}

export function parsePolicy(raw: unknown, source: string): PrivacyPolicy {
  if (raw === undefined) return DEFAULT_PRIVACY_POLICY;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new PolicyError(`${source}: privacy must be an object`);
  const r = raw as Record<string, unknown>;
  const list = (k: string): string[] | undefined => {
    const v = r[k];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new PolicyError(`${source}: privacy.${k} must be a list of strings`);
    return v as string[];
  };
  const out: PrivacyPolicy = { ...DEFAULT_PRIVACY_POLICY, retentionDays: {} };
  const pa = list('propertyAllowlist');
  const ta = list('traitAllowlist');
  if (pa) out.propertyAllowlist = pa;
  if (ta) out.traitAllowlist = ta;
  out.propertyDenylist = list('propertyDenylist') ?? out.propertyDenylist;
  out.traitDenylist = list('traitDenylist') ?? out.traitDenylist;
  out.dropContext = list('dropContext') ?? out.dropContext;
  if (r.hashTraits !== undefined) {
    if (typeof r.hashTraits !== 'boolean') throw new PolicyError(`${source}: privacy.hashTraits must be a boolean`);
    out.hashTraits = r.hashTraits;
  }
  if (r.hashTraitPattern !== undefined) {
    if (typeof r.hashTraitPattern !== 'string') throw new PolicyError(`${source}: privacy.hashTraitPattern must be a string`);
    try {
      new RegExp(r.hashTraitPattern, 'i');
    } catch (e) {
      throw new PolicyError(`${source}: privacy.hashTraitPattern is not a valid regular expression: ${(e as Error).message}`);
    }
    out.hashTraitPattern = r.hashTraitPattern;
  }
  if (r.retentionDays !== undefined) {
    if (typeof r.retentionDays !== 'object' || r.retentionDays === null) throw new PolicyError(`${source}: privacy.retentionDays must be an object`);
    for (const [type, days] of Object.entries(r.retentionDays)) {
      if (!(EVENT_TYPES as readonly string[]).includes(type)) throw new PolicyError(`${source}: privacy.retentionDays: unknown event type "${type}"`);
      if (typeof days !== 'number' || !(days > 0)) throw new PolicyError(`${source}: privacy.retentionDays.${type} must be a positive number of days`);
      out.retentionDays[type as EventType] = days;
    }
  }
  if (r.aggregates !== undefined) {
    const a = r.aggregates as Record<string, unknown> | null;
    if (typeof a !== 'object' || a === null || Array.isArray(a)) throw new PolicyError(`${source}: privacy.aggregates must be an object`);
    const unknown = Object.keys(a).filter((k) => k !== 'epsilonPerDay');
    if (unknown.length > 0) throw new PolicyError(`${source}: privacy.aggregates: unknown setting "${unknown[0]}"`);
    if (a.epsilonPerDay !== undefined) {
      if (typeof a.epsilonPerDay !== 'number' || !(a.epsilonPerDay > 0) || a.epsilonPerDay > 100_000) throw new PolicyError(`${source}: privacy.aggregates.epsilonPerDay must be a number above 0 and at most 100000`);
      out.aggregates = { epsilonPerDay: a.epsilonPerDay };
    }
  }
  return out;
}

export const hashValue = (v: unknown): string => `sha256:${createHash('sha256').update(String(v).trim().toLowerCase()).digest('hex')}`;

function keep(obj: Record<string, unknown>, allow: readonly string[] | undefined, deny: readonly string[], always: readonly string[] = []): Record<string, unknown> {
  if (!allow && deny.length === 0) return obj;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (deny.includes(k) && !always.includes(k)) continue;
    if (allow && !allow.includes(k) && !always.includes(k)) continue;
    out[k] = v;
  }
  return out;
}

export class PolicyApplier {
  private readonly hashPattern: RegExp;

  constructor(private readonly policy: PrivacyPolicy) {
    this.hashPattern = new RegExp(policy.hashTraitPattern, 'i');
  }

  private traits(t: Record<string, unknown>): Record<string, unknown> {
    const kept = keep(t, this.policy.traitAllowlist, this.policy.traitDenylist);
    if (!this.policy.hashTraits) return kept;
    let out = kept;
    for (const [k, v] of Object.entries(kept)) {
      if (v === null || v === undefined || typeof v === 'object' || !this.hashPattern.test(k)) continue;
      if (out === kept) out = { ...kept };
      out[k] = hashValue(v);
    }
    return out;
  }

  apply(e: StoredEvent): StoredEvent {
    const p = this.policy;
    let out = e;
    if (e.properties && (p.propertyAllowlist || p.propertyDenylist.length)) out = { ...out, properties: keep(e.properties, p.propertyAllowlist, p.propertyDenylist, ENGINE_PROPERTIES) };
    if (e.traits) out = { ...out, traits: this.traits(e.traits) };
    if (e.context) {
      let context = keep(e.context, undefined, p.dropContext);
      const ct = context.traits;
      if (typeof ct === 'object' && ct !== null && !Array.isArray(ct)) context = { ...context, traits: this.traits(ct as Record<string, unknown>) };
      out = { ...out, context };
    }
    return out;
  }
}
