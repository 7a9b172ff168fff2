/**
 * The descriptive features of a catalog item used for content similarity: words of the name, every
 * prefix of the category path (so "Shoes > Running" also shares "Shoes" with "Shoes > Trail"),
 * the brand and the tags. Features are lower-cased strings with a group prefix.
 */
import type { Item } from '../../catalog/item.ts';

export type FeatureGroup = 'name' | 'category' | 'brand' | 'tag';

const GROUP_OF_PREFIX: Readonly<Record<string, FeatureGroup>> = { n: 'name', c: 'category', b: 'brand', t: 'tag' };

/** words that say nothing about what an item is */
const STOP_WORDS = new Set(['a', 'an', 'and', 'the', 'of', 'for', 'with', 'in', 'on', 'to', 'by', 'de', 'la', 'le', 'und', 'der', 'die', 'das']);

const normalise = (s: string): string => s.normalize('NFKC').toLowerCase().trim();

export function nameTokens(name: string): string[] {
  return normalise(name)
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length > 1 && !STOP_WORDS.has(w));
}

/**
 * Name words and tags that count per item, the first ones given: enough for any real description,
 * and they keep the cost of an item's features (and of comparing two items) bounded whatever a
 * client sends. The category path is bounded by MAX_CATEGORY_LEVELS.
 */
export const MAX_NAME_FEATURES = 64;
export const MAX_TAG_FEATURES = 64;

/** distinct features of an item */
export function featuresOf(item: Item): string[] {
  const out = new Set<string>();
  if (item.name !== undefined) {
    let words = 0;
    for (const w of nameTokens(item.name)) {
      out.add(`n:${w}`);
      if (++words === MAX_NAME_FEATURES) break;
    }
  }
  let path = '';
  for (const level of item.categoryPath) {
    path = path === '' ? normalise(level) : `${path}>${normalise(level)}`;
    out.add(`c:${path}`);
  }
  if (item.brand !== undefined && item.brand.trim() !== '') out.add(`b:${normalise(item.brand)}`);
  let tags = 0;
  for (const tag of item.tags) {
    if (tag.trim() === '') continue;
    out.add(`t:${normalise(tag)}`);
    if (++tags === MAX_TAG_FEATURES) break;
  }
  return [...out];
}

export const groupOf = (feature: string): FeatureGroup => GROUP_OF_PREFIX[feature.slice(0, 1)] ?? 'tag';
