/**
 * Drives a running Kairos server through the public API only: the catalog through POST /v1/items,
 * train (and, online, test) events through POST /v1/batch with the write key, predictions through
 * POST /v1/recommendations with an API key. Event times are shifted so the train data ends just
 * before the server's clock, since the server answers at its own "now". Point it at an empty data
 * dir: whatever else it holds shapes the answers too.
 *
 * The server does not repeat a person's recent impressions of a placement; the in-process driver
 * turns that rule off, and so does this one from outside: a frozen-mode request comes from a fresh
 * anonymous id (its session travels inline), an online one names its own placement.
 */
import type { CatalogEntry, Interaction } from './dataset.ts';
import type { EngineDriver, TopNCase } from './driver.ts';
import { inlineEvent, REQUEST_LIMITS, testSessionId, trackEvent, type IdentityField } from './events.ts';

export interface HttpOptions {
  url: string;
  writeKey: string;
  apiKey: string;
  identity: IdentityField;
  online: boolean;
  /** prefix of messageIds, so a rerun of the same data is recognised as repeats */
  runId: string;
}

const BATCH_EVENTS = 1000;
const BATCH_ITEMS = 1000;

export class HttpError extends Error {
  override name = 'HttpError';
}

export class HttpEngine implements EngineDriver {
  readonly name = 'kairos';
  private shiftMs = 0;
  private messages = 0;
  private requests = 0;
  /** catalog items wait for ingest(): their createdAt needs the time shift, known once the train data is */
  private pendingCatalog: Array<{ entry: CatalogEntry; createdAt: number }> = [];

  constructor(private readonly o: HttpOptions) {}

  private async call(path: string, body: unknown, auth: string): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(new URL(path, this.o.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: auth },
        body: JSON.stringify(body),
      });
      if (res.status === 429 && attempt < 20) {
        await new Promise((r) => setTimeout(r, 1000 * Number(res.headers.get('retry-after') ?? 1)));
        continue;
      }
      const text = await res.text();
      if (!res.ok) throw new HttpError(`${path} answered ${res.status}: ${text.slice(0, 500)}`);
      return text === '' ? undefined : JSON.parse(text);
    }
  }

  private api(path: string, body: unknown): Promise<unknown> {
    return this.call(path, body, `Bearer ${this.o.apiKey}`);
  }

  private track(events: unknown[]): Promise<unknown> {
    return this.call('/v1/batch', { batch: events }, `Basic ${Buffer.from(`${this.o.writeKey}:`).toString('base64')}`);
  }

  async loadCatalog(entries: readonly CatalogEntry[], createdAt: (itemId: string) => number): Promise<void> {
    this.pendingCatalog = entries.map((entry) => ({ entry, createdAt: createdAt(entry.itemId) }));
  }

  async ingest(list: readonly Interaction[], onProgress?: (done: number) => void): Promise<void> {
    const last = list.length ? list[list.length - 1]!.t : Date.now();
    this.shiftMs = Date.now() - 60_000 - last;
    for (let i = 0; i < this.pendingCatalog.length; i += BATCH_ITEMS) {
      const items = this.pendingCatalog.slice(i, i + BATCH_ITEMS).map(({ entry, createdAt }) => ({
        itemId: entry.itemId,
        properties: { ...entry.properties, createdAt: new Date(createdAt + this.shiftMs).toISOString() },
      }));
      await this.api('/v1/items', { items });
    }
    for (let i = 0; i < list.length; i += BATCH_EVENTS) {
      await this.track(list.slice(i, i + BATCH_EVENTS).map((x) => this.event(x, x.person)));
      onProgress?.(i);
    }
  }

  private event(x: Interaction, person: string): Record<string, unknown> {
    return trackEvent(x, this.o.identity, person, `${this.o.runId}-${this.messages++}`, this.shiftMs);
  }

  async observe(x: Interaction): Promise<void> {
    await this.track([this.event(x, testSessionId(x.person))]);
  }

  async nextItems(session: string, prefix: readonly Interaction[], _now: number, count: number): Promise<string[]> {
    const events = prefix.slice(-REQUEST_LIMITS.inlineEvents).map((x) => inlineEvent(x, this.shiftMs));
    const n = this.requests++;
    const body = this.o.online
      ? { anonymousId: testSessionId(session), context: { placement: `eval-${n}` }, count }
      : { anonymousId: `${testSessionId(session)}:${n}`, events, count };
    return this.items(await this.api('/v1/recommendations', body));
  }

  async topN(c: TopNCase, count: number): Promise<string[]> {
    const seen = new Set(c.trainItems);
    // the contract caps exclusions at 1000 ids: the most recent go in the request, the rest are dropped here
    const exclude = c.trainItems.slice(-REQUEST_LIMITS.exclude);
    const ask = Math.min(REQUEST_LIMITS.count, count + (c.trainItems.length - exclude.length));
    const items = this.items(await this.api('/v1/recommendations', { [this.o.identity]: c.person, count: ask, filter: { exclude } }));
    return items.filter((id) => !seen.has(id)).slice(0, count);
  }

  private items(response: unknown): string[] {
    const items = (response as { items?: Array<{ itemId: string }> }).items;
    if (!Array.isArray(items)) throw new HttpError('a recommendation response without items');
    return items.map((i) => i.itemId);
  }

  async close(): Promise<void> {}
}
