/** `kairos keys create|list|revoke`: API and write keys of a workspace, with the server stopped. */
import { parseArgs } from 'node:util';
import { KEY_NAME_MAX, SCOPES, type Scope } from '../auth/keys.ts';
import { loadConfig } from '../config.ts';
import { DEFAULT_WORKSPACE } from '../engine/engine.ts';
import { createLogger, openEngine } from '../engine/open.ts';

const USAGE = `usage:
  kairos keys create --scopes read[,write,admin,aggregates] [--name NAME] [--workspace ID]
  kairos keys create --kind write [--name NAME] [--workspace ID]      (a write key, for ingestion)
  kairos keys list [--workspace ID]
  kairos keys revoke KEY_ID [--workspace ID]

--workspace defaults to "default": the way back into a workspace whose admin keys were all revoked.`;

export async function keysCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { scopes: { type: 'string' }, name: { type: 'string' }, kind: { type: 'string' }, workspace: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
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
    const ws = engine.workspaces.get(values.workspace ?? DEFAULT_WORKSPACE);
    if (!ws) {
      console.error(`no workspace "${values.workspace}"`);
      return 2;
    }
    switch (sub) {
      case 'create': {
        const kind = values.kind ?? 'api';
        if (kind !== 'api' && kind !== 'write') {
          console.error('--kind must be api or write');
          return 2;
        }
        let scopes: string[] = [];
        if (kind === 'write') {
          if (values.scopes !== undefined) {
            console.error('a write key has no scopes: leave out --scopes');
            return 2;
          }
        } else {
          scopes = (values.scopes ?? '').split(',').map((s) => s.trim()).filter(Boolean);
          const bad = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
          const repeated = scopes.filter((s, i) => scopes.indexOf(s) !== i);
          if (scopes.length === 0 || bad.length || repeated.length) {
            console.error(`--scopes must list some of ${SCOPES.join(', ')}, each once${bad.length ? ` (unknown: ${bad.join(', ')})` : ''}${repeated.length ? ` (repeated: ${[...new Set(repeated)].join(', ')})` : ''}`);
            return 2;
          }
        }
        // the limits of POST /v1/keys
        if (values.name !== undefined && (values.name.length === 0 || values.name.length > KEY_NAME_MAX)) {
          console.error(`--name must be 1–${KEY_NAME_MAX} characters`);
          return 2;
        }
        const { record, secret } = await engine.createKey(ws, scopes as Scope[], values.name, kind);
        console.log(JSON.stringify({ id: record.id, key: secret, kind, scopes: record.scopes, name: record.name ?? null }));
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
