/**
 * Runs one conformance scenario in a process of its own, for scenarios that may take a process
 * down (a native fault in a storage binding must fail one test, not the whole test file).
 * Usage: node --import tsx store-scenario.ts MODULE EXPORT DATA_DIR SCENARIO; prints a JSON line.
 */
import { pathToFileURL } from 'node:url';
import type { Store } from '../../src/store/types.ts';
import { scenarios, type ScenarioName } from './store-scenarios.ts';

const [modulePath, exportName, dataDir, scenario] = process.argv.slice(2) as [string, string, string, ScenarioName];
const open = (await import(pathToFileURL(modulePath).href))[exportName] as (dir: string) => Promise<Store>;

const store = await open(dataDir);
try {
  const result = await scenarios[scenario](store);
  process.stdout.write(JSON.stringify({ ok: true, result }) + '\n');
} catch (e) {
  process.stdout.write(JSON.stringify({ ok: false, error: (e as Error).message }) + '\n');
} finally {
  await store.close();
}
