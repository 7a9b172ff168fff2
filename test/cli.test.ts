/**
 * The command line (CONTRACT §1): `kairos import` of NDJSON and of CSV with a column mapping into a
 * data dir, safe to rerun; invalid lines reported by number; `compact`; `keys create|list|revoke`.
 * Each command runs as its own process (`node bin/kairos.mjs …`), then a server on the same data
 * dir shows the result.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { youngGenerationConfigured } from '../src/cli/serve.ts';
import { KAIROS_NODE_FLAGS, ROOT, api, runKairos, type CliRun, startChild, testResources, type TestServer } from './helpers/server.ts';


/** `kairos ARGS` in a child process on `dataDir` */
function kairos(dataDir: string, args: string[]): Promise<CliRun> {
  return runKairos(args, { KAIROS_DATA_DIR: dataDir });
}

/** the last line of stdout that is a JSON object */
const summary = (run: CliRun): any => JSON.parse(run.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop()!);

const resources = testResources({ prefix: 'kairos-cli-' });
const workDir = (): string => resources.dataDir();
const serverOn = (dataDir: string): Promise<TestServer> => resources.server(dataDir);

const NDJSON = [
  { type: 'page', anonymousId: 'cli-anon', name: 'Home', timestamp: '2024-03-01T10:00:00.000Z' },
  { type: 'track', anonymousId: 'cli-anon', event: 'Product Viewed', properties: { product_id: 'cli-p1', name: 'Lamp', category: 'Home > Lighting' }, timestamp: '2024-03-01T10:01:00.000Z' },
  { type: 'identify', anonymousId: 'cli-anon', userId: 'cli-u1', traits: { plan: 'pro' }, timestamp: '2024-03-01T10:02:00.000Z' },
  { type: 'track', userId: 'cli-u1', event: 'Order Completed', properties: { products: [{ product_id: 'cli-p1', price: 40, quantity: 1 }] }, timestamp: '2024-03-01T10:03:00.000Z' },
  { type: 'alias', previousId: 'cli-u1', userId: 'cli-u1-new', timestamp: '2024-03-01T10:04:00.000Z' },
  { type: 'track', userId: 'cli-u2', event: 'Product Added', properties: { product_id: 'cli-p2', price: 5 }, timestamp: '2024-03-01T11:00:00.000Z', messageId: 'cli-given-id' },
];
const ndjson = (events: unknown[]): string => events.map((e) => JSON.stringify(e)).join('\n') + '\n';

describe('launch', () => {
  it('`npm start` runs node with the Node flags of the `kairos` executable, which runs through its shebang', () => {
    expect(KAIROS_NODE_FLAGS).toContain('--max-semi-space-size=64');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
    expect(pkg.scripts.start).toBe(['node', ...KAIROS_NODE_FLAGS, 'bin/kairos.mjs', 'serve'].join(' '));
    // as npx runs it: the file itself, so the kernel reads the shebang (env -S splits the flags)
    expect(execFileSync(join(ROOT, 'bin', 'kairos.mjs'), ['--help'], { encoding: 'utf8' })).toMatch(/^usage: kairos <command>/);
  });

  it('a server started without a young-generation size says how to start it; started as npm start does, it does not', async () => {
    const bare = await startChild(workDir(), { NODE_OPTIONS: '' }, []);
    const flagged = await startChild(workDir(), { NODE_OPTIONS: '' });
    try {
      expect(bare.output()).toMatch(/default 16 MB young generation.*--max-semi-space-size=64/);
      expect(flagged.output()).not.toMatch(/young generation/);
    } finally {
      await bare.stop();
      await flagged.stop();
    }
  });

  it('recognises the flag on the command line and in NODE_OPTIONS, in either spelling', () => {
    expect(youngGenerationConfigured(['--max-semi-space-size=64'], undefined)).toBe(true);
    expect(youngGenerationConfigured(['--max_semi_space_size=32'], '')).toBe(true);
    expect(youngGenerationConfigured([], '--enable-source-maps --max-semi-space-size=128')).toBe(true);
    expect(youngGenerationConfigured(['--max-old-space-size=4096'], '--enable-source-maps')).toBe(false);
    expect(youngGenerationConfigured([], undefined)).toBe(false);
  });
});

