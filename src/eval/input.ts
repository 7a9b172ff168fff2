/**
 * From command-line data options to train/test interactions: a preset or a column-mapped file, split
 * by the protocol's rule, or train and test files split beforehand. `validationInput` applies the same
 * rule to the train part only, which is all `kairos tune` ever reads.
 */
import { basename } from 'node:path';
import type { CatalogEntry, Interaction } from './dataset.ts';
import { readMovieLens, readSessionRec, type Preset } from './presets.ts';
import { delimiterOf, readInteractions, TableError, type ColumnMap } from './read-table.ts';
import type { EvalInput, Protocol } from './run.ts';
import { sessionTimeSplit, userSplit, type Split, type UserSplitOptions } from './split.ts';

export interface DataSpec {
  preset?: Preset;
  /** MovieLens directory */
  dir?: string;
  /** one file, split here */
  file?: string;
  /** train file, with `test` (or, for tuning, `valid`) split beforehand */
  train?: string;
  test?: string;
  format?: string;
  columns: Partial<ColumnMap>;
  minRating?: number;
  protocol?: Protocol;
  userSplit: UserSplitOptions;
  /** next-item from one file: sessions ending within the last this many days are test */
  testDays: number;
}

interface Loaded {
  name: string;
  protocol: Protocol;
  catalog: CatalogEntry[];
  licence?: string;
  /** everything, when the data still needs splitting */
  all?: Interaction[];
  train?: Interaction[];
  test?: Interaction[];
}

async function readFile(spec: DataSpec, file: string): Promise<Interaction[]> {
  if (spec.preset === 'session-rec') return readSessionRec(file);
  const { item, time } = spec.columns;
  if (!item || !time || !(spec.columns.user || spec.columns.session)) {
    throw new TableError('a CSV/TSV file needs --item, --time and --user or --session (or a --preset)');
  }
  return readInteractions(file, {
    delimiter: delimiterOf(file, spec.format),
    columns: { ...spec.columns, item, time },
    ...(spec.minRating !== undefined ? { minRating: spec.minRating } : {}),
  });
}

async function load(spec: DataSpec): Promise<Loaded> {
  if (spec.preset === 'movielens') {
    if (!spec.dir) throw new TableError('--preset movielens needs --data DIR (the directory holding ratings.csv and movies.csv)');
    const ds = await readMovieLens(spec.dir, spec.minRating ?? 4);
    return { name: ds.name, protocol: spec.protocol ?? 'top-n', catalog: ds.catalog, ...(ds.licence ? { licence: ds.licence } : {}), all: ds.interactions };
  }
  const protocol = spec.protocol ?? (spec.preset === 'session-rec' || (spec.columns.session && !spec.columns.user) ? 'next-item' : 'top-n');
  if (spec.train) {
    const train = await readFile(spec, spec.train);
    const test = spec.test ? await readFile(spec, spec.test) : undefined;
    return { name: datasetName(spec, spec.train), protocol, catalog: [], train, ...(test ? { test } : {}) };
  }
  if (!spec.file) throw new TableError('no data: give a FILE, --train/--test files, or --preset movielens --data DIR');
  return { name: datasetName(spec, spec.file), protocol, catalog: [], all: await readFile(spec, spec.file) };
}

/** "session-rec:yoochoose-clicks-100k" for session-rec's "…/yoochoose-clicks-100k_train_full.txt" */
function datasetName(spec: DataSpec, file: string): string {
  const stem = basename(file).replace(/\.(csv|tsv|txt)$/i, '');
  return spec.preset === 'session-rec' ? `session-rec:${stem.replace(/_(train_full|train_tr|train_valid|test)$/, '')}` : stem;
}

function splitOf(all: readonly Interaction[], protocol: Protocol, spec: DataSpec): { split: Split; description: string } {
  if (protocol === 'next-item') return { split: sessionTimeSplit(all, spec.testDays), description: `sessions ending in the last ${spec.testDays} day(s)` };
  const s = spec.userSplit;
  const share = `${Math.round(s.testShare * 100)}% of each person's interactions`;
  return { split: userSplit(all, s), description: s.kind === 'temporal' ? `temporal: last ${share}` : `random ${share}, seed ${s.seed}` };
}

/** train and test for `kairos eval` */
export async function evalInput(spec: DataSpec): Promise<EvalInput> {
  const l = await load(spec);
  const base = { dataset: l.name, protocol: l.protocol, catalog: l.catalog, ...(l.licence ? { licence: l.licence } : {}) };
  if (l.all) {
    const { split, description } = splitOf(l.all, l.protocol, spec);
    return { ...base, ...split, split: description };
  }
  if (!l.test) throw new TableError('--train needs --test (or give one FILE to split)');
  return { ...base, train: l.train!, test: l.test, split: 'given train and test files' };
}

/**
 * train and validation for `kairos tune`: the test part is split off and never read again, then the
 * train part is split by the same rule (a given validation file replaces the second split)
 */
export async function validationInput(spec: DataSpec, validFile?: string): Promise<EvalInput> {
  const l = await load(spec);
  const base = { dataset: l.name, protocol: l.protocol, catalog: l.catalog, ...(l.licence ? { licence: l.licence } : {}) };
  const train = l.all ? splitOf(l.all, l.protocol, spec).split.train : l.train!;
  if (validFile) return { ...base, train, test: await readFile(spec, validFile), split: `validation file ${validFile}` };
  const { split, description } = splitOf(train, l.protocol, spec);
  return { ...base, ...split, split: `validation carved from train (${description})` };
}
