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

export function parseCategoryPath(v: unknown): string[] {
  if (typeof v !== 'string') return [];
  return v.split('>').map((s) => s.trim()).filter((s) => s.length > 0);
}

const finite = (v: unknown): number | undefined => {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
};

export function itemFromProperties(itemId: string, properties: Record<string, unknown>, firstSeen: number): Item {
  const createdAtRaw = properties.createdAt;
  const createdAt = typeof createdAtRaw === 'string' ? Date.parse(createdAtRaw) : finite(createdAtRaw);
  const tags = Array.isArray(properties.tags) ? properties.tags.filter((t): t is string => typeof t === 'string') : [];
  return {
    itemId,
    ...(typeof properties.name === 'string' ? { name: properties.name } : {}),
    categoryPath: parseCategoryPath(properties.category),
    ...(typeof properties.brand === 'string' ? { brand: properties.brand } : {}),
    tags,
    ...(finite(properties.price) !== undefined ? { price: finite(properties.price) } : {}),
    available: properties.available !== false,
    createdAt: createdAt !== undefined && Number.isFinite(createdAt) ? createdAt : firstSeen,
    properties,
  };
}

/** A readable name for reasons: the catalog name, else the id. */
export const displayName = (item: Item | undefined, itemId: string): string => item?.name ?? itemId;
