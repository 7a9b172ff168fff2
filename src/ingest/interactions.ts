/**
 * The one place that maps Segment E-commerce v2 vocabulary to interactions. Models, features and
 * attribution only ever see interactions, never raw event names.
 */
import type { StoredEvent } from './event.ts';

export const INTERACTION_KINDS = [
  'view', 'click', 'add', 'remove', 'wishlist', 'purchase', 'search', 'list_view', 'promo_view', 'promo_click',
] as const;
export type InteractionKind = (typeof INTERACTION_KINDS)[number];

/** Weights as used by Metarank/Gorse-style implicit feedback: stronger intent, larger weight. */
export const DEFAULT_INTERACTION_WEIGHTS: Record<InteractionKind, number> = {
  view: 1,
  click: 1,
  add: 3,
  remove: -1,
  wishlist: 2,
  purchase: 5,
  search: 0,
  list_view: 0.2,
  promo_view: 0,
  promo_click: 1,
};

const EVENT_KIND: Readonly<Record<string, InteractionKind>> = {
  'Product Viewed': 'view',
  'Product Clicked': 'click',
  'Product Added': 'add',
  'Product Removed': 'remove',
  'Product Added to Wishlist': 'wishlist',
  'Order Completed': 'purchase',
  'Products Searched': 'search',
  'Product List Viewed': 'list_view',
  'Promotion Viewed': 'promo_view',
  'Promotion Clicked': 'promo_click',
};

export interface Interaction {
  /** event time, ms since epoch */
  t: number;
  kind: InteractionKind;
  /** item the interaction is about; absent for searches and promotions without a product */
  itemId?: string;
  /** revenue carried by the event (Order Completed revenue/total, or price × quantity) */
  value?: number;
  messageId: string;
  recommendationId?: string;
  decisionId?: string;
}

/** Item properties an event may carry, used to upsert unknown catalog items. */
export interface ProductMention {
  itemId: string;
  /** read-only: mentions without properties share NO_PROPERTIES */
  properties: Readonly<Record<string, unknown>>;
}

const PRODUCT_FIELDS = ['name', 'category', 'brand', 'price', 'url', 'image_url'] as const;

const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v.length > 0 ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;
const num = (v: unknown): number | undefined => {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
};

type Props = Record<string, unknown>;

const isProps = (p: unknown): p is Props => typeof p === 'object' && p !== null && !Array.isArray(p);

function productsOf(props: Props): Props[] {
  const list = props.products;
  if (!Array.isArray(list)) return [];
  return list.filter(isProps);
}

const productId = (p: Props): string | undefined => str(p.product_id) ?? str(p.sku);

export function interactionKindOf(event: StoredEvent): InteractionKind | undefined {
  return event.type === 'track' && event.event !== undefined ? EVENT_KIND[event.event] : undefined;
}

/** Built field by field (not by spreading): this runs for every event at ingest and at start. */
function interaction(event: StoredEvent, kind: InteractionKind, itemId?: string, value?: number, recommendationId?: string, decisionId?: string): Interaction {
  const x: Interaction = { t: event.timestamp, kind, messageId: event.messageId };
  if (itemId !== undefined) x.itemId = itemId;
  if (value !== undefined) x.value = value;
  if (recommendationId !== undefined) x.recommendationId = recommendationId;
  if (decisionId !== undefined) x.decisionId = decisionId;
  return x;
}

/** Interactions carried by one event, in a fixed order (one per product for orders and lists). */
export function interactionsOf(event: StoredEvent): Interaction[] {
  const kind = interactionKindOf(event);
  if (!kind) return [];
  const props: Props = event.properties ?? {};
  const recommendationId = str(props.recommendation_id);
  const decisionId = str(props.decision_id);
  if (kind === 'purchase' || kind === 'list_view') {
    const out: Interaction[] = [];
    let priced = false;
    for (const p of productsOf(props)) {
      const itemId = productId(p);
      if (!itemId) continue;
      const value = kind === 'purchase' ? lineValue(p.price, p.quantity) : undefined;
      if (value !== undefined) priced = true;
      out.push(interaction(event, kind, itemId, value, recommendationId, decisionId));
    }
    const orderValue = kind === 'purchase' ? (num(props.revenue) ?? num(props.total)) : undefined;
    if (out.length === 0) return [interaction(event, kind, undefined, orderValue, recommendationId, decisionId)];
    // an order whose products carry no price is worth its revenue (else total), shared evenly
    if (!priced && orderValue !== undefined) for (const x of out) x.value = orderValue / out.length;
    return out;
  }
  return [interaction(event, kind, productId(props), kind === 'add' ? lineValue(props.price, props.quantity) : undefined, recommendationId, decisionId)];
}

/** price × quantity (1 when absent), when that is a finite number */
function lineValue(price: unknown, quantity: unknown): number | undefined {
  const p = num(price);
  if (p === undefined) return undefined;
  const v = p * (num(quantity) ?? 1);
  return Number.isFinite(v) ? v : undefined;
}

/** what a mention without properties holds: most do (a view names only the product) */
export const NO_PROPERTIES: Readonly<Props> = Object.freeze({});

/** orders and lists name their products in `products`; other events are about the product their properties describe */
const namesProductList = (kind: InteractionKind): boolean => kind === 'purchase' || kind === 'list_view';

/**
 * The ids of the products an event mentions (those of `productMentions`), without copying their
 * properties. Like productMentions, it allocates nothing but its answer: both run for every event
 * ingested, imported and loaded at start.
 */
/** The item ids an event names, each with the JSON pointer of the field it came from (for error details). */
export function productIdsOf(event: StoredEvent): Array<{ itemId: string; field: string }> {
  const kind = interactionKindOf(event);
  if (!kind) return [];
  const props: Props = event.properties ?? NO_PROPERTIES;
  const named = (p: Props, at: string, out: Array<{ itemId: string; field: string }>): void => {
    const itemId = productId(p);
    if (itemId) out.push({ itemId, field: `${at}/${str(p.product_id) !== undefined ? 'product_id' : 'sku'}` });
  };
  const out: Array<{ itemId: string; field: string }> = [];
  if (!namesProductList(kind)) named(props, '/properties', out);
  else if (Array.isArray(props.products)) props.products.forEach((p, k) => isProps(p) && named(p, `/properties/products/${k}`, out));
  return out;
}

function mentionOf(p: Props): ProductMention | undefined {
  const itemId = productId(p);
  if (!itemId) return undefined;
  let properties: Props | undefined;
  for (const f of PRODUCT_FIELDS) if (p[f] !== undefined && p[f] !== null) (properties ??= {})[f] = p[f];
  return { itemId, properties: properties ?? NO_PROPERTIES };
}

/** Product properties mentioned by an event, for catalog upserts of unknown items. */
export function productMentions(event: StoredEvent): ProductMention[] {
  const kind = interactionKindOf(event);
  if (!kind) return [];
  const props: Props = event.properties ?? NO_PROPERTIES;
  if (!namesProductList(kind)) {
    const m = mentionOf(props);
    return m ? [m] : [];
  }
  const out: ProductMention[] = [];
  const list = props.products;
  if (Array.isArray(list)) {
    for (const p of list) {
      const m = isProps(p) ? mentionOf(p) : undefined;
      if (m) out.push(m);
    }
  }
  return out;
}
