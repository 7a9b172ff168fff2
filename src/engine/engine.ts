/**
 * The engine: one store, the workspaces it holds, their keys, and the operations the adapters
 * (HTTP server, CLI, evaluation harness) call. Startup rebuilds every workspace's serving state
 * from the durable records.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { KairosError } from '../errors.ts';
import { grants, hashSecret, newKeyId, newSecret, publicKey, sameHash, type KeyRecord, type Scope } from '../auth/keys.ts';
import type { StoredEvent } from '../ingest/event.ts';
import { DERIVING_PREFIX, Ingestor, type IngestRequest, type IngestResult, type ItemRecord } from '../ingest/pipeline.ts';
import { INSTANCE, type CompactionReport, type Store } from '../store/types.ts';
import { itemIdDetails, itemStoreKey } from '../catalog/item.ts';
import { namesItems, Workspace } from './workspace.ts';
import type { EventSummary } from '../identity/timeline.ts';
import { itemsNamedBy, rebuildAndApply } from '../catalog/rebuild.ts';
import { idsOf } from '../ingest/event.ts';
import { Tombstones } from '../privacy/tombstones.ts';
import { PolicyApplier } from '../privacy/policy.ts';
import { expiredOnArrival } from '../privacy/retention.ts';
import { RateLimiter } from '../auth/rate-limit.ts';

export const DEFAULT_WORKSPACE = 'default';
const PRIMARY_WRITE = 'primary-write';
const PRIMARY_ADMIN = 'primary-admin';
const COMPACTION_DUE = 'compaction-due';
/**
 * a mark (per workspace, in `meta`) that what counts may have changed without the event-made catalog
 * catching up: `stating`, left by bulk import, which judges nothing (a statement it stored may make
 * earlier mentions count again; the start rechecks the items named by people who ever opted out);
 * `all`, left by retention until its rebuild is durable (the start rechecks every item events named)
 */
export const CATALOG_RECHECK = 'catalog-recheck';
/** how soon a failed rebuild of catalog items is tried again when no batch comes */
const CATALOG_RETRY_MS = 1000;
const CATALOG_RETRY_MAX_MS = 60_000;

/** compacts the store; the mark that a compaction is due goes with it, not before (a crash keeps it) */
export async function compactStore(store: Store): Promise<CompactionReport> {
  return store.compact([{ ws: INSTANCE, table: 'meta', key: COMPACTION_DUE }]);
}

export interface WorkspaceRecord {
  id: string;
  name: string;
  createdAt: string;
}

export interface Principal {
  ws: Workspace;
  key: KeyRecord;
}

/** Lets later capabilities (recommendations, decisions, privacy) attach to each workspace. */
export interface WorkspaceExtension {
  /** called before the workspace's events are loaded, so models are built in one pass */
  attach(ws: Workspace, store: Store): Promise<void> | void;
  /** called by close() before the store closes: make buffered writes durable */
  close?(): Promise<void>;
}

export interface EngineOptions {
  config: Config;
  store: Store;
  logger: Logger;
  extensions?: WorkspaceExtension[];
  /**
   * false for offline tools that need no events (keys): load catalog and keys only; 'ledger' for bulk
   * import: only which messageIds are stored (dedupe) — no identities, timelines or models, which an
   * offline load would build only to throw away
   */
  serving?: boolean | 'ledger';
}

export class Engine {
  readonly workspaces = new Map<string, Workspace>();
  readonly ingestor: Ingestor;
  /** secrets printed once on first start, when they were generated */
  readonly generatedSecrets: { writeKey?: string; adminKey?: string } = {};
  private readonly keysByHash = new Map<string, Principal>();
  private readonly limiter: RateLimiter;
  /** suppressed (erased) ids per workspace */
  readonly tombstones = new Map<string, Tombstones>();
  readonly config: Config;
  readonly store: Store;
  readonly logger: Logger;
  private readonly extensions: WorkspaceExtension[];
  private readonly serving: boolean | 'ledger';

  private constructor(o: EngineOptions) {
    this.config = o.config;
    this.store = o.store;
    this.logger = o.logger;
    this.extensions = o.extensions ?? [];
    this.serving = o.serving ?? true;
    this.limiter = new RateLimiter(this.config.rateLimitPerSecond);
    const policy = new PolicyApplier(this.config.privacy);
    this.ingestor = new Ingestor(this.store, {
      isSuppressed: (ws, id) => this.tombstones.get(ws.id)?.has(id) === true,
      suppressesAny: (ws) => (this.tombstones.get(ws.id)?.size ?? 0) > 0,
      wasErased: (ws, messageId) => this.tombstones.get(ws.id)?.wasErased(messageId) === true,
      erasedAny: (ws) => (this.tombstones.get(ws.id)?.erasedMessageCount ?? 0) > 0,
      isExpired: (type, timestamp) => expiredOnArrival(this.config.privacy, type, timestamp, Date.now()),
      minimise: (e) => policy.apply(e),
    });
  }