describe('kairos import', () => {
  it('loads NDJSON into the data dir; a server on it shows the profiles; a rerun stores nothing new; compact keeps it all', async () => {
    const dataDir = workDir();
    const file = join(dataDir, 'events.ndjson');
    // a blank line and CRLF line ends are fine
    writeFileSync(file, ndjson(NDJSON).replace('\n', '\r\n\n'));
    const run = await kairos(dataDir, ['import', file]);
    expect(run.code, run.stderr).toBe(0);
    expect(summary(run)).toMatchObject({ read: 6, stored: 6, duplicates: 0, invalid: 0 });

    let server = await serverOn(dataDir);
    const p = (await api(server.url, 'GET', '/v1/profiles/cli-anon')).json;
    expect(p.eventCount).toBe(5);
    expect(p.traits).toEqual({ plan: 'pro' });
    expect(p.features.counts).toMatchObject({ view: 1, purchase: 1 });
    expect((await api(server.url, 'GET', '/v1/profiles/cli-u1-new')).json.eventCount).toBe(5);
    expect((await api(server.url, 'GET', '/v1/profiles/cli-u2')).json.eventCount).toBe(1);
    expect((await api(server.url, 'GET', '/v1/items/cli-p1')).json.properties).toMatchObject({ name: 'Lamp', category: 'Home > Lighting' });
    await resources.stop(server);

    // events without a messageId get one derived from their content: a rerun recognises them all
    const again = await kairos(dataDir, ['import', file]);
    expect(again.code, again.stderr).toBe(0);
    expect(summary(again)).toMatchObject({ read: 6, stored: 0, duplicates: 6 });

    // new events among repeats in the same chunks (the parsing thread encoded them together): only the new are stored
    const more = join(dataDir, 'more.ndjson');
    const extra = [1, 2, 3].map((n) => ({ type: 'track', userId: 'cli-u2', event: 'Product Viewed', properties: { product_id: `cli-x${n}`, name: `Extra ${n}` }, timestamp: `2024-03-02T10:0${n}:00.000Z` }));
    writeFileSync(more, ndjson([...NDJSON.slice(0, 2), extra[0], ...NDJSON.slice(2), ...extra.slice(1)]));
    const mixed = await kairos(dataDir, ['import', more, '--chunk', '4']);
    expect(mixed.code, mixed.stderr).toBe(0);
    expect(summary(mixed)).toMatchObject({ read: 9, stored: 3, duplicates: 6 });

    // `kairos compact` rewrites the data dir and keeps every live record
    const compacted = await kairos(dataDir, ['compact']);
    expect(compacted.code, compacted.stderr).toBe(0);
    expect(summary(compacted)).toMatchObject({ compacted: true });

    server = await serverOn(dataDir);
    expect((await api(server.url, 'GET', '/v1/profiles/cli-anon')).json.eventCount).toBe(5);
    expect((await api(server.url, 'GET', '/v1/profiles/cli-u2')).json.eventCount).toBe(4);
    expect((await api(server.url, 'GET', '/v1/items/cli-p1')).status).toBe(200);
    expect((await api(server.url, 'GET', '/v1/items/cli-x2')).json.properties).toMatchObject({ name: 'Extra 2' });
  });

  it('loads a CSV with a column mapping, and a rerun stores nothing new', async () => {
    const dataDir = workDir();
    const file = join(dataDir, 'views.csv');
    writeFileSync(
      file,
      ['user_id,item,ts,price,"note, quoted"', 'csv-u1,csv-p1,2024-03-01T10:00:00Z,9.5,"a, b"', 'csv-u1,csv-p2,1709287260,12,', 'csv-u2,csv-p1,1709287320000,9.5,x', 'csv-u1,csv-p1,2024-03-01T10:05:00Z,9.5,'].join('\n') + '\n',
    );
    const args = ['import', file, '--map', 'userId=user_id', '--map', 'properties.product_id=item', '--map', 'timestamp=ts', '--map', 'properties.price=price', '--event', 'Product Viewed'];
    const run = await kairos(dataDir, args);
    expect(run.code, run.stderr).toBe(0);
    expect(summary(run)).toMatchObject({ read: 4, stored: 4, invalid: 0 });

    let server = await serverOn(dataDir);
    const u1 = (await api(server.url, 'GET', '/v1/profiles/csv-u1')).json;
    expect(u1.eventCount).toBe(3);
    expect(u1.features.counts.view).toBe(3);
    // epoch seconds and milliseconds are read as times
    expect(u1.features.firstSeen).toBe('2024-03-01T10:00:00.000Z');
    expect(u1.features.lastSeen).toBe('2024-03-01T10:05:00.000Z');
    expect(u1.features.recentlyViewed.map((r: any) => r.itemId)).toEqual(['csv-p1', 'csv-p2']);
    expect((await api(server.url, 'GET', '/v1/profiles/csv-u2')).json.features.firstSeen).toBe('2024-03-01T10:02:00.000Z');
    await resources.stop(server);

    const again = await kairos(dataDir, args);
    expect(again.code, again.stderr).toBe(0);
    expect(summary(again)).toMatchObject({ read: 4, stored: 0, duplicates: 4 });
    server = await serverOn(dataDir);
    expect((await api(server.url, 'GET', '/v1/profiles/csv-u1')).json.eventCount).toBe(3);
  });

  it('reads a CSV saved with a byte order mark (a spreadsheet\'s "CSV UTF-8")', async () => {
    const dataDir = workDir();
    const file = join(dataDir, 'bom.csv');
    writeFileSync(file, '\uFEFFuser_id,item,ts\nbom-u1,bom-p1,1733000000\n');
    const run = await kairos(dataDir, ['import', file, '--map', 'userId=user_id', '--map', 'properties.product_id=item', '--map', 'timestamp=ts', '--event', 'Product Viewed']);
    expect(run.code, run.stderr).toBe(0);
    expect(summary(run)).toMatchObject({ read: 1, stored: 1, invalid: 0 });
  });

  it('treats a malformed CSV record (column count, an unclosed quote) as an invalid row', async () => {
    const dataDir = workDir();
    const file = join(dataDir, 'ragged.csv');
    writeFileSync(file, 'user,item,ts\nr-u1,r-p1,1709287200\nr-u1,r-p2,1709287260,EXTRA\nr-u2,r-p3,1709287320\nr-u3,"r-p4\n');
    const args = ['import', file, '--map', 'userId=user', '--map', 'properties.product_id=item', '--map', 'timestamp=ts'];
    const strict = await kairos(dataDir, args);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain('line 3');
    const skipping = await kairos(dataDir, [...args, '--skip-invalid']);
    expect(skipping.code, skipping.stderr).toBe(0);
    expect(summary(skipping)).toMatchObject({ stored: 2, invalid: 2 });
    expect(skipping.stderr).toMatch(/line 3: Invalid Record Length/);
    expect(skipping.stderr).toMatch(/Quote Not Closed/);
    const server = await serverOn(dataDir);
    expect((await api(server.url, 'GET', '/v1/profiles/r-u1')).json.eventCount).toBe(1);
    expect((await api(server.url, 'GET', '/v1/profiles/r-u2')).json.eventCount).toBe(1);
  });

  it('reports invalid lines by number, exits 1, and stores nothing of the invalid chunk', async () => {
    const dataDir = workDir();
    const file = join(dataDir, 'bad.ndjson');
    writeFileSync(
      file,
      [
        JSON.stringify({ type: 'track', userId: 'bad-u1', event: 'Product Viewed' }),
        '{"type": "track", "userId": "bad-u1", "event": ',
        JSON.stringify({ type: 'track', userId: 'bad-u1', event: 'Product Viewed', properties: { product_id: 'p' } }),
        JSON.stringify({ type: 'track', event: 'Product Viewed' }),
        JSON.stringify({ type: 'track', userId: 'bad-u1' }),
      ].join('\n') + '\n',
    );
    const run = await kairos(dataDir, ['import', file]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/line 4: \/userId/);
    expect(run.stderr).toMatch(/line 5: \/event/);
    expect(run.stderr).not.toMatch(/line [13]:/);
    // a line that is not JSON is reported as such, not as a missing field
    expect(run.stderr).toMatch(/line 2: .*JSON/i);
    const server = await serverOn(dataDir);
    expect((await api(server.url, 'GET', '/v1/profiles/bad-u1')).status).toBe(404);
  });

  it('--skip-invalid stores the valid lines and still reports the invalid ones', async () => {
    const dataDir = workDir();
    const file = join(dataDir, 'mixed.ndjson');
    writeFileSync(file, ndjson([{ type: 'track', userId: 'skip-u1', event: 'Product Viewed' }, { type: 'track', event: 'Product Viewed' }, { type: 'identify', userId: 'skip-u1' }]));
    const run = await kairos(dataDir, ['import', file, '--skip-invalid']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/line 2:/);
    expect(summary(run)).toMatchObject({ read: 3, stored: 2, invalid: 1 });
    const server = await serverOn(dataDir);
    expect((await api(server.url, 'GET', '/v1/profiles/skip-u1')).json.eventCount).toBe(2);
  });

  it('derives message ids from content per file: two event types of the same rows both count, identical rows are distinct events, a rerun stores nothing new', async () => {
    const dataDir = workDir();
    const rows = ['user_id,product_id,date', 'ids-u1,ids-p1,2026-12-01', 'ids-u1,ids-p2,2026-12-01', 'ids-u1,ids-p1,2026-12-01'].join('\n') + '\n';
    writeFileSync(join(dataDir, 'views.csv'), rows);
    writeFileSync(join(dataDir, 'adds.csv'), rows);
    const map = ['--map', 'userId=user_id', '--map', 'properties.product_id=product_id', '--map', 'timestamp=date'];
    const views = await kairos(dataDir, ['import', join(dataDir, 'views.csv'), ...map, '--event', 'Product Viewed']);
    expect(summary(views)).toMatchObject({ read: 3, stored: 3, duplicates: 0 });
    const adds = await kairos(dataDir, ['import', join(dataDir, 'adds.csv'), ...map, '--event', 'Product Added']);
    expect(summary(adds)).toMatchObject({ read: 3, stored: 3, duplicates: 0 });
    // the same two lines twice in one NDJSON file, gzipped: two purchases, as /v1/batch would store them
    const order = { type: 'track', userId: 'ids-u2', event: 'Order Completed', properties: { products: [{ product_id: 'ids-p1', price: 10 }] }, timestamp: '2026-12-01T10:00:00Z' };
    writeFileSync(join(dataDir, 'orders.ndjson.gz'), gzipSync(ndjson([order, order])));
    expect(summary(await kairos(dataDir, ['import', join(dataDir, 'orders.ndjson.gz')]))).toMatchObject({ format: 'ndjson', read: 2, stored: 2 });
    // reruns, and the rows found again in another file (an overlapping export), are repeats
    expect(summary(await kairos(dataDir, ['import', join(dataDir, 'views.csv'), ...map, '--event', 'Product Viewed']))).toMatchObject({ stored: 0, duplicates: 3 });
    writeFileSync(join(dataDir, 'orders-again.ndjson'), ndjson([order, order, { ...order, timestamp: '2026-12-02T10:00:00Z' }]));
    expect(summary(await kairos(dataDir, ['import', join(dataDir, 'orders-again.ndjson')]))).toMatchObject({ stored: 1, duplicates: 2 });

    const server = await serverOn(dataDir);
    const u1 = (await api(server.url, 'GET', '/v1/profiles/ids-u1')).json;
    expect([u1.eventCount, u1.features.counts.view, u1.features.counts.add]).toEqual([6, 3, 3]);
    const u2 = (await api(server.url, 'GET', '/v1/profiles/ids-u2')).json;
    expect([u2.eventCount, u2.features.counts.purchase]).toEqual([3, 3]);
  });

  it('types CSV cells (numbers, booleans), builds arrays from numbered paths, reads YYYYMMDD, and reports a bad cell at its physical line', async () => {
    const dataDir = workDir();
    const file = join(dataDir, 'orders.csv');
    writeFileSync(file, ['user,sku,price,day,personalize,note', 'typed-u1,typed-p1,19.5,20261201,yes,"two', 'lines"', 'typed-u2,typed-p2,12,20261202,false,', 'typed-u3,typed-p3,cheap,20261203,true,'].join('\n') + '\n');
    const args = ['import', file, '--event', 'Order Completed', '--map', 'userId=user', '--map', 'properties.products.0.product_id=sku', '--map', 'properties.products.0.price:number=price',
      '--map', 'timestamp=day', '--map', 'context.consent.categoryPreferences.Personalization:boolean=personalize'];
    const run = await kairos(dataDir, [...args, '--skip-invalid']);
    expect(run.code, run.stderr).toBe(0);
    expect(summary(run)).toMatchObject({ read: 3, stored: 2, invalid: 1 });
    expect(run.stderr).toContain('line 5: column "price" (properties.products.0.price:number): "cheap" is not a number');
    expect((await kairos(dataDir, ['import', file, '--map', 'properties.x:date=price'])).code).toBe(2);
    expect((await kairos(dataDir, ['import', file, '--map', 'properties.__proto__.x=price'])).code).toBe(2);

    const server = await serverOn(dataDir);
    const u1 = (await api(server.url, 'GET', '/v1/profiles/typed-u1')).json;
    expect(u1.features.recentlyBought.map((r: any) => r.itemId)).toEqual(['typed-p1']);
    expect(u1.features.rfm.monetary).toBe(19.5);
    expect(u1.features.firstSeen).toBe('2026-12-01T00:00:00.000Z');
    // a false cell is an opt-out, as a JSON false over HTTP is
    const u2 = (await api(server.url, 'GET', '/v1/profiles/typed-u2')).json;
    expect(u2.consent).toMatchObject({ categoryPreferences: { Personalization: false } });
  });

  it('reads gzip by its bytes; a truncated one fails the import with the reason, and what came before it stays', async () => {
    const dataDir = workDir();
    const events = Array.from({ length: 3000 }, (_, i) => ({ type: 'track', userId: `gz-u${i % 7}`, event: 'Product Viewed', properties: { product_id: `gz-p${i}` }, messageId: `gz-${i}`, timestamp: '2026-12-01T10:00:00Z' }));
    const packed = gzipSync(ndjson(events));
    writeFileSync(join(dataDir, 'events.log'), packed);
    expect(summary(await kairos(dataDir, ['import', join(dataDir, 'events.log'), '--chunk', '1000']))).toMatchObject({ read: 3000, stored: 3000 });
    const other = workDir();
    writeFileSync(join(other, 'cut.ndjson.gz'), packed.subarray(0, packed.length - 40));
    const cut = await kairos(other, ['import', join(other, 'cut.ndjson.gz'), '--chunk', '1000']);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toMatch(/unexpected end of file/);
  });

  it('lets exactly one of several processes take a data dir whose lock was left by a dead process', async () => {
    const dataDir = workDir();
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const script = `import { lockDataDir } from ${JSON.stringify(join(ROOT, 'src/store/lock.ts'))};
      const start = Number(process.argv[1]);
      while (Date.now() < start) {}
      try { lockDataDir(process.argv[2]); console.log('locked'); setTimeout(() => {}, 400); } catch (e) { console.log(e.message.includes('in use') ? 'busy' : e.message); }`;
    for (let trial = 0; trial < 6; trial++) {
      writeFileSync(join(dataDir, 'kairos.lock'), dead.stdout);
      const start = Date.now() + 1500;
      const runs = await Promise.all(Array.from({ length: 3 }, () => new Promise<string>((resolve) => {
        execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, String(start), dataDir], { cwd: ROOT }, (_err, stdout) => resolve(stdout.trim()));
      })));
      expect(runs.sort(), `trial ${trial}`).toEqual(['busy', 'busy', 'locked']);
      rmSync(join(dataDir, 'kairos.lock'), { force: true });
    }
  });

  it('refuses to run while a server holds the data dir', async () => {
    const dataDir = workDir();
    const file = join(dataDir, 'events.ndjson');
    writeFileSync(file, ndjson(NDJSON));
    await serverOn(dataDir);
    const run = await kairos(dataDir, ['import', file]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/in use by process/);
  });
});

