/**
 * The one typed configuration module: environment → defaults → validated. Nothing else reads
 * process.env, so every knob is listed here and in docs/configuration.md.
 */
import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_INTERACTION_WEIGHTS, type InteractionKind } from './ingest/interactions.ts';
import { DEFAULT_PRIVACY_POLICY, parsePolicy, type PrivacyPolicy } from './privacy/policy.ts';
import { DEFAULT_RECOMMENDER_SETTINGS, type RecommenderSettings } from './recommend/recommender.ts';
import { DEFAULT_SERVING_SETTINGS } from './recommend/serving/extension.ts';
import { DEFAULT_DECIDE_SETTINGS, type DecideSettings } from './decide/serving/extension.ts';
import { LinUcbBandit } from './decide/bandit.ts';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface TuningConfig {
  /** weight of each interaction kind in models and affinities */
  interactionWeights: Record<InteractionKind, number>;
  /** half-life of per-category affinities, in days */
  affinityHalfLifeDays: number;
  /** inactivity gap that closes a session, in minutes */
  sessionGapMinutes: number;
  /** per-person lists of recently viewed/added/bought items keep this many entries */
  recentItems: number;
}

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  writeKey?: string;
  adminKey?: string;
  logLevel: LogLevel;
  /** optional JSON file with tuning values (written by `kairos tune`) */
  configFile?: string;
  tuning: TuningConfig;
  /** run compaction automatically when this many seconds passed since an erasure (0 = never) */
  autoCompactSeconds: number;
  /** requests per second allowed per key (API and write keys), bursts of twice that; 0 = unlimited */
  rateLimitPerSecond: number;
  /** trigger webhooks may point at loopback, private and link-local addresses (off: refused) */
  webhookAllowInternal: boolean;
  /** shown items held in a workspace's impressions (attribution, the repeat rule); the oldest go past it */
  impressionItemsHeld: number;
  /** after SIGTERM, requests still open this long are cut off (a second signal cuts them at once) */
  shutdownGraceSeconds: number;
  /** failed authentications a client address may make per second (bursts of ten times as many); 0: unlimited */
  authFailuresPerSecond: number;
  /** data minimisation and retention (the config file's "privacy" key) */
  privacy: PrivacyPolicy;
  /** recommender settings (the config file's "recommend" key, as `kairos tune` writes it) */
  recommend: Partial<RecommenderSettings>;
  /** next-best-action settings (the config file's "decide" key) */
  decide: DecideSettings;
}

export const DEFAULT_TUNING: TuningConfig = {
  interactionWeights: { ...DEFAULT_INTERACTION_WEIGHTS },
  affinityHalfLifeDays: 14,
  sessionGapMinutes: 30,
  recentItems: 20,
};

const LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function boolFrom(name: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function intFrom(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  return n;
}

function mergeTuning(base: TuningConfig, patch: unknown, source: string): TuningConfig {
  if (patch === undefined) return base;
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new ConfigError(`${source}: tuning must be an object`);
  const p = patch as Partial<Record<keyof TuningConfig, unknown>>;
  const out: TuningConfig = { ...base, interactionWeights: { ...base.interactionWeights } };
  if (p.interactionWeights !== undefined) {
    if (typeof p.interactionWeights !== 'object' || p.interactionWeights === null) throw new ConfigError(`${source}: interactionWeights must be an object`);
    for (const [k, v] of Object.entries(p.interactionWeights)) {
      if (!(k in out.interactionWeights)) throw new ConfigError(`${source}: unknown interaction kind "${k}"`);
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(`${source}: weight of "${k}" must be a finite number`);
      out.interactionWeights[k as InteractionKind] = v;
    }
  }
  for (const key of ['affinityHalfLifeDays', 'sessionGapMinutes', 'recentItems'] as const) {
    const v = p[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v > 0)) throw new ConfigError(`${source}: ${key} must be a positive number`);
    out[key] = v;
  }
  return out;
}

function recommendSettings(raw: unknown, source: string): Partial<RecommenderSettings> {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`${source}: recommend must be an object`);
  for (const key of Object.keys(raw)) if (!(key in DEFAULT_RECOMMENDER_SETTINGS)) throw new ConfigError(`${source}: unknown recommend setting "${key}"`);
  return raw as Partial<RecommenderSettings>;
}