  static async open(o: EngineOptions): Promise<Engine> {
    const engine = new Engine(o);
    await engine.load();
    return engine;
  }

  private async load(): Promise<void> {
    const started = Date.now();
    let records = 0;
    for await (const [, rec] of this.store.scan<WorkspaceRecord>(INSTANCE, 'workspaces')) {
      records++;
      await this.loadWorkspace(rec);
    }
    if (records === 0) await this.createWorkspaceRecord(DEFAULT_WORKSPACE, DEFAULT_WORKSPACE);
    await this.ensurePrimaryKeys();
    if (this.serving === true && (await this.store.get(INSTANCE, 'meta', COMPACTION_DUE))) this.armCompaction();
    const stats = [...this.workspaces.values()].map((w) => ({ id: w.id, ...w.stats() }));
    this.logger.info({ workspaces: stats, ms: Date.now() - started }, 'state loaded');
  }

  private async loadWorkspace(rec: WorkspaceRecord): Promise<Workspace> {
    const ws = new Workspace(rec.id, this.config.tuning);
    this.tombstones.set(rec.id, await Tombstones.load(this.store, rec.id));
    for (const ext of this.extensions) await ext.attach(ws, this.store);
    for await (const [key, item] of this.store.scan<ItemRecord>(rec.id, 'items')) {
      if (item.deleted) ws.catalog.markDeleted(item.itemId ?? key, item.firstSeen);
      else ws.catalog.upsert(item.itemId ?? key, item.properties, item.firstSeen, item);
    }
    for await (const [, key] of this.store.scan<KeyRecord>(rec.id, 'keys')) this.keysByHash.set(key.hash, { ws, key });
    if (this.serving === 'ledger') ws.ledgerOnly = true;
    if (this.serving) {
      ws.startLoad();
      // segments whose derived records may not have committed before the process stopped
      const deriving = new Set<string>();
      for await (const [key] of this.store.scan(rec.id, 'meta', DERIVING_PREFIX)) deriving.add(key.slice(DERIVING_PREFIX.length));
      const rederive: StoredEvent[] = [];
      for await (const [seg, events] of this.store.scan<StoredEvent[]>(rec.id, 'events')) {
        ws.noteSegment(seg);
        for (const e of events) ws.apply(e, seg);
        if (deriving.has(seg)) rederive.push(...events);
      }
      ws.flush();
      if (this.serving === true) await this.checkCatalog(ws, rederive, await this.store.get<'all' | 'stating'>(rec.id, 'meta', CATALOG_RECHECK));
      if (deriving.size > 0 && this.serving === true) await this.rederive(ws, deriving, rederive);
      ws.endLoad();
      // from now on, every batch's changes of what counts reach the catalog before it is acknowledged
      if (this.serving === true) ws.onApplied(() => this.reconcileCatalog(ws));
    }
    this.workspaces.set(rec.id, ws);
    return ws;
  }

  /**
   * Brings the stored event-made items in line with what counts (Workspace.catalogUncounted) after a
   * load. An item still carrying a mention of an event that does not count (bulk import merges them
   * all) is rebuilt. After a stop between a batch's commit and its items' rebuild, the items named by
   * the people of the interrupted batches are rebuilt from all their counted mentions.
   */
  private async checkCatalog(ws: Workspace, interrupted: readonly StoredEvent[], recheck: 'all' | 'stating' | undefined): Promise<void> {
    const carrying = new Set<string>();
    for (const e of ws.initCatalogCounting()) {
      for (const x of e.interactions) {
        const rec = x.itemId === undefined ? undefined : ws.catalog.record(x.itemId);
        if (rec?.source !== 'events') continue;
        if (rec.firstSeen === e.t || Object.values(rec.setBy ?? {}).some(([, messageId]) => messageId === e.messageId)) carrying.add(x.itemId!);
      }
    }
    if (carrying.size > 0) await rebuildAndApply(this.store, this.ingestor, ws, carrying);
    if (interrupted.length > 0) {
      const roots = new Set<string>();
      for (const e of interrupted) for (const id of idsOf(e)) roots.add(ws.rootOf(id) ?? id);
      const named = itemsNamedBy([...roots].flatMap((root) => ws.viewOf(root)?.events ?? []));
      if (named.size > 0) await rebuildAndApply(this.store, this.ingestor, ws, named, { exhaustive: true });
    }
    if (recheck !== undefined) {
      // every item a person who may have uncounted mentions named, from all of its counted mentions
      const named = itemsNamedBy(recheck === 'all' ? ws.findEvents(namesItems) : ws.eventsOfPeopleWhoOptedOut());
      if (named.size > 0) {
        this.logger.info({ workspace: ws.id, items: named.size, recheck }, 'rebuilding catalog items named by people who opted out');
        await rebuildAndApply(this.store, this.ingestor, ws, named, { exhaustive: true });
      }
      await this.store.commit(ws.id, [{ table: 'meta', key: CATALOG_RECHECK }]);
    }
    if (carrying.size > 0 || interrupted.length > 0) this.logger.info({ workspace: ws.id, rebuilt: carrying.size, interrupted: interrupted.length }, 'catalog items checked against consent');
  }

