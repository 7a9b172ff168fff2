/** `kairos keys create|list|revoke`: API keys of the default workspace, with the server stopped. */
import { parseArgs } from 'node:util';
import { KEY_NAME_MAX, SCOPES, type Scope } from '../auth/keys.ts';
import { loadConfig } from '../config.ts';
import { DEFAULT_WORKSPACE } from '../engine/engine.ts';
import { createLogger, openEngine } from '../engine/open.ts';

const USAGE = `usage:
  kairos keys create --scopes read[,write,admin,aggregates] [--name NAME]
  kairos keys list
  kairos keys revoke KEY_ID`;

export async function keysCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { scopes: { type: 'string' }, name: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [sub, id] = positionals;
  if (values.help || !sub) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const config = loadConfig();
  const opened = await openEngine(config, createLogger({ ...config, logLevel: 'warn' }), [], false);
  try {
    const { engine } = opened;
    const ws = engine.workspaces.get(DEFAULT_WORKSPACE)!;
    switch (sub) {
      case 'create': {
        const scopes = (values.scopes ?? '').split(',').map((s) => s.trim()).filter(Boolean);
        const bad = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
        const repeated = scopes.filter((s, i) => scopes.indexOf(s) !== i);
        if (scopes.length === 0 || bad.length || repeated.length) {
          console.error(`--scopes must list some of ${SCOPES.join(', ')}, each once${bad.length ? ` (unknown: ${bad.join(', ')})` : ''}${repeated.length ? ` (repeated: ${[...new Set(repeated)].join(', ')})` : ''}`);
          return 2;
        }
        // the limits of POST /v1/keys
        if (values.name !== undefined && (values.name.length === 0 || values.name.length > KEY_NAME_MAX)) {
          console.error(`--name must be 1–${KEY_NAME_MAX} characters`);
          return 2;
        }
        const { record, secret } = await engine.createKey(ws, scopes as Scope[], values.name);
        console.log(JSON.stringify({ id: record.id, key: secret, scopes: record.scopes, name: record.name ?? null }));
        return 0;
      }
      case 'list':
        for (const k of engine.listKeys(ws)) console.log(JSON.stringify(k));
        return 0;
      case 'revoke':
        if (!id) {
          console.error(USAGE);
          return 2;
        }
        if (!(await engine.revokeKey(ws, id))) {
          console.error(`no key "${id}"`);
          return 1;
        }
        console.log(JSON.stringify({ revoked: true, id }));
        return 0;
      default:
        console.error(USAGE);
        return 2;
    }
  } finally {
    await opened.close();
  }
}