function decideSettings(raw: unknown, source: string): DecideSettings {
  if (raw === undefined) return DEFAULT_DECIDE_SETTINGS;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`${source}: decide must be an object`);
  const out: DecideSettings = { ...DEFAULT_DECIDE_SETTINGS, rewardEvents: { ...DEFAULT_DECIDE_SETTINGS.rewardEvents } };
  for (const [key, v] of Object.entries(raw)) {
    switch (key) {
      case 'attributionWindowSeconds':
      case 'learningWindowDays':
      case 'consistencySeconds':
      case 'defaultReward':
        if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ConfigError(`${source}: decide.${key} must be a number ≥ 0`);
        out[key] = v;
        break;
      case 'rewardEvents':
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(`${source}: decide.rewardEvents must map event names to numbers`);
        for (const [event, r] of Object.entries(v)) {
          if (typeof r !== 'number' || !Number.isFinite(r) || r < 0) throw new ConfigError(`${source}: decide.rewardEvents["${event}"] must be a number ≥ 0`);
          out.rewardEvents[event] = r;
        }
        break;
      case 'bandit':
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(`${source}: decide.bandit must be an object`);
        for (const [k, n] of Object.entries(v)) {
          if (!['dims', 'alpha', 'epsilon', 'ridge', 'priorMean'].includes(k)) throw new ConfigError(`${source}: unknown decide.bandit setting "${k}"`);
          if (typeof n !== 'number' || !Number.isFinite(n)) throw new ConfigError(`${source}: decide.bandit.${k} must be a number`);
        }
        try {
          new LinUcbBandit(v as DecideSettings['bandit']);
        } catch (e) {
          throw new ConfigError(`${source}: decide.bandit: ${(e as Error).message}`);
        }
        out.bandit = v as DecideSettings['bandit'];
        break;
      case 'seed':
        if (typeof v !== 'string' || v === '') throw new ConfigError(`${source}: decide.seed must be a non-empty string`);
        out.seed = v;
        break;
      case 'features':
        if (!Array.isArray(v) || !v.every((f) => typeof f?.path === 'string' && ['categorical', 'numeric', 'weighted'].includes(f?.kind))) {
          throw new ConfigError(`${source}: decide.features must be a list of {path, kind: "categorical"|"numeric"|"weighted"}`);
        }
        out.features = v as DecideSettings['features'];
        break;
      default:
        throw new ConfigError(`${source}: unknown decide setting "${key}"`);
    }
  }
  return out;
}

/** Reads a tuning file as written by `kairos tune`: `{"tuning": {...}, "recommend": {...}}`. */
export function readConfigFile(path: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError(`config file ${path} must hold a JSON object`);
  return parsed as Record<string, unknown>;
}

/**
 * The primary keys from the environment: a write key travels as an HTTP Basic username, which ends
 * at the first colon, and one secret cannot be both keys (the server could tell them apart by no
 * means but the order it loads them in).
 */
function checkPrimaryKeys(env: NodeJS.ProcessEnv): void {
  const writeKey = env.KAIROS_WRITE_KEY || undefined;
  const adminKey = env.KAIROS_ADMIN_KEY || undefined;
  if (writeKey?.includes(':')) throw new ConfigError('KAIROS_WRITE_KEY must not hold ":" (clients send it as an HTTP Basic username, which ends at the first colon)');
  if (writeKey !== undefined && writeKey === adminKey) throw new ConfigError('KAIROS_WRITE_KEY and KAIROS_ADMIN_KEY must differ');
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  checkPrimaryKeys(env);
  const logLevel = (env.LOG_LEVEL ?? 'info') as LogLevel;
  if (!LEVELS.includes(logLevel)) throw new ConfigError(`LOG_LEVEL must be one of ${LEVELS.join(', ')}, got "${env.LOG_LEVEL}"`);
  const dataDir = resolve(env.KAIROS_DATA_DIR || './.kairos');
  const defaultFile = resolve(dataDir, 'kairos.config.json');
  const configFile = env.KAIROS_CONFIG ? resolve(env.KAIROS_CONFIG) : existsSync(defaultFile) ? defaultFile : undefined;
  let tuning = DEFAULT_TUNING;
  let privacy = DEFAULT_PRIVACY_POLICY;
  let recommend: Partial<RecommenderSettings> = {};
  let decide = DEFAULT_DECIDE_SETTINGS;
  if (configFile) {
    const file = readConfigFile(configFile);
    decide = decideSettings(file.decide, configFile);
    tuning = mergeTuning(tuning, file.tuning, configFile);
    recommend = recommendSettings(file.recommend, configFile);
    try {
      privacy = parsePolicy(file.privacy, configFile);
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
  }
  return {
    port: intFrom('PORT', env.PORT, 8080, 0, 65535),
    host: env.HOST || '127.0.0.1',
    dataDir,
    writeKey: env.KAIROS_WRITE_KEY || undefined,
    adminKey: env.KAIROS_ADMIN_KEY || undefined,
    logLevel,
    configFile,
    tuning,
    autoCompactSeconds: intFrom('KAIROS_AUTO_COMPACT_SECONDS', env.KAIROS_AUTO_COMPACT_SECONDS, 3600, 0, 365 * 86400),
    rateLimitPerSecond: intFrom('KAIROS_RATE_LIMIT', env.KAIROS_RATE_LIMIT, 5000, 0, 10_000_000),
    webhookAllowInternal: boolFrom('KAIROS_WEBHOOK_ALLOW_INTERNAL', env.KAIROS_WEBHOOK_ALLOW_INTERNAL, false),
    impressionItemsHeld: intFrom('KAIROS_IMPRESSION_ITEMS', env.KAIROS_IMPRESSION_ITEMS, DEFAULT_SERVING_SETTINGS.impressionItemsHeld, 1000, 1_000_000_000),
    shutdownGraceSeconds: intFrom('KAIROS_SHUTDOWN_GRACE_SECONDS', env.KAIROS_SHUTDOWN_GRACE_SECONDS, 10, 0, 3600),
    authFailuresPerSecond: intFrom('KAIROS_AUTH_FAILURES', env.KAIROS_AUTH_FAILURES, 100, 0, 1_000_000),
    privacy,
    recommend,
    decide,
  };
}
