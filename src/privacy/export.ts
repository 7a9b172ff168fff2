/**
 * Export (`GET /v1/profiles/{id}/export`): everything held about a person, as NDJSON records
 * `{"type": "profile" | "identity" | "event" | …, …}`, streamed segment by segment.
 */
import type { Engine } from '../engine/engine.ts';
import type { Workspace } from '../engine/workspace.ts';
import type { StoredEvent } from '../ingest/event.ts';

/** extra per-person records contributed by extensions (impressions, assignments, decisions) */
export type ExportSource = (ws: Workspace, ids: readonly string[]) => AsyncIterable<Record<string, unknown>> | Iterable<Record<string, unknown>>;

/** Whether anything is held about an id: a person, or records extensions keep per id. */
export function holdsAnything(ws: Workspace, id: string): boolean {
  return ws.rootOf(id) !== undefined || ws.erasureMutations([id]).length > 0;
}

export async function* exportPerson(engine: Engine, ws: Workspace, id: string, now: number, sources: readonly ExportSource[] = []): AsyncGenerator<string> {
  const root = ws.rootOf(id);
  const view = root === undefined ? undefined : ws.viewOf(root);
  const ids = view ? [...view.ids].sort() : [id];
  if (view) {
    yield JSON.stringify({ type: 'profile', ...ws.profile(id, now) }) + '\n';
    yield JSON.stringify({ type: 'identity', ids }) + '\n';
    const wanted = new Set(view.events.map((e) => e.messageId));
    const segments = [...new Set(view.events.map((e) => e.seg))].sort();
    for (const seg of segments) {
      const stored = (await engine.store.get<StoredEvent[]>(ws.id, 'events', seg)) ?? [];
      for (const e of stored) if (wanted.has(e.messageId)) yield JSON.stringify({ type: 'event', event: e }) + '\n';
    }
  } else {
    yield JSON.stringify({ type: 'identity', ids }) + '\n';
  }
  for (const source of sources) for await (const rec of source(ws, ids)) yield JSON.stringify(rec) + '\n';
}
