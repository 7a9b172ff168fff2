/**
 * The rows `kairos import` reads, and the validation of a chunk of them: shared by the parsing thread
 * (NDJSON) and the main thread (CSV).
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { isKairosError } from '../errors.ts';
import type { StoredEvent } from '../ingest/event.ts';
import { MessageLedger } from '../ingest/message-ledger.ts';
import { validateEvents } from '../ingest/pipeline.ts';
import { parseUntrustedJson } from '../safe-json.ts';

export interface Row {
  line: number;
  raw: unknown;
  /** bytes of the line (NDJSON) or record (CSV) the event came from */
  bytes: number;
  /** brackets in the line (NDJSON): no event nests deeper than its text has brackets */
  brackets?: number;
}

/** how many times `c` occurs in `text` */
function occurrences(text: string, c: string): number {
  let n = 0;
  for (let at = text.indexOf(c); at >= 0; at = text.indexOf(c, at + 1)) n++;
  return n;
}

export function contentId(text: string): string {
  return `import-${createHash('sha256').update(text).digest('base64url').slice(0, 24)}`;
}

/**
 * Message ids for the rows of one file that carry none, derived from their content, so that an
 * interrupted import can simply be run again: what was stored is recognised as a repeat. The n-th
 * repeat of the same content within the file is told apart by its ordinal (the first occurrence
 * keeps the plain hash), so identical rows are distinct events, as they are over HTTP (the same item
 * bought twice on one day of a daily export), while a row found again in another file (overlapping
 * exports) is the same event.
 */
export class ContentIds {
  private readonly seen = new MessageLedger();
  private readonly repeats = new Map<string, number>();

  next(text: string): string {
    const id = contentId(text);
    if (this.seen.add(id)) return id;
    const n = (this.repeats.get(id) ?? 0) + 1;
    this.repeats.set(id, n);
    return contentId(`${text}\u0000#${n}`);
  }
}

/** The bytes of an import file, gunzipped when it is gzip (told by its first two bytes, whatever its name). */
export function openInput(file: string, readSize = 1 << 20): Readable {
  const head = Buffer.alloc(2);
  const fd = openSync(file, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, 2, 0);
  } finally {
    closeSync(fd);
  }
  const raw = createReadStream(file, { highWaterMark: readSize });
  if (n < 2 || head[0] !== 0x1f || head[1] !== 0x8b) return raw;
  // a read error or a corrupt or truncated stream fails the reader of the result
  return pipeline(raw, createGunzip({ chunkSize: readSize }), () => {});
}

function ndjsonRow(text: string, line: number, ids: ContentIds): Row {
  let raw: unknown;
  try {
    raw = parseUntrustedJson(text);
  } catch (e) {
    raw = { __invalid: `line ${line}: not valid JSON (${(e as Error).message})` };
  }
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw) && (raw as { messageId?: unknown }).messageId === undefined) {
    (raw as Record<string, unknown>).messageId = ids.next(text);
  }
  return { line, raw, bytes: Buffer.byteLength(text), brackets: occurrences(text, '{') + occurrences(text, '[') };
}

/**
 * The rows of an NDJSON file, a read's worth at a time (a promise per line would cost more than
 * parsing it). Lines end with LF or CRLF; blank lines are skipped. Each read is cut after its last
 * LF, a byte no multi-byte character contains, so every line is decoded whole, and not joined to the
 * line left over from the read before. A read is decoded in pieces of at most `pieceSize` bytes, each
 * ending with an LF (a longer line is a piece of its own): a string over 128 KB would be placed in
 * V8's large-object space, whose fresh pages cost ~13 times what decoding into the young generation
 * does (~250 against ~18 ms per 64 MB, docs/performance.md).
 */
