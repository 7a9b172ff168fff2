/**
 * Real servers for tests: in-process on port 0 (fast), or as a child process running `kairos serve`
 * exactly as `npm start` does (for crash and restart tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { capabilities } from '../../src/capabilities.ts';
import { openEngine, type OpenedEngine } from '../../src/engine/open.ts';
import { buildApp } from '../../src/server/app.ts';

export const WRITE_KEY = 'wk_test_write_key';
export const ADMIN_KEY = 'ak_test_admin_key';
export const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'kairos.mjs');

/** the Node flags of bin/kairos.mjs's shebang (`npx kairos`), which `npm start` repeats */
export const KAIROS_NODE_FLAGS: readonly string[] = (() => {
  const shebang = readFileSync(BIN, 'utf8').split('\n', 1)[0]!;
  const m = /^#!\/usr\/bin\/env(?: -S)? node((?: --?[\w-]+(?:=\S+)?)*)\s*$/.exec(shebang);
  if (!m) throw new Error(`unexpected shebang in bin/kairos.mjs: ${shebang}`);
  return m[1]!.split(' ').filter(Boolean);
})();

export const tempDir = (prefix = 'kairos-test-'): string => mkdtempSync(join(tmpdir(), prefix));

export interface TestServer {
  url: string;
  dataDir: string;
  opened: OpenedEngine;
  /** the Fastify instance, for tests that inspect the route table */
  app: FastifyInstance;
  close(): Promise<void>;
}

export async function startServer(opts: { dataDir?: string; env?: Record<string, string> } = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? tempDir();
  const config = loadConfig({ KAIROS_DATA_DIR: dataDir, KAIROS_WRITE_KEY: WRITE_KEY, KAIROS_ADMIN_KEY: ADMIN_KEY, LOG_LEVEL: 'silent', PORT: '0', ...opts.env });
  const logger = pino({ level: 'silent' });
  const caps = capabilities(config);
  const opened = await openEngine(config, logger, caps.extensions);
  const { app } = buildApp(opened.engine, logger, caps);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    dataDir,
    opened,
    app,
    async close() {
      await app.close();
      await caps.stop?.();
      await opened.close();
    },
  };
}

export interface ChildServer {
  url: string;
  dataDir: string;
  child: ChildProcess;
  output(): string;
  kill9(): Promise<void>;
  stop(): Promise<number | null>;
}

/** Runs `node FLAGS bin/kairos.mjs serve` as `npm start` would (or with other Node flags), in its own process group. */
export async function startChild(dataDir = tempDir(), env: Record<string, string> = {}, nodeFlags: readonly string[] = KAIROS_NODE_FLAGS): Promise<ChildServer> {
  const child = spawn(process.execPath, [...nodeFlags, BIN, 'serve'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', KAIROS_DATA_DIR: dataDir, KAIROS_WRITE_KEY: WRITE_KEY, KAIROS_ADMIN_KEY: ADMIN_KEY, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const url = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`server did not start: ${out}`)), 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        res(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      rej(new Error(`server exited with ${code}: ${out}`));
    });
  });
  return {
    url,
    dataDir,
    child,
    output: () => out,
    async kill9() {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
      await exited;
    },
    async stop() {
      process.kill(-child.pid!, 'SIGTERM');
      return exited;
    },
  };
}

export const removeDir = (dir: string): void => rmSync(dir, { recursive: true, force: true });

/** writes `$dataDir/kairos.config.json`, which the server reads at start */
export function writeConfig(dataDir: string, config: unknown): void {
  writeFileSync(join(dataDir, 'kairos.config.json'), JSON.stringify(config));
}

/**
 * What a test file starts (data dirs, in-process servers, child servers), kept so that one hook
 * closes and removes all of it: after each test, or after the file.
 */
export class TestResources {
  private readonly dirs: string[] = [];
  private readonly servers: TestServer[] = [];
  private readonly children: ChildServer[] = [];

  constructor(private readonly prefix = 'kairos-test-') {}

  /** a new temporary data dir, removed with the rest; `config` becomes its kairos.config.json */
  dataDir(config?: unknown): string {
    const d = tempDir(this.prefix);
    this.dirs.push(d);
    if (config !== undefined) writeConfig(d, config);
    return d;
  }

  /** an in-process server on port 0 over `dataDir` (a new one by default) */
  async server(dataDir = this.dataDir(), env: Record<string, string> = {}): Promise<TestServer> {
    const s = await startServer({ dataDir, env });
    this.servers.push(s);
    return s;
  }

  /** closes `s` now; its data dir stays for the next server */
  async stop(s: TestServer): Promise<void> {
    const at = this.servers.indexOf(s);
    if (at >= 0) this.servers.splice(at, 1);
    await s.close();
  }

  /** closes `s` and starts another server over its data dir */
  async restart(s: TestServer, env: Record<string, string> = {}): Promise<TestServer> {
    await this.stop(s);
    return this.server(s.dataDir, env);
  }

  /** `kairos serve` as a child process (see `startChild`) over `dataDir` (a new one by default) */
  async child(dataDir = this.dataDir(), env: Record<string, string> = {}, nodeFlags?: readonly string[]): Promise<ChildServer> {
    const c = await startChild(dataDir, env, nodeFlags);
    this.children.push(c);
    return c;
  }

  /** kills the children, closes the servers, removes the data dirs */
  async release(): Promise<void> {
    for (const c of this.children.splice(0)) await c.kill9();
    for (const s of this.servers.splice(0)) await s.close().catch(() => undefined);
    for (const d of this.dirs.splice(0)) removeDir(d);
  }
}

/** resources released after every test (`each`, the default) or once the file is done (`all`) */
export function testResources(opts: { prefix?: string; release?: 'each' | 'all' } = {}): TestResources {
  const r = new TestResources(opts.prefix);
  (opts.release === 'all' ? afterAll : afterEach)(() => r.release());
  return r;
}

export interface FileServer extends TestServer {
  /** closes the server and starts another over the same data dir, in place */
  restart(): Promise<void>;
}

/** one server for a whole test file: started before its first test, closed and removed after its last */
export function fileServer(env: Record<string, string> = {}): FileServer {
  const resources = new TestResources();
  let current: TestServer | undefined;
  const server = {
    async restart() {
      current = await resources.restart(current!, env);
      Object.assign(server, current);
    },
  } as FileServer;
  beforeAll(async () => {
    current = await resources.server(undefined, env);
    Object.assign(server, current);
  });
  afterAll(() => resources.release());
  return server;
}

const basic = 'Basic ' + Buffer.from(`${WRITE_KEY}:`).toString('base64');

export interface Answer {
  status: number;
  /** the parsed body, null when it is not JSON */
  json: any;
  text: string;
}

/** one HTTP request with a raw body (bytes or text, sent as given) */
export async function send(url: string, method: string, path: string, body: string | Uint8Array | undefined, headers: Record<string, string>): Promise<Answer> {
  const r = await fetch(url + path, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await r.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: r.status, json, text };
}

export async function track(url: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return send(url, 'POST', path, JSON.stringify(body), { 'content-type': 'application/json', authorization: basic, ...headers });
}

export async function api(url: string, method: string, path: string, body?: unknown, key = ADMIN_KEY): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return send(url, method, path, body === undefined ? undefined : JSON.stringify(body), headers);
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `kairos ARGS` as its own process, as `npx kairos` runs it, with a minimal environment (no keys, so
 * commands must not need them) plus `env`; resolves with the exit code and both streams.
 */
export function runKairos(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...KAIROS_NODE_FLAGS, BIN, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
