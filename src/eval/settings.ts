/**
 * Engine settings as the server loads them: the config file's `tuning` (validated by src/config.ts,
 * the one config module) and `recommend` (Partial<RecommenderSettings>), which `kairos tune` writes.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { DEFAULT_TUNING, loadConfig, readConfigFile, ConfigError, type TuningConfig } from '../config.ts';
import { DEFAULT_CONTENT_OPTIONS } from '../recommend/candidates/content.ts';
import { DEFAULT_COVISIT_OPTIONS } from '../recommend/candidates/covisit.ts';
import { DEFAULT_IN_SESSION_OPTIONS } from '../recommend/candidates/in-session.ts';
import { DEFAULT_NEWEST_OPTIONS } from '../recommend/candidates/newest.ts';
import { DEFAULT_POPULARITY_OPTIONS } from '../recommend/candidates/popularity.ts';
import { DEFAULT_SESSION_KNN_OPTIONS } from '../recommend/candidates/session-knn.ts';
import { DEFAULT_RECOMMENDER_SETTINGS, type RecommenderSettings } from '../recommend/recommender.ts';
import { DEFAULT_EXPLORATION_OPTIONS } from '../recommend/rules/exploration.ts';
import type { EngineSettings } from './in-process.ts';

export const defaultSettings = (): EngineSettings => ({ tuning: structuredClone(DEFAULT_TUNING), recommend: {} });

export function readSettings(file: string): EngineSettings {
  const tuning = loadConfig({ KAIROS_CONFIG: file }).tuning;
  const recommend = readConfigFile(file).recommend ?? {};
  if (typeof recommend !== 'object' || recommend === null || Array.isArray(recommend)) throw new ConfigError(`${file}: recommend must be an object`);
  for (const key of Object.keys(recommend)) {
    if (!(key in DEFAULT_RECOMMENDER_SETTINGS)) throw new ConfigError(`${file}: unknown recommend setting "${key}"`);
  }
  return { tuning, recommend: recommend as Partial<RecommenderSettings> };
}

/**
 * Every recommender setting spelled out, as the Recommender would resolve `s.recommend`: generator
 * options over their defaults, and placements replacing default placements whole.
 */
export function materialize(s: EngineSettings): EngineSettings & { recommend: RecommenderSettings } {
  const r = s.recommend;
  const recommend: RecommenderSettings = {
    ...structuredClone(DEFAULT_RECOMMENDER_SETTINGS),
    ...structuredClone(r),
    covisit: { ...DEFAULT_COVISIT_OPTIONS, ...r.covisit },
    sessionKnn: { ...DEFAULT_SESSION_KNN_OPTIONS, ...r.sessionKnn },
    content: { ...structuredClone(DEFAULT_CONTENT_OPTIONS), ...structuredClone(r.content) },
    popularity: { ...DEFAULT_POPULARITY_OPTIONS, ...r.popularity },
    newest: { ...DEFAULT_NEWEST_OPTIONS, ...r.newest },
    inSession: { ...DEFAULT_IN_SESSION_OPTIONS, ...r.inSession },
    exploration: { ...DEFAULT_EXPLORATION_OPTIONS, ...r.exploration },
    placements: structuredClone({ ...DEFAULT_RECOMMENDER_SETTINGS.placements, ...r.placements }),
  };
  return { tuning: structuredClone(s.tuning), recommend };
}

/**
 * What tune writes: only what differs from the defaults, so later improvements of the defaults still
 * apply. A placement that differs is written whole, since a configured placement replaces the default
 * one. Other keys of an existing file (privacy…) are kept.
 */
export function writeSettings(file: string, s: EngineSettings, tunedOn: Record<string, unknown>): void {
  const { tuning: _tuning, recommend: _recommend, tunedOn: _tunedOn, ...kept } = existsSync(file) ? readConfigFile(file) : {};
  const defaults = materialize(defaultSettings());
  const full = materialize(s);
  const tuning = diff(defaults.tuning, full.tuning) as Partial<TuningConfig> | undefined;
  const { placements, ...rest } = full.recommend;
  const { placements: defaultPlacements, ...restDefaults } = defaults.recommend;
  const recommend = (diff(restDefaults, rest) ?? {}) as Partial<RecommenderSettings>;
  const changedPlacements = Object.fromEntries(Object.entries(placements).filter(([name, w]) => diff(defaultPlacements[name], w) !== undefined));
  if (Object.keys(changedPlacements).length) recommend.placements = changedPlacements;
  const body = { ...kept, ...(tuning ? { tuning } : {}), recommend, tunedOn };
  writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`);
}

function diff(base: unknown, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || typeof base !== 'object' || base === null) return Object.is(base, value) ? undefined : value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const d = diff((base as Record<string, unknown>)[k], v);
    if (d !== undefined) out[k] = d;
  }
  return Object.keys(out).length ? out : undefined;
}
