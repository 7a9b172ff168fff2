/**
 * Tools for privacy tests: unique secrets that cannot hide inside compressed pages, byte-level and
 * record-level scans of a data dir, the `kairos` CLI as a child process, and condition waits.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LmdbStore } from '../../src/store/lmdb/lmdb-store.ts';
import { INSTANCE, TABLES } from '../../src/store/types.ts';
import { WRITE_KEY, ADMIN_KEY, runKairos } from './server.ts';

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

/**
 * A random 20-character token. Tokens share no prefix with each other or with anything Kairos writes,
 * so even in an LZ4-compressed page their first occurrence is a literal a byte scan can find.
 */
export function token(): string {
  const bytes = randomBytes(20);
  let out = '';
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return out;
}

/** every file under dir (recursively) */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** which needles occur, byte for byte (UTF-8), in any file of the dir — free pages and slack included */
export function scanBytes(dir: string, needles: readonly string[]): Array<{ needle: string; file: string }> {
  const hits: Array<{ needle: string; file: string }> = [];
  for (const file of filesUnder(dir)) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch {
      continue; // a file removed while we walked (compaction swapping directories)
    }
    for (const needle of needles) if (bytes.includes(Buffer.from(needle, 'utf8'))) hits.push({ needle, file: file.slice(dir.length + 1) });
  }
  return hits;
}

/**
 * Which needles occur in any live record of a stopped server's store (keys and decoded values of every
 * table of every workspace): sees through compression, which a byte scan cannot.
 */
export async function scanRecords(dataDir: string, needles: readonly string[]): Promise<Array<{ needle: string; table: string; key: string }>> {
  const store = new LmdbStore(join(dataDir, 'store'));
  try {
    const workspaces = [INSTANCE];
    for await (const [id] of store.scan(INSTANCE, 'workspaces')) workspaces.push(id);
    const hits: Array<{ needle: string; table: string; key: string }> = [];
    for (const ws of workspaces) {
      for (const table of TABLES) {
        for await (const [key, value] of store.scan(ws, table)) {
          const text = `${key}\u0000${JSON.stringify(value)}`;
          for (const needle of needles) if (text.includes(needle)) hits.push({ needle, table: `${ws}/${table}`, key });
        }
      }
    }
    return hits;
  } finally {
    await store.close();
  }
}

/** every record of one table of one workspace, from a stopped server's store */
export async function recordsOf<T = unknown>(dataDir: string, ws: string, table: (typeof TABLES)[number]): Promise<Array<[string, T]>> {
  const store = new LmdbStore(join(dataDir, 'store'));
  try {
    const out: Array<[string, T]> = [];
    for await (const entry of store.scan<T>(ws, table)) out.push(entry);
    return out;
  } finally {
    await store.close();
  }
}

/** `node bin/kairos.mjs ARGS` (what `npx kairos ARGS` runs) against a data dir; resolves with stdout, rejects on a non-zero exit */
export async function kairosCli(args: string[], dataDir: string, env: Record<string, string> = {}): Promise<string> {
  const r = await runKairos(args, { KAIROS_DATA_DIR: dataDir, KAIROS_WRITE_KEY: WRITE_KEY, KAIROS_ADMIN_KEY: ADMIN_KEY, ...env });
  if (r.code !== 0) throw new Error(`kairos ${args.join(' ')} exited with ${r.code}: ${r.stderr}`);
  return r.stdout;
}


/** polls until `check` returns a truthy value; fails naming `what` if it never does */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** the records of an NDJSON body */
export const ndjson = (text: string): any[] =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l));

/** HTTP Basic header for a write key (Segment's convention) */
export const basicAuth = (writeKey: string): string => 'Basic ' + Buffer.from(`${writeKey}:`).toString('base64');

/** POST to an ingestion endpoint with a given write key */
export async function ingest(url: string, path: string, body: unknown, writeKey = WRITE_KEY): Promise<{ status: number; json: any }> {
  const r = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: basicAuth(writeKey) }, body: JSON.stringify(body) });
  const text = await r.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: r.status, json };
}

export interface Reason {
  type: string;
  itemId?: string;
  text: string;
}
export interface RecItem {
  itemId: string;
  score: number;
  reasons: Reason[];
}
