/**
 * The rows of a CSV or TSV file for `kairos import`, each made into a Segment event by a column
 * mapping (`--map FIELD[:TYPE]=COLUMN`). A cell is a string unless its field names a type: `number`
 * or `boolean` (a consent flag, a price), or the field is `timestamp` (ISO-8601, YYYYMMDD, epoch
 * seconds or milliseconds). A numeric path segment makes an array, so order lines can be mapped to
 * `properties.products.0.product_id`. A cell that does not read as its type makes the row invalid,
 * reported with the physical line the record ends on.
 */
import { parse as parseCsv } from 'csv-parse';
import { ContentIds, openInput, type Row } from './import-rows.ts';

export type CellType = 'string' | 'number' | 'boolean';

export interface ColumnMapping {
  /** the target field as written (`properties.price:number`), for messages */
  field: string;
  path: string[];
  type: CellType;
  column: string;
}

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
/** the largest array index a path may name: one row is one event, not a table */
const MAX_INDEX = 99;

/** Reads `FIELD[:TYPE]=COLUMN`; a message for what is wrong with it. */
export function parseMapping(spec: string): ColumnMapping | string {
  const eq = spec.indexOf('=');
  if (eq <= 0) return `--map takes FIELD=COLUMN or FIELD:TYPE=COLUMN, got "${spec}"`;
  const target = spec.slice(0, eq);
  const column = spec.slice(eq + 1);
  const colon = target.lastIndexOf(':');
  const field = colon < 0 ? target : target.slice(0, colon);
  const type = colon < 0 ? 'string' : target.slice(colon + 1);
  if (type !== 'string' && type !== 'number' && type !== 'boolean') return `--map ${target}: the type must be string, number or boolean, got "${type}"`;
  const path = field.split('.');
  for (const [i, seg] of path.entries()) {
    if (seg === '' || FORBIDDEN.has(seg)) return `--map ${target}: "${field}" is not a field path`;
    if (/^\d+$/.test(seg) && (i === 0 || Number(seg) > MAX_INDEX)) return `--map ${target}: array indexes go from 0 to ${MAX_INDEX}, after a field name`;
  }
  if (column === '') return `--map ${target}= names no column`;
  return { field: target, path, type, column };
}

/** A CSV timestamp as ISO-8601 text: YYYYMMDD, epoch seconds (below 1e11) or milliseconds; other text is left to validation. */
export function csvTime(v: string): string {
  if (/^\d{8}$/.test(v)) return `${v.slice(0, 4)}-${v.slice(4, 6)}-${v.slice(6, 8)}`;
  if (/^\d+(\.\d+)?$/.test(v)) {
    const n = Number(v);
    return new Date(n < 1e11 ? n * 1000 : n).toISOString();
  }
  return v;
}

const BOOLEANS = new Map([['true', true], ['false', false], ['1', true], ['0', false], ['yes', true], ['no', false]]);
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** the cell as its mapping's type; undefined when it does not read as one */
function cellValue(m: ColumnMapping, v: string): unknown {
  if (m.path.length === 1 && m.path[0] === 'timestamp') return csvTime(v);
  if (m.type === 'number') return NUMBER.test(v) && Number.isFinite(Number(v)) ? Number(v) : undefined;
  if (m.type === 'boolean') return BOOLEANS.get(v.toLowerCase());
  return v;
}

function setPath(target: Record<string, unknown> | unknown[], path: readonly string[], value: unknown): void {
  let at = target as Record<string, unknown>;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    const next = at[key];
    if (typeof next === 'object' && next !== null) {
      at = next as Record<string, unknown>;
    } else {
      const child = /^\d+$/.test(path[i + 1]!) ? [] : {};
      at[key] = child;
      at = child as Record<string, unknown>;
    }
  }
  at[path[path.length - 1]!] = value;
}

/** Events from the records of a CSV (`,`) or TSV (`\t`) file, a record at a time. */
export async function* csvRows(file: string, delimiter: string, mapping: readonly ColumnMapping[], eventName: string): AsyncGenerator<Row[]> {
  // a malformed record (wrong column count, a quote never closed) is an invalid row like a bad NDJSON
  // line: reported, and skipped under --skip-invalid, not the end of the import
  const skipped: Row[] = [];
  const parser = openInput(file).pipe(
    parseCsv({
      // spreadsheets save "CSV UTF-8" with a byte order mark, which would otherwise join the first header
      bom: true,
      columns: true,
      delimiter,
      skip_empty_lines: true,
      trim: true,
      relax_column_count: false,
      skip_records_with_error: true,
      info: true,
      on_skip: (err) => {
        const at = (err as { lines?: number } | undefined)?.lines;
        skipped.push({ line: at ?? 0, raw: { __invalid: `line ${at ?? '?'}: ${err?.message ?? 'malformed CSV record'}` }, bytes: 0 });
        return undefined;
      },
    }),
  );
  const ids = new ContentIds();
  for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
    if (skipped.length) yield skipped.splice(0);
    const line = info.lines;
    const e: Record<string, unknown> = { type: 'track', event: eventName };
    let problem: string | undefined;
    for (const m of mapping) {
      const v = record[m.column];
      if (v === undefined || v === '') continue;
      const value = cellValue(m, v);
      if (value === undefined) {
        problem ??= `line ${line}: column "${m.column}" (${m.field}): ${JSON.stringify(v.slice(0, 40))} is not a ${m.type}`;
        continue;
      }
      setPath(e, m.path, value);
    }
    if (problem !== undefined) {
      yield [{ line, raw: { __invalid: problem }, bytes: 0 }];
      continue;
    }
    // the event as mapped (its name and types included) and the record it came from
    e.messageId ??= ids.next(`${JSON.stringify(e)}\n${JSON.stringify(record)}`);
    yield [{ line, raw: e, bytes: Buffer.byteLength(JSON.stringify(e)) }];
  }
  if (skipped.length) yield skipped.splice(0);
}