  private closed = false;
  /** per workspace, items whose rebuild failed, and the timer that rebuilds them again */
  private readonly catalogRetry = new Map<Workspace, { items: Set<string>; counted: EventSummary[]; timer: NodeJS.Timeout }>();

  /**
   * Rebuilds the event-made items whose counted mentions changed (see Workspace.takeCatalogFlips);
   * the batch that changed them is acknowledged once the rebuild is durable. The judgement is taken
   * before the rebuild runs: should it fail, its items are rebuilt again a moment later, on their
   * own (a client's retry of the failed batch is a repeat, which applies nothing), until it works.
   */
  reconcileCatalog(ws: Workspace): Promise<void> | undefined {
    const flips = ws.takeCatalogFlips();
    if (flips === undefined) return undefined;
    return this.rebuildCatalog(ws, itemsNamedBy([...flips.counted, ...flips.uncounted]), flips.counted);
  }

  /** `attempt`: how many tries of these items failed in a row (the wait doubles with each, up to a minute) */
  private rebuildCatalog(ws: Workspace, items: Set<string>, counted: EventSummary[], attempt = 0): Promise<void> {
    return rebuildAndApply(this.store, this.ingestor, ws, items, { counted }).catch((err: unknown) => {
      // a rebuild under way when the engine closed fails on the closed store: the next start's
      // checks (the batch's deriving marks) make good what it did not finish
      if (this.closed) throw err;
      const held = this.catalogRetry.get(ws);
      if (held) {
        for (const id of items) held.items.add(id);
        for (const e of counted) held.counted.push(e);
      } else {
        const timer = setTimeout(() => {
          const retry = this.catalogRetry.get(ws)!;
          this.catalogRetry.delete(ws);
          this.rebuildCatalog(ws, retry.items, retry.counted, attempt + 1).catch((e: unknown) => this.logger.error({ err: e, workspace: ws.id, attempt: attempt + 1 }, 'catalog rebuild failed; trying again'));
        }, Math.min(CATALOG_RETRY_MAX_MS, CATALOG_RETRY_MS * 2 ** attempt));
        timer.unref();
        this.catalogRetry.set(ws, { items: new Set(items), counted: [...counted], timer });
      }
      throw err;
    });
  }

  /**
   * A crash between an event commit and the commit of what extensions derive from those events
   * (conversions, rewards, feedback, firings) leaves the events stored and acknowledged to nobody;
   * the client's retry is then a repeat. So the events of the marked segments go through the
   * extensions again, which skip what they already hold, and the marks are removed.
   */
  private async rederive(ws: Workspace, segments: ReadonlySet<string>, events: readonly StoredEvent[]): Promise<void> {
    if (events.length > 0) await Promise.all(ws.notifyApplied(events));
    await this.store.commit(ws.id, [...segments].map((seg) => ({ table: 'meta' as const, key: DERIVING_PREFIX + seg })));
    this.logger.info({ workspace: ws.id, segments: segments.size, events: events.length }, 'derived records of an interrupted commit made again');
  }

  private async createWorkspaceRecord(id: string, name: string): Promise<Workspace> {
    const rec: WorkspaceRecord = { id, name, createdAt: new Date().toISOString() };
    await this.store.commit(INSTANCE, [{ table: 'workspaces', key: id, value: rec }]);
    return this.loadWorkspace(rec);
  }

