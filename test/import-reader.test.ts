/**
 * `kairos import` reads NDJSON a megabyte at a time: lines, CRLF endings and multi-byte characters
 * that straddle two reads must come out exactly as a line-by-line reader gives them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ndjsonRows, type Row } from '../src/cli/import.ts';
import { validateChunk } from '../src/cli/import-rows.ts';
import { MAX_DEPTH } from '../src/ingest/event.ts';

const dir = mkdtempSync(join(tmpdir(), 'kairos-reader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function rowsOf(text: string, readSize?: number, pieceSize?: number): Promise<Row[]> {
  const file = join(dir, `f${Math.random().toString(36).slice(2)}.ndjson`);
  writeFileSync(file, text);
  const out: Row[] = [];
  for await (const batch of ndjsonRows(file, readSize, pieceSize)) out.push(...batch);
  rmSync(file);
  return out;
}

describe('NDJSON reader', () => {
  it('gives every line across read boundaries: CRLF, blank lines, multi-byte characters, no final newline', async () => {
    // lines of varied length so that boundaries fall everywhere over 3 MB
    const lines: string[] = [];
    for (let i = 0, length = 0; length < 3_200_000; i++, length += lines[lines.length - 1]!.length + 1) {
      lines.push(JSON.stringify({ type: 'track', event: 'Product Viewed', userId: `u${i}`, messageId: `m${i}`, properties: { name: 'Ünïcødé 🥾 '.repeat(i % 7), pad: 'x'.repeat((i * 37) % 300), boots: '🥾é'.repeat(40) } }));
    }
    let text = lines.map((l, i) => (i % 5 === 0 ? `${l}\r\n` : i % 11 === 0 ? `${l}\n\n` : `${l}\n`)).join('').replace(/\n$/, '');
    // a first line of the length that makes the first read end inside a four-byte character
    const body = Buffer.from(text);
    let emoji = 1_048_575 - 200;
    while (body[emoji] !== 0xf0) emoji--;
    const fillerBytes = 1_048_575 - emoji;
    const shell = JSON.stringify({ type: 'track', event: 'Filler', userId: 'f', messageId: 'filler', pad: '' });
    const filler = JSON.stringify({ type: 'track', event: 'Filler', userId: 'f', messageId: 'filler', pad: 'x'.repeat(fillerBytes - 1 - shell.length) });
    lines.unshift(filler);
    text = `${filler}\n${text}`;
    expect(Buffer.from(text)[1_048_575]).toBe(0xf0);
    const rows = await rowsOf(text);
    expect(rows.map((r) => (r.raw as { messageId: string }).messageId)).toEqual(['filler', ...lines.slice(1).map((_, i) => `m${i}`)]);
    expect(rows.every((r, i) => Buffer.byteLength(lines[i]!) === r.bytes)).toBe(true);
    // line numbers count blank lines
    const blankBefore = (i: number) => lines.slice(1, i).filter((_, j) => j % 5 !== 0 && j % 11 === 0).length;
    expect(rows.map((r) => r.line)).toEqual(lines.map((_, i) => i + 1 + blankBefore(i)));
    expect(rows.map((r) => JSON.stringify(r.raw))).toEqual(lines);
  });

  it('cuts reads and the pieces they are decoded in anywhere: lines longer than many reads or pieces, and the same rows as splitting the text', async () => {
    const value = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('🥾', 'é', '\u2028'));
    const line = fc.oneof(
      { weight: 5, arbitrary: value.map((v) => JSON.stringify({ type: 'track', event: 'E', userId: 'u', properties: { v } })) },
      { weight: 1, arbitrary: fc.constantFrom('', ' ', '\t') },
    );
    const eol = fc.constantFrom('\n', '\r\n');
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(line, eol), { minLength: 1, maxLength: 30 }), fc.boolean(), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 300 }), async (lines, finalEol, readSize, pieceSize) => {
        const text = lines.map(([l, e], i) => (i < lines.length - 1 || finalEol ? l + e : l)).join('');
        const expected = lines.flatMap(([l], i) => (l.trim() === '' ? [] : [{ line: i + 1, text: l }]));
        const rows = await rowsOf(text, readSize, pieceSize);
        expect(rows.map((r) => ({ line: r.line, text: JSON.stringify(r.raw).replace(/,"messageId":"import-[^"]+"/, '') }))).toEqual(expected.map((x) => ({ ...x, text: JSON.stringify(JSON.parse(x.text)) })));
        expect(rows.map((r) => r.bytes)).toEqual(expected.map((x) => Buffer.byteLength(x.text)));
      }),
      { numRuns: 300 },
    );
  });

  it('reports a line that is not JSON and gives content ids to events without a messageId', async () => {
    const rows = await rowsOf('{"type":"track"}\r\nnot json\n\n{"type":"page"}');
    expect(rows.map((r) => r.line)).toEqual([1, 2, 4]);
    expect((rows[1]!.raw as { __invalid: string }).__invalid).toMatch(/^line 2: not valid JSON/);
    // the same text gives the same id whether the line ended with CRLF or not
    const again = await rowsOf('{"type":"track"}');
    expect((rows[0]!.raw as { messageId: string }).messageId).toBe((again[0]!.raw as { messageId: string }).messageId);
    expect((rows[0]!.raw as { messageId: string }).messageId).toMatch(/^import-/);
  });

  it('refuses events nested deeper than the limit, whether or not their lines have few brackets', async () => {
    // nesting d levels below properties: the event itself is d + 2 levels deep
    const nested = (d: number, pad = '') => {
      let v: unknown = { leaf: pad };
      for (let i = 0; i < d; i++) v = i % 2 ? { n: v } : [v];
      return JSON.stringify({ type: 'track', event: 'Deep', userId: 'u', messageId: `d${d}${pad.length}`, properties: { v } });
    };
    // levels: the event, properties, d wrappers, the leaf object
    const limit = MAX_DEPTH - 3;
    for (const [d, pad] of [[limit, ''], [limit + 1, ''], [limit, '{[{['.repeat(10)], [limit + 5, ''], [1, '{'.repeat(100)]] as const) {
      const rows = await rowsOf(`${nested(d, pad)}\n`);
      const v = validateChunk(rows, true);
      const deepest = d + 3;
      expect(v.invalid, `depth ${deepest}, ${pad.length} brackets in a string`).toBe(deepest > MAX_DEPTH ? 1 : 0);
      if (deepest > MAX_DEPTH) expect(v.problems[0]).toMatch(/nests deeper than/);
    }
  });
});
