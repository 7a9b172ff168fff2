/**
 * `kairos import FILE`: bulk-load Segment events into the data dir (server stopped), through the same
 * validation and durable records as the HTTP path. NDJSON (one Segment event per line) or CSV with a
 * column mapping. Events without a messageId get one derived from their content, so an interrupted
 * import can simply be run again: what was stored is recognised as a repeat.
 */
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { parseArgs } from 'node:util';
import { parse as parseCsv } from 'csv-parse';
import secureJson from 'secure-json-parse';
import { loadConfig } from '../config.ts';
import { DEFAULT_WORKSPACE } from '../engine/engine.ts';
import { createLogger, openEngine } from '../engine/open.ts';
import { isKairosError } from '../errors.ts';
import type { StoredEvent } from '../ingest/event.ts';
import { Progress } from './progress.ts';

const USAGE = `usage: kairos import FILE [options]

  FILE                  NDJSON, one Segment event per line (.ndjson/.jsonl), or CSV/TSV (.csv/.tsv)
  --format F            ndjson | csv | tsv (default: from the file name)
  --map FIELD=COLUMN    CSV column mapping, repeatable; FIELD is userId, anonymousId, event, type,
                        timestamp, messageId, properties.NAME or traits.NAME
  --event NAME          event name for CSV rows without an event column (default "Product Viewed")
  --workspace ID        target workspace (default "default")
  --skip-invalid        report invalid events and go on (default: stop at the first invalid chunk)
  --chunk N             events per durable commit (default 5000)

Timestamps in CSV may be ISO-8601, epoch seconds or epoch milliseconds.`;

export interface Row {
  line: number;
  raw: unknown;
  /** bytes of the line (NDJSON) or record (CSV) the event came from */
  bytes: number;
}

function contentId(text: string): string {
  return `import-${createHash('sha256').update(text).digest('base64url').slice(0, 24)}`;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const [head, ...rest] = path.split('.');
  if (!head || head === '__proto__' || head === 'constructor' || head === 'prototype') return;
  if (rest.length === 0) {
    target[head] = value;
    return;
  }
  const child = (target[head] ??= {}) as Record<string, unknown>;
  setPath(child, rest.join('.'), value);
}

function csvTime(v: string): string | undefined {
  if (v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) {
    const n = Number(v);
    return new Date(n < 1e11 ? n * 1000 : n).toISOString();
  }
  return v;
}

function ndjsonRow(text: string, line: number): Row {
  let raw: unknown;
  try {
    raw = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (e) {
    raw = { __invalid: `line ${line}: not valid JSON (${(e as Error).message})` };
  }
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw) && (raw as { messageId?: unknown }).messageId === undefined) {
    (raw as Record<string, unknown>).messageId = contentId(text);
  }
  return { line, raw, bytes: Buffer.byteLength(text) };
}

/**
 * The rows of an NDJSON file, a read buffer's worth at a time (a promise per line would cost more
 * than parsing it). Lines end with LF or CRLF; blank lines are skipped.
 */
export async function* ndjsonRows(file: string): AsyncGenerator<Row[]> {
  const decoder = new StringDecoder('utf8');
  let line = 0;
  let rest = '';
  const rowsOf = (text: string, final: boolean): Row[] => {
    const rows: Row[] = [];
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0 && !final) break;
      const end = nl < 0 ? text.length : nl;
      const content = text.charCodeAt(end - 1) === 13 ? text.slice(start, end - 1) : text.slice(start, end);
      line++;
      if (content.trim() !== '') rows.push(ndjsonRow(content, line));
      if (nl < 0) return rows;
      start = nl + 1;
    }
    rest = text.slice(start);
    return rows;
  };
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) yield rowsOf(rest + decoder.write(chunk as Buffer), false);
  const last = rest + decoder.end();
  if (last !== '') yield rowsOf(last, true);
}

async function* csvRows(file: string, delimiter: string, mapping: Map<string, string>, eventName: string): AsyncGenerator<Row[]> {
  const parser = createReadStream(file).pipe(parseCsv({ columns: true, delimiter, skip_empty_lines: true, trim: true, relax_column_count: false }));
  let line = 1;
  for await (const record of parser as AsyncIterable<Record<string, string>>) {
    line++;
    const e: Record<string, unknown> = { type: 'track', event: eventName };
    for (const [field, column] of mapping) {
      const v = record[column];
      if (v === undefined || v === '') continue;
      setPath(e, field, field === 'timestamp' ? csvTime(v) : v);
    }
    e.messageId ??= contentId(JSON.stringify(record));
    yield [{ line, raw: e, bytes: Buffer.byteLength(JSON.stringify(e)) }];
  }
}