  /**
   * The default workspace's write and admin keys: from the environment, else generated once, by the
   * first `serve` (which prints them): a command that cannot show a secret (import, keys) never makes
   * one.
   */
  private async ensurePrimaryKeys(): Promise<void> {
    const ws = this.workspaces.get(DEFAULT_WORKSPACE)!;
    const want = [
      { id: PRIMARY_WRITE, kind: 'write' as const, scopes: [] as Scope[], secret: this.config.writeKey, slot: 'writeKey' as const, prefix: 'wk' as const },
      { id: PRIMARY_ADMIN, kind: 'api' as const, scopes: ['read', 'write', 'admin'] as Scope[], secret: this.config.adminKey, slot: 'adminKey' as const, prefix: 'ak' as const },
    ];
    for (const w of want) {
      const existing = await this.store.get<KeyRecord>(ws.id, 'keys', w.id);
      if (existing && (w.secret === undefined || existing.hash === hashSecret(w.secret))) continue;
      if (w.secret === undefined && this.serving !== true) continue;
      const secret = w.secret ?? newSecret(w.prefix);
      if (w.secret === undefined) this.generatedSecrets[w.slot] = secret;
      if (existing) this.keysByHash.delete(existing.hash);
      await this.putKey(ws, { id: w.id, hash: hashSecret(secret), kind: w.kind, scopes: w.scopes, name: w.id, createdAt: new Date().toISOString() });
    }
  }

  private async putKey(ws: Workspace, key: KeyRecord): Promise<void> {
    await this.store.commit(ws.id, [{ table: 'keys', key: key.id, value: key }]);
    this.keysByHash.set(key.hash, { ws, key });
  }

  private lookup(secret: string): Principal | undefined {
    const hash = hashSecret(secret);
    const p = this.keysByHash.get(hash);
    return p && sameHash(p.key.hash, hash) ? p : undefined;
  }

  private throttle(p: Principal): void {
    const wait = this.limiter.take(`${p.ws.id}\u0000${p.key.id}`);
    if (wait === undefined) return;
    const e = new KairosError('KAIROS_ERR_RATE_LIMITED', `rate limit of this key exceeded; retry in ${wait}s`);
    e.retryAfter = wait;
    throw e;
  }

  /** whether a write key exists, without counting a request against its rate limit */
  isWriteKey(secret: string): boolean {
    return this.lookup(secret)?.key.kind === 'write';
  }

  /** the workspace a write key belongs to (counts the request against the key's rate limit) */
  authenticateWriteKey(secret: string): Workspace | undefined {
    const p = this.lookup(secret);
    if (p?.key.kind !== 'write') return undefined;
    this.throttle(p);
    return p.ws;
  }

  /** an API key with the needed scope; throws 401/403 as the contract says */
  authorize(secret: string | undefined, needed: Scope): Principal {
    const p = secret ? this.lookup(secret) : undefined;
    if (!p || p.key.kind !== 'api') throw new KairosError('KAIROS_ERR_AUTH', 'a valid API key is required (Authorization: Bearer <key>)');
    if (!grants(p.key.scopes, needed)) throw new KairosError('KAIROS_ERR_FORBIDDEN', `this key lacks the "${needed}" scope`);
    this.throttle(p);
    return p;
  }

  ingest(ws: Workspace, req: IngestRequest): Promise<IngestResult> {
    return this.ingestor.ingest(ws, req);
  }

  // --- catalog -------------------------------------------------------------------------------

  /** `field`: where the request holds the i-th item's id, for error details */
  async upsertItems(ws: Workspace, items: ReadonlyArray<{ itemId: string; properties: Record<string, unknown> }>, field: (index: number) => string = () => '/itemId'): Promise<void> {
    const problems = itemIdDetails(items.map(({ itemId }, index) => ({ index, field: field(index), itemId })));
    if (problems.length) throw new KairosError('KAIROS_ERR_VALIDATION', 'invalid item id', problems);
    const now = Date.now();
    const records = items.map(({ itemId, properties }) => {
      const prev = ws.catalog.get(itemId);
      return { itemId, rec: { itemId, properties, firstSeen: prev?.createdAt ?? now, source: 'api' } satisfies ItemRecord };
    });
    await this.writeItems(ws, records, () => {
      for (const { itemId, rec } of records) ws.catalog.upsert(itemId, rec.properties, rec.firstSeen, rec);
    });
  }

  /** Deletes an item for good: a marker stays (in the store and the catalog) so events cannot make it again. */
  async deleteItem(ws: Workspace, itemId: string): Promise<boolean> {
    if (!ws.catalog.has(itemId)) return false;
    const at = Date.now();
    const marker: ItemRecord = { itemId, properties: {}, firstSeen: at, source: 'api', deleted: true };
    await this.writeItems(ws, [{ itemId, rec: marker }], () => ws.catalog.markDeleted(itemId, at));
    return true;
  }

