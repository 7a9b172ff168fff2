/**
 * The context vector a bandit sees: a fixed-length, bounded vector hashed from a person's facts, so
 * new traits, segments or categories need no schema change and the model size never grows.
 *
 * Layout: x[0] = 1 (bias, so every action has a baseline rate even for an empty context); every other
 * feature is hashed (MurmurHash3 of "path=value" or "path") to one of x[1..dims−1] with a hashed sign
 * (signed hashing keeps collisions unbiased), then x[1..] is scaled to unit length so one chatty
 * feature cannot dominate and the ridge prior means the same thing for every person.
 *
 * Action features are deliberately absent: the bandit keeps one model per action (disjoint), which
 * already captures everything a per-action feature could say, and lets new actions in without
 * refitting others.
 */
import { murmur3 } from '../experiments/hash.ts';
import { resolvePath, type Facts } from './conditions.ts';

/** A dense feature vector as plain numbers, so it can be logged as JSON with a decision and replayed. */
export type FeatureVector = number[];

/**
 * categorical: a scalar, or an array of scalars, becomes one indicator per value ("segments=buyer");
 * numeric: a finite number becomes sign(v)·ln(1+|v|), which tames money and counts;
 * weighted: an object of finite numbers ("features.categoryAffinity") becomes one "path=key" feature
 *           per entry, weighted by the same transform.
 */
export type FeatureKind = 'categorical' | 'numeric' | 'weighted';

export interface FeatureSpec {
  path: string;
  kind: FeatureKind;
}

export const DEFAULT_FEATURE_DIMS = 64;

/** Fields of the profile (CONTRACT §7) and Segment's context that are known to carry signal. */
export const DEFAULT_FEATURE_SPECS: readonly FeatureSpec[] = [
  { path: 'segments', kind: 'categorical' },
  { path: 'context.channel', kind: 'categorical' },
  { path: 'context.device.type', kind: 'categorical' },
  { path: 'context.locale', kind: 'categorical' },
  { path: 'features.categoryAffinity', kind: 'weighted' },
  { path: 'features.rfm.frequency', kind: 'numeric' },
  { path: 'features.rfm.monetary', kind: 'numeric' },
  { path: 'features.sessions.count', kind: 'numeric' },
];

export interface FeatureOptions {
  dims?: number;
  specs?: readonly FeatureSpec[];
}

/** Per spec, so a long array or a wide object cannot crowd out the rest. */
const MAX_VALUES_PER_SPEC = 32;
const MAX_TOKEN_LENGTH = 128;
const SIGN_SEED = 0x5eed;

const squash = (v: number): number => Math.sign(v) * Math.log1p(Math.abs(v));
const token = (path: string, value: string): string => `${path}=${value}`.slice(0, MAX_TOKEN_LENGTH);
const isTokenable = (v: unknown): v is string | number | boolean =>
  typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

function namedValues(facts: Facts, spec: FeatureSpec): Array<[string, number]> {
  const v = resolvePath(facts, spec.path);
  switch (spec.kind) {
    case 'categorical': {
      const values = Array.isArray(v) ? v.filter(isTokenable).slice(0, MAX_VALUES_PER_SPEC) : isTokenable(v) ? [v] : [];
      return values.map((x) => [token(spec.path, String(x)), 1]);
    }
    case 'numeric':
      return typeof v === 'number' && Number.isFinite(v) && v !== 0 ? [[spec.path, squash(v)]] : [];
    case 'weighted': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return [];
      const entries = Object.entries(v).filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]) && e[1] !== 0);
      // the largest weights carry the signal; ties by key keep the choice deterministic
      entries.sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      return entries.slice(0, MAX_VALUES_PER_SPEC).map(([k, w]) => [token(spec.path, k), squash(w)]);
    }
  }
}

/** The hashed, normalised context vector of `facts` (length `dims`, x[0] = 1). */
export function buildFeatures(facts: Facts, options: FeatureOptions = {}): FeatureVector {
  const dims = options.dims ?? DEFAULT_FEATURE_DIMS;
  if (!Number.isInteger(dims) || dims < 2) throw new RangeError('feature dims must be an integer ≥ 2');
  const x: FeatureVector = new Array<number>(dims).fill(0);
  for (const spec of options.specs ?? DEFAULT_FEATURE_SPECS) {
    for (const [name, value] of namedValues(facts, spec)) {
      const slot = 1 + (murmur3(name) % (dims - 1));
      const sign = murmur3(name, SIGN_SEED) & 1 ? -1 : 1;
      x[slot]! += sign * value;
    }
  }
  let norm = 0;
  for (let i = 1; i < dims; i++) norm += x[i]! * x[i]!;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 1; i < dims; i++) x[i] = x[i]! / norm;
  x[0] = 1;
  return x;
}
