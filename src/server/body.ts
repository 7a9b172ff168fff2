/**
 * Request bodies: any encoding Segment clients use (gzip, also when mislabelled, as RudderStack's
 * SDK does), size limits applied after decompression, and JSON parsing that refuses prototype
 * poisoning keys.
 */
import { brotliDecompressSync, gunzipSync, inflateSync, type ZlibOptions } from 'node:zlib';
import { KairosError } from '../errors.ts';
import { parseUntrustedJson } from '../safe-json.ts';

const isGzip = (b: Buffer): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

function inflate(body: Buffer, encoding: string, limit: number): Buffer {
  const opts: ZlibOptions = { maxOutputLength: limit + 1 };
  try {
    const out =
      encoding === 'gzip' || encoding === 'x-gzip' || isGzip(body)
        ? gunzipSync(body, opts)
        : encoding === 'deflate'
          ? inflateSync(body, opts)
          : brotliDecompressSync(body, opts);
    if (out.length > limit) throw new KairosError('KAIROS_ERR_TOO_LARGE', `the body is larger than ${limit} bytes after decompression`);
    return out;
  } catch (e) {
    if (e instanceof KairosError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || /Cannot create a Buffer larger|maxOutputLength|output length/i.test((e as Error).message)) {
      throw new KairosError('KAIROS_ERR_TOO_LARGE', `the body is larger than ${limit} bytes after decompression`);
    }
    throw new KairosError('KAIROS_ERR_BAD_JSON', `the body is not valid ${encoding || 'gzip'} data`);
  }
}

/** Decodes and parses a JSON body; `limit` applies to the decompressed bytes. */
export function parseJsonBody(raw: Buffer, contentEncoding: string | undefined, limit: number): { value: unknown; bytes: number } {
  const encoding = (contentEncoding ?? '').trim().toLowerCase();
  if (encoding && !['identity', 'gzip', 'x-gzip', 'deflate', 'br'].includes(encoding)) {
    throw new KairosError('KAIROS_ERR_UNSUPPORTED_MEDIA_TYPE', `unsupported Content-Encoding "${encoding}"`);
  }
  const body = (encoding && encoding !== 'identity') || isGzip(raw) ? inflate(raw, encoding, limit) : raw;
  if (body.length > limit) throw new KairosError('KAIROS_ERR_TOO_LARGE', `the body is larger than ${limit} bytes`);
  if (body.length === 0) throw new KairosError('KAIROS_ERR_BAD_JSON', 'the body is empty');
  try {
    return { value: parseUntrustedJson(body.toString('utf8')), bytes: body.length };
  } catch (e) {
    if (/forbidden prototype property/i.test((e as Error).message)) {
      throw new KairosError('KAIROS_ERR_VALIDATION', 'the body contains a forbidden key (__proto__ or constructor.prototype)', [
        { field: '/', message: 'keys "__proto__" and "constructor.prototype" are not allowed' },
      ]);
    }
    throw new KairosError('KAIROS_ERR_BAD_JSON', `the body is not valid JSON: ${(e as Error).message}`);
  }
}