export async function* ndjsonRows(file: string, readSize = 1 << 20, pieceSize = 32 * 1024): AsyncGenerator<Row[]> {
  let line = 0;
  const ids = new ContentIds();
  /** the bytes of a line that began in an earlier read */
  let carry: Buffer[] = [];
  const pushLines = (text: string, rows: Row[]): void => {
    for (let start = 0; start < text.length; ) {
      const nl = text.indexOf('\n', start);
      const end = nl < 0 ? text.length : nl;
      const content = text.charCodeAt(end - 1) === 13 ? text.slice(start, end - 1) : text.slice(start, end);
      line++;
      if (content.trim() !== '') rows.push(ndjsonRow(content, line, ids));
      start = end + 1;
    }
  };
  for await (const buf of openInput(file, readSize) as AsyncIterable<Buffer>) {
    const last = buf.lastIndexOf(10);
    if (last < 0) {
      carry.push(buf);
      continue;
    }
    const rows: Row[] = [];
    let start = 0;
    if (carry.length > 0) {
      // the line that straddles reads, decoded on its own
      start = buf.indexOf(10) + 1;
      carry.push(buf.subarray(0, start));
      pushLines(Buffer.concat(carry).toString('utf8'), rows);
      carry = [];
    }
    // buf[start, last] ends with an LF: each piece ends after the last LF it holds
    for (let from = start; from <= last; ) {
      let to = last + 1;
      if (to - from > pieceSize) {
        const nl = buf.lastIndexOf(10, from + pieceSize - 1);
        to = (nl >= from ? nl : buf.indexOf(10, from + pieceSize)) + 1;
      }
      pushLines(buf.toString('utf8', from, to), rows);
      from = to;
    }
    if (last + 1 < buf.length) carry.push(buf.subarray(last + 1));
    yield rows;
  }
  if (carry.length > 0) {
    // a last line without a newline
    const rows: Row[] = [];
    pushLines(Buffer.concat(carry).toString('utf8'), rows);
    yield rows;
  }
}

export interface ValidatedChunk {
  events: StoredEvent[];
  /** rows that were not stored for being invalid */
  invalid: number;
  /** what was wrong, the first 20 problems of the chunk, each naming its line */
  problems: string[];
  /** an invalid row without --skip-invalid: nothing of the chunk is to be stored */
  failed: boolean;
}

/**
 * Validates a chunk of rows as the HTTP path validates a request. A chunk with an invalid row is
 * refused whole, unless `skipInvalid`: then its valid rows are kept.
 */
export function validateChunk(rows: Row[], skipInvalid: boolean, minimise?: (e: StoredEvent) => StoredEvent): ValidatedChunk {
  const problems: string[] = [];
  let chunk = rows;
  let invalid = 0;
  let failed = false;
  // lines that are not JSON are reported as such; the rest of the chunk is still validated
  const unparsable = chunk.filter((r) => typeof r.raw === 'object' && r.raw !== null && '__invalid' in r.raw);
  if (unparsable.length) {
    for (const r of unparsable.slice(0, 20)) problems.push((r.raw as { __invalid: string }).__invalid);
    invalid += unparsable.length;
    chunk = chunk.filter((r) => !unparsable.includes(r));
    failed = !skipInvalid;
  }
  let maxBytes = 0;
  let maxBrackets = 0;
  for (const r of chunk) {
    maxBytes = Math.max(maxBytes, r.bytes);
    maxBrackets = Math.max(maxBrackets, r.brackets ?? Infinity);
  }
  try {
    const events = validateEvents({ events: chunk.map((r) => r.raw), maxEventBytes: maxBytes, maxNesting: maxBrackets }, minimise);
    return { events: failed ? [] : events, invalid, problems, failed };
  } catch (e) {
    if (!isKairosError(e)) throw e;
    const bad = new Set<number>();
    for (const d of e.details ?? []) {
      if (d.index === undefined) continue;
      bad.add(d.index);
      if (problems.length < 20) problems.push(`line ${chunk[d.index]?.line}: ${d.field} ${d.message}`);
    }
    invalid += bad.size;
    if (failed || !skipInvalid) return { events: [], invalid, problems, failed: true };
    return { events: validateEvents({ events: chunk.filter((_, i) => !bad.has(i)).map((r) => r.raw) }, minimise), invalid, problems, failed: false };
  }
}