  /**
   * Commits item records an API request writes, then `apply` puts them in the catalog. The items are
   * held meanwhile (Ingestor.lockItems): event batches merge mentions of them only afterwards, so
   * none builds on an older record and commits after them.
   */
  private async writeItems(ws: Workspace, records: ReadonlyArray<{ itemId: string; rec: ItemRecord }>, apply: () => void): Promise<void> {
    const release = await this.ingestor.lockItems(ws, records.map((r) => r.itemId));
    try {
      await this.store.commit(ws.id, records.map(({ itemId, rec }) => ({ table: 'items', key: itemStoreKey(itemId), value: rec })));
      apply();
    } finally {
      release();
    }
  }

  // --- keys and workspaces ---------------------------------------------------------------------

  /** a new API key with `scopes`, or (kind `write`) a new write key: another workspace's way to rotate a leaked one */
  async createKey(ws: Workspace, scopes: Scope[], name?: string, kind: KeyRecord['kind'] = 'api'): Promise<{ record: KeyRecord; secret: string }> {
    const secret = newSecret(kind === 'write' ? 'wk' : 'ak');
    const record: KeyRecord = { id: newKeyId(), hash: hashSecret(secret), kind, scopes: kind === 'write' ? [] : scopes, ...(name !== undefined ? { name } : {}), createdAt: new Date().toISOString() };
    await this.putKey(ws, record);
    return { record, secret };
  }

  listKeys(ws: Workspace): ReturnType<typeof publicKey>[] {
    return [...this.keysByHash.values()].filter((p) => p.ws === ws).map((p) => publicKey(p.key)).sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1));
  }

  async revokeKey(ws: Workspace, id: string): Promise<boolean> {
    const p = [...this.keysByHash.values()].find((x) => x.ws === ws && x.key.id === id);
    if (!p) return false;
    await this.store.commit(ws.id, [{ table: 'keys', key: id }]);
    this.keysByHash.delete(p.key.hash);
    return true;
  }

  async createWorkspace(name: string): Promise<{ id: string; name: string; writeKey: string; adminKey: string }> {
    const id = `ws_${newKeyId().slice(4)}`;
    const ws = await this.createWorkspaceRecord(id, name);
    const writeKey = newSecret('wk');
    const adminKey = newSecret('ak');
    const now = new Date().toISOString();
    await this.putKey(ws, { id: PRIMARY_WRITE, hash: hashSecret(writeKey), kind: 'write', scopes: [], name: PRIMARY_WRITE, createdAt: now });
    await this.putKey(ws, { id: PRIMARY_ADMIN, hash: hashSecret(adminKey), kind: 'api', scopes: ['read', 'write', 'admin'], name: PRIMARY_ADMIN, createdAt: now });
    return { id, name, writeKey, adminKey };
  }

  /** instance administration (creating workspaces) belongs to admin keys of the default workspace */
  isInstanceAdmin(p: Principal): boolean {
    return p.ws.id === DEFAULT_WORKSPACE && grants(p.key.scopes, 'admin');
  }

  // --- compaction ------------------------------------------------------------------------------

  private compactTimer: NodeJS.Timeout | undefined;

  /**
   * After an erasure: compact within the configured interval, so deleted bytes leave the disk. The
   * need is recorded durably, so a restart before the timer fires still compacts.
   */
  async scheduleCompaction(): Promise<void> {
    await this.store.commit(INSTANCE, [{ table: 'meta', key: COMPACTION_DUE, value: new Date().toISOString() }]);
    this.armCompaction();
  }

  private armCompaction(): void {
    if (this.config.autoCompactSeconds === 0 || this.compactTimer) return;
    this.compactTimer = setTimeout(() => {
      this.compactTimer = undefined;
      this.compact().catch((err: unknown) => this.logger.error({ err }, 'automatic compaction failed'));
    }, this.config.autoCompactSeconds * 1000);
    this.compactTimer.unref();
  }

  async compact(): Promise<void> {
    this.logger.info(await compactStore(this.store), 'store compacted');
  }

  async close(): Promise<void> {
    clearTimeout(this.compactTimer);
    this.closed = true;
    for (const { timer } of this.catalogRetry.values()) clearTimeout(timer);
    this.catalogRetry.clear();
    for (const ext of this.extensions) await ext.close?.();
    // the marks of segments whose derived records are durable would otherwise wait for a next batch
    for (const [ws, marks] of this.ingestor.derivedMarks()) await this.store.commit(ws, marks);
    await this.store.close();
  }
}
