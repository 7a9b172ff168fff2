import { createHash } from 'node:crypto';
import type { ErrorDetail } from '../errors.ts';
import { MAX_TIME_MS, parseIsoTime } from '../iso-time.ts';

/** Catalog items: the known properties of CONTRACT §5, parsed once so rules and models need not guess. */
export interface Item {
  itemId: string;
  name?: string;
  /** category path, outermost first: "Shoes > Running" → ["Shoes", "Running"] */
  categoryPath: string[];
  brand?: string;
  tags: string[];
  price?: number;
  available: boolean;
  /** ms since epoch; when the catalog first saw the item if not given */
  createdAt: number;
  /** every property as given, known ones included */
  properties: Record<string, unknown>;
}

/** Item ids have at most this many characters (code points), in the API and in events. */
export const MAX_ITEM_ID_CHARS = 512;

/**
 * The item id's bound in UTF-16 units, for schemas (which count units, validation.ts): what 512 code
 * points may take. itemIdProblem then counts the code points; ids longer in UTF-8 than a store key
 * allows are keyed by their hash (itemStoreKey).
 */
export const MAX_ITEM_ID_UNITS = 2 * MAX_ITEM_ID_CHARS;

export function itemIdProblem(itemId: string): string | undefined {
  if (itemId.length === 0) return 'item id must not be empty';
  if (!itemId.isWellFormed()) return 'item id must not hold half a surrogate pair';
  let chars = 0;
  for (const _ of itemId) if (++chars > MAX_ITEM_ID_CHARS) return `item id must be at most ${MAX_ITEM_ID_CHARS} characters`;
  return undefined;
}

/** a detail for each item id a request names that is not 1–512 code points */
export function itemIdDetails(named: Iterable<{ field: string; itemId: string; index?: number }>): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  for (const { field, itemId, index } of named) {
    const message = itemIdProblem(itemId);
    if (message) details.push({ ...(index !== undefined ? { index } : {}), field, message });
  }
  return details;
}

/**
 * The store key of an item. Ids that could exceed a store's key size (512 four-byte characters are
 * 2 KB) are keyed by their SHA-256 instead; the record always carries the id itself.
 */
export function itemStoreKey(itemId: string): string {
  return Buffer.byteLength(itemId, 'utf8') <= 512 ? itemId : `\u{10FFFF}sha256:${createHash('sha256').update(itemId).digest('hex')}`;
}

/**
 * Levels of a category path that count (rules, filters, content features); deeper ones are kept in
 * the item's properties but ignored. Shop taxonomies are a handful of levels deep (Google's product
 * taxonomy: 7), and content similarity makes a feature of every prefix, whose total size grows with
 * the square of the depth: a 16,000-level path in one event once took gigabytes.
 */
export const MAX_CATEGORY_LEVELS = 12;

/** the keys of names already seen: category names are few, and caps compare one per candidate */
const categoryKeys = new Map<string, string>();

/**
 * How category names compare everywhere (filters, the category cap, per-category lists): NFKC
 * (full-width and compatibility forms fold), trimmed, lower case.
 */
export function categoryKey(name: string): string {
  let key = categoryKeys.get(name);
  if (key === undefined) {
    if (categoryKeys.size >= 100_000) categoryKeys.clear();
    key = name.normalize('NFKC').trim().toLowerCase();
    categoryKeys.set(name, key);
  }
  return key;
}

export function parseCategoryPath(v: unknown): string[] {
  if (typeof v !== 'string') return [];
  const out: string[] = [];
  for (let from = 0; from <= v.length && out.length < MAX_CATEGORY_LEVELS; ) {
    let to = v.indexOf('>', from);
    if (to < 0) to = v.length;
    const level = v.slice(from, to).trim();
    if (level.length > 0) out.push(level);
    from = to + 1;
  }
  return out;
}

/** a decimal number, as a JSON number or its text ("19.99", " 5 ", "1e3"; not "0x0A", "0b1", "Infinity") */
const DECIMAL = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;

const finite = (v: unknown): number | undefined => {
  const n = typeof v === 'string' && DECIMAL.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
};

export function itemFromProperties(itemId: string, properties: Record<string, unknown>, firstSeen: number): Item {
  const createdAtRaw = properties.createdAt;
  const createdAt = typeof createdAtRaw === 'string' ? parseIsoTime(createdAtRaw) : finite(createdAtRaw);
  const tags = Array.isArray(properties.tags) ? properties.tags.filter((t): t is string => typeof t === 'string') : [];
  const item: Item = {
    itemId,
    categoryPath: parseCategoryPath(properties.category),
    tags,
    available: properties.available !== false,
    // outside ±8.64e15 ms a Date cannot represent the time: treat it as not given
    createdAt: createdAt !== undefined && Math.abs(createdAt) <= MAX_TIME_MS ? createdAt : firstSeen,
    properties,
  };
  // the optional fields assigned, not spread in: every catalog upsert (events, API, start) builds one
  // item, and a spread of a conditional object costs four times what the rest does
  if (typeof properties.name === 'string') item.name = properties.name;
  if (typeof properties.brand === 'string') item.brand = properties.brand;
  const price = finite(properties.price);
  if (price !== undefined) item.price = price;
  return item;
}

/** the longest label a reason's text quotes, in code points */
export const LABEL_MAX = 80;
/** white space a label would collapse or trim: a run, an end, or anything but a plain space */
const UNTIDY = /\s\s|^\s|\s$|[^\S ]/u;

/**
 * A name as a reason's text quotes it: white space collapsed, at most `LABEL_MAX` code points (then
 * cut at a word where one is near, with an ellipsis), so that a catalog name of any length gives a
 * short, readable reason and a small answer.
 */
export function shortLabel(name: string): string {
  // the common case, a short name with single spaces, as it is (reasons name items on every request)
  return name.length <= LABEL_MAX && !UNTIDY.test(name) ? name : tidyLabel(name);
}

/** the rule `shortLabel` applies, without its shortcut for names it would leave as they are */
export function tidyLabel(name: string): string {
  const text = name.replace(/\s+/gu, ' ').trim();
  const points = Array.from(text);
  if (points.length <= LABEL_MAX) return text;
  let cut = points.slice(0, LABEL_MAX - 1).join('');
  const space = cut.lastIndexOf(' ');
  if (space >= LABEL_MAX / 2) cut = cut.slice(0, space);
  return `${cut}…`;
}

/** A readable name for reasons: the catalog name, else (none, or blank) the id; shortened. */
export function displayName(item: Item | undefined, itemId: string): string {
  const name = item?.name === undefined ? '' : shortLabel(item.name);
  return name === '' ? shortLabel(itemId) : name;
}
