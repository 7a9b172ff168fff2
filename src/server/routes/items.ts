/** CONTRACT §5: the catalog. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { KairosError } from '../../errors.ts';
import { itemIdDetails, MAX_ITEM_ID_UNITS, type Item } from '../../catalog/item.ts';
import { principalOf, type AppContext } from '../app.ts';

const ItemId = Type.String({ minLength: 1, maxLength: MAX_ITEM_ID_UNITS });
// `available` is a boolean (CONTRACT §5): "false" or 0 would otherwise read as available
const Properties = Type.Object({ available: Type.Optional(Type.Boolean()) }, { additionalProperties: true });
export const ItemBody = Type.Object({ properties: Properties }, { additionalProperties: false });
export const BulkItemsBody = Type.Object(
  { items: Type.Array(Type.Object({ itemId: ItemId, properties: Properties }, { additionalProperties: false }), { minItems: 1, maxItems: 10_000 }) },
  { additionalProperties: false },
);
const Params = Type.Object({ itemId: ItemId });

export const itemJson = (item: Item): { itemId: string; properties: Record<string, unknown>; available: boolean; createdAt: string } => ({
  itemId: item.itemId,
  properties: item.properties,
  available: item.available,
  createdAt: new Date(item.createdAt).toISOString(),
});

/**
 * Item ids a request names, by the field that names them: schemas bound them in UTF-16 units, this
 * counts code points (1–512, as everywhere an item id is taken); a 400 listing every one too long.
 */
export function checkItemIds(named: Iterable<{ field: string; itemId: string }>): void {
  const details = itemIdDetails(named);
  if (details.length) throw new KairosError('KAIROS_ERR_VALIDATION', details.length === 1 ? details[0]!.message : `${details.length} problem(s) in the request`, details);
}

export function registerItemRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { engine } = ctx;

  app.put<{ Params: { itemId: string }; Body: { properties: Record<string, unknown> } }>(
    '/v1/items/:itemId',
    { schema: { params: Params, body: ItemBody }, config: { scope: 'write' } },
    async (req) => {
      const { ws } = principalOf(req);
      await engine.upsertItems(ws, [{ itemId: req.params.itemId, properties: req.body.properties }]);
      return itemJson(ws.catalog.get(req.params.itemId)!);
    },
  );

  app.post<{ Body: { items: Array<{ itemId: string; properties: Record<string, unknown> }> } }>(
    '/v1/items',
    { schema: { body: BulkItemsBody }, config: { scope: 'write' } },
    async (req) => {
      const { ws } = principalOf(req);
      await engine.upsertItems(ws, req.body.items, (i) => `/items/${i}/itemId`);
      return { upserted: req.body.items.length };
    },
  );

  app.get<{ Params: { itemId: string } }>('/v1/items/:itemId', { schema: { params: Params }, config: { scope: 'read' } }, async (req) => {
    checkItemIds([{ field: '/itemId', itemId: req.params.itemId }]);
    const { ws } = principalOf(req);
    const item = ws.catalog.get(req.params.itemId);
    if (!item) throw new KairosError('KAIROS_ERR_NOT_FOUND', `no item "${req.params.itemId}"`);
    return itemJson(item);
  });

  app.delete<{ Params: { itemId: string } }>('/v1/items/:itemId', { schema: { params: Params }, config: { scope: 'write' } }, async (req) => {
    checkItemIds([{ field: '/itemId', itemId: req.params.itemId }]);
    const { ws } = principalOf(req);
    if (!(await engine.deleteItem(ws, req.params.itemId))) throw new KairosError('KAIROS_ERR_NOT_FOUND', `no item "${req.params.itemId}"`);
    return { deleted: true, itemId: req.params.itemId };
  });
}