describe('kairos keys', () => {
  it('create --scopes read prints a key that a server started afterwards accepts for reading only; revoke takes it away', async () => {
    const dataDir = workDir();
    const created = await kairos(dataDir, ['keys', 'create', '--scopes', 'read', '--name', 'dashboard']);
    expect(created.code, created.stderr).toBe(0);
    const key = summary(created);
    expect(key).toMatchObject({ scopes: ['read'], name: 'dashboard' });
    expect(key.key).toEqual(expect.any(String));
    expect(key.id).toEqual(expect.any(String));

    const listed = await kairos(dataDir, ['keys', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(key.id);
    expect(listed.stdout).not.toContain(key.key);

    let server = await serverOn(dataDir);
    const read = await api(server.url, 'GET', '/v1/profiles/nobody', undefined, key.key);
    expect(read.status).toBe(404);
    const write = await api(server.url, 'PUT', '/v1/items/x', { properties: {} }, key.key);
    expect(write.status).toBe(403);
    expect(write.json.error.code).toBe('KAIROS_ERR_FORBIDDEN');
    await resources.stop(server);

    const revoked = await kairos(dataDir, ['keys', 'revoke', key.id]);
    expect(revoked.code, revoked.stderr).toBe(0);
    server = await serverOn(dataDir);
    const after = await api(server.url, 'GET', '/v1/profiles/nobody', undefined, key.key);
    expect(after.status).toBe(401);
    expect(after.json.error.code).toBe('KAIROS_ERR_AUTH');
  });

  it('create with an unknown scope is refused', async () => {
    const run = await kairos(workDir(), ['keys', 'create', '--scopes', 'read,root']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/root/);
  });

  it('create refuses what POST /v1/keys refuses: a repeated scope, an empty or overlong name', async () => {
    const dataDir = workDir();
    const repeated = await kairos(dataDir, ['keys', 'create', '--scopes', 'read,read']);
    expect(repeated.code).toBe(2);
    expect(repeated.stderr).toMatch(/repeated: read/);
    for (const name of ['', 'n'.repeat(201)]) expect((await kairos(dataDir, ['keys', 'create', '--scopes', 'read', '--name', name])).code).toBe(2);
    expect((await kairos(dataDir, ['keys', 'list'])).stdout.trim()).toBe('');
  });
});

describe('keys on a fresh data dir', () => {
  it('are made by the first serve, which prints them, not by a command that cannot show them', async () => {
    const dataDir = workDir();
    const file = join(dataDir, 'one.ndjson');
    writeFileSync(file, ndjson([{ type: 'track', userId: 'k-u1', event: 'Product Viewed', properties: { product_id: 'k-p1' }, messageId: 'k-1' }]));
    const imported = await runKairos(['import', file], { KAIROS_DATA_DIR: dataDir });
    expect(imported.code, imported.stderr).toBe(0);
    const listed = await runKairos(['keys', 'list'], { KAIROS_DATA_DIR: dataDir });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).not.toContain('primary-write');
    const child = await startChild(dataDir, { KAIROS_WRITE_KEY: '', KAIROS_ADMIN_KEY: '' });
    try {
      const writeKey = /write key of the default workspace \(shown once\): (\S+)/.exec(child.output())?.[1];
      const adminKey = /admin API key \(shown once\): (\S+)/.exec(child.output())?.[1];
      expect(writeKey).toBeDefined();
      expect((await api(child.url, 'GET', '/v1/profiles/k-u1', undefined, adminKey)).json.eventCount).toBe(1);
    } finally {
      await child.stop();
    }
  });
});
