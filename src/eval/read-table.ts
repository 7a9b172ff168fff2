/**
 * Reads interactions from CSV/TSV with a column mapping. Time may be epoch seconds (decimals
 * allowed), epoch milliseconds or ISO-8601; event names may be Segment's or common short forms.
 */
import { createReadStream } from 'node:fs';
import { parse as parseCsv } from 'csv-parse';
import { DEFAULT_EVENT, type Interaction } from './dataset.ts';

export interface ColumnMap {
  /** the person's column; without it the session column names the person */
  user?: string;
  session?: string;
  item: string;
  time: string;
  event?: string;
  /** with `minRating`, rows rated below it are dropped (explicit feedback → positives) */
  rating?: string;
}

export interface TableOptions {
  delimiter: string;
  columns: ColumnMap;
  minRating?: number;
  /** event of rows without an event column (default "Product Viewed") */
  event?: string;
}

export class TableError extends Error {
  override name = 'TableError';
}

/** short event names seen in public datasets → Segment E-commerce names */
const EVENT_ALIASES: Readonly<Record<string, string>> = {
  view: 'Product Viewed',
  click: 'Product Clicked',
  cart: 'Product Added',
  add: 'Product Added',
  addtocart: 'Product Added',
  add_to_cart: 'Product Added',
  wishlist: 'Product Added to Wishlist',
  purchase: 'Order Completed',
  buy: 'Order Completed',
  transaction: 'Order Completed',
};

export function eventName(raw: string): string {
  return EVENT_ALIASES[raw.trim().toLowerCase()] ?? raw.trim();
}

/** ms since epoch, or undefined when the text is no time */
export function parseTime(raw: string): number | undefined {
  const v = raw.trim();
  if (v === '') return undefined;
  if (/^-?\d+(\.\d+)?$/.test(v)) {
    const n = Number(v);
    // below 1e11 a number is seconds (1e11 s is the year 5138; 1e11 ms is 1973)
    return Math.abs(n) < 1e11 ? Math.round(n * 1000) : Math.round(n);
  }
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
}

export function delimiterOf(file: string, format?: string): string {
  const f = format ?? (/\.(tsv|txt)$/i.test(file) ? 'tsv' : 'csv');
  if (f === 'csv') return ',';
  if (f === 'tsv') return '\t';
  throw new TableError(`format must be csv or tsv, got "${f}"`);
}

/** the records of a CSV/TSV file with a header line, as column → text */
export async function* readRecords(file: string, delimiter: string): AsyncGenerator<Record<string, string>> {
  const source = createReadStream(file);
  const parser = source.pipe(parseCsv({ columns: true, delimiter, skip_empty_lines: true, trim: true, bom: true }));
  // pipe() does not pass a read error on: a missing or unreadable file is the command's data mistake
  source.on('error', (e) => parser.destroy(new TableError(`cannot read ${file}: ${e.message}`)));
  for await (const record of parser as AsyncIterable<Record<string, string>>) yield record;
}

export async function readInteractions(file: string, o: TableOptions): Promise<Interaction[]> {
  const { columns } = o;
  const personColumn = columns.user ?? columns.session;
  if (!personColumn) throw new TableError('a user or session column is needed');
  const out: Interaction[] = [];
  let line = 1;
  let checked = false;
  for await (const r of readRecords(file, o.delimiter)) {
    line++;
    if (!checked) {
      for (const c of [personColumn, columns.session, columns.item, columns.time, columns.event, columns.rating]) {
        if (c !== undefined && !(c in r)) throw new TableError(`${file} has no column "${c}" (columns: ${Object.keys(r).join(', ')})`);
      }
      checked = true;
    }
    if (o.minRating !== undefined && columns.rating !== undefined && !(Number(r[columns.rating]) >= o.minRating)) continue;
    const t = parseTime(r[columns.time] ?? '');
    if (t === undefined) throw new TableError(`${file}:${line}: "${r[columns.time]}" is not a time`);
    const person = r[personColumn] ?? '';
    const item = r[columns.item] ?? '';
    if (person === '' || item === '') throw new TableError(`${file}:${line}: empty person or item`);
    const session = columns.session !== undefined ? r[columns.session] : undefined;
    out.push({
      person,
      ...(session !== undefined ? { session } : {}),
      item,
      t,
      event: columns.event !== undefined ? eventName(r[columns.event] ?? '') : (o.event ?? DEFAULT_EVENT),
    });
  }
  return out;
}