export async function importCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      format: { type: 'string' },
      map: { type: 'string', multiple: true },
      event: { type: 'string' },
      workspace: { type: 'string' },
      'skip-invalid': { type: 'boolean' },
      chunk: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const file = positionals[0];
  if (values.help || !file) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const format = values.format ?? (/\.(csv)$/i.test(file) ? 'csv' : /\.(tsv|txt)$/i.test(file) ? 'tsv' : 'ndjson');
  if (!['ndjson', 'csv', 'tsv'].includes(format)) {
    console.error(`--format must be ndjson, csv or tsv`);
    return 2;
  }
  const mapping = new Map<string, string>();
  for (const m of values.map ?? []) {
    const eq = m.indexOf('=');
    if (eq <= 0) {
      console.error(`--map takes FIELD=COLUMN, got "${m}"`);
      return 2;
    }
    mapping.set(m.slice(0, eq), m.slice(eq + 1));
  }
  if (format !== 'ndjson' && mapping.size === 0) {
    console.error('CSV import needs a column mapping, e.g. --map userId=user_id --map properties.product_id=item --map timestamp=ts');
    return 2;
  }
  const chunkSize = Number(values.chunk ?? 5000);
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 100_000) {
    console.error('--chunk must be an integer from 1 to 100000');
    return 2;
  }
  const total = statSync(file).size;
  const config = loadConfig();
  // events are loaded (not models): repeats of what the data dir holds are recognised
  // the import needs the catalog and the messageIds already stored, not the serving state
  const opened = await openEngine(config, createLogger({ ...config, logLevel: 'warn' }), [], 'ledger');
  const { engine } = opened;
  const wsId = values.workspace ?? DEFAULT_WORKSPACE;
  const ws = engine.workspaces.get(wsId);
  if (!ws) {
    await opened.close();
    console.error(`no workspace "${wsId}"`);
    return 2;
  }
  const rows = format === 'ndjson' ? ndjsonRows(file) : csvRows(file, format === 'csv' ? ',' : '\t', mapping, values.event ?? 'Product Viewed');
  const progress = new Progress(`importing ${file}`, undefined, ' events');
  const counts = { read: 0, stored: 0, duplicates: 0, invalid: 0, dropped: 0, itemsWritten: 0 };
  const started = Date.now();
  let failed = false;
  const flush = async (rowsOfChunk: Row[]) => {
    let chunk = rowsOfChunk;
    // lines that are not JSON are reported as such; the rest of the chunk is still validated
    const unparsable = chunk.filter((r) => typeof r.raw === 'object' && r.raw !== null && '__invalid' in r.raw);
    if (unparsable.length) {
      for (const r of unparsable.slice(0, 20)) console.error((r.raw as { __invalid: string }).__invalid);
      counts.invalid += unparsable.length;
      chunk = chunk.filter((r) => !unparsable.includes(r));
      if (!values['skip-invalid']) failed = true;
    }
    let events: StoredEvent[];
    try {
      events = engine.ingestor.validate({ events: chunk.map((r) => r.raw), maxEventBytes: Math.max(...chunk.map((r) => r.bytes)) });
    } catch (e) {
      if (!isKairosError(e)) throw e;
      const bad = new Set<number>();
      let shown = 0;
      for (const d of e.details ?? []) {
        if (d.index === undefined) continue;
        bad.add(d.index);
        if (shown++ < 20) console.error(`line ${chunk[d.index]?.line}: ${d.field} ${d.message}`);
      }
      counts.invalid += bad.size;
      if (!values['skip-invalid']) failed = true;
      if (failed) return;
      events = engine.ingestor.validate({ events: chunk.filter((_, i) => !bad.has(i)).map((r) => r.raw) });
    }
    if (failed) return;
    const r = await engine.ingestor.ingestValid(ws, events);
    counts.stored += r.stored;
    counts.duplicates += r.duplicates;
    counts.dropped += r.dropped;
    counts.itemsWritten += r.itemsWritten;
  };
  try {
    let chunk: Row[] = [];
    // one chunk commits while the next is read and validated
    let previous: Promise<void> = Promise.resolve();
    reading: for await (const batch of rows) {
      for (const row of batch) {
        chunk.push(row);
        counts.read++;
        if (chunk.length >= chunkSize) {
          const current = flush(chunk);
          await previous;
          previous = current;
          chunk = [];
          if (failed) break reading;
          progress.update(counts.read, `(${Math.round(counts.read / Math.max(0.001, (Date.now() - started) / 1000)).toLocaleString('en')}/s)`);
        }
      }
    }
    await previous;
    if (!failed && chunk.length) await flush(chunk);
  } finally {
    await opened.close();
  }
  const seconds = (Date.now() - started) / 1000;
  progress.finish(counts.read);
  console.log(
    JSON.stringify({
      file, format, bytes: total, ...counts, seconds,
      eventsPerSecond: Math.round(counts.read / Math.max(seconds, 0.001)),
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    }),
  );
  if (failed) console.error('stopped at an invalid chunk: fix the lines above, or pass --skip-invalid; rerunning is safe');
  return failed ? 1 : 0;
}
